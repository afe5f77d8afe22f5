package io.salvo.jmeter;

import java.util.Collection;
import java.util.List;

import org.apache.jmeter.engine.util.CompoundVariable;
import org.apache.jmeter.functions.AbstractFunction;
import org.apache.jmeter.samplers.SampleResult;
import org.apache.jmeter.samplers.Sampler;

/**
 * Installs the start gate in time. JMeter's jsr223.init.file cannot: in non-GUI mode JMeter starts the engine
 * (JMeter.startNonGui) before it runs the init scripts (startOptionalServers), so a gate registered from there
 * races the thread groups. Functions, however, are loaded (META-INF/services) by CompoundVariable's class
 * initialisation, which the engine thread's PreCompiler triggers just before it collects the listeners registered
 * with {@code StandardJMeterEngine.register} (the hook JMeter keeps for the function parser) and starts the test.
 * As a function, {@code ${__salvoGate()}} is empty.
 */
public final class GateInstaller extends AbstractFunction {

    public GateInstaller() {
        StartGate.install();
    }

    @Override
    public String execute(SampleResult previousResult, Sampler currentSampler) {
        return "";
    }

    @Override
    public void setParameters(Collection<CompoundVariable> parameters) {
        // takes none
    }

    @Override
    public String getReferenceKey() {
        return "__salvoGate";
    }

    @Override
    public List<String> getArgumentDesc() {
        return List.of();
    }
}
