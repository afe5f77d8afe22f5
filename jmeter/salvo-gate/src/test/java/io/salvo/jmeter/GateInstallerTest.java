package io.salvo.jmeter;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.ServiceLoader;
import org.apache.jmeter.functions.Function;
import org.junit.jupiter.api.Test;

class GateInstallerTest {

    @Test
    void jmeterFindsTheInstallerAmongItsFunctions() {
        // CompoundVariable loads every Function service before the engine starts the test: that is the hook
        assertTrue(ServiceLoader.load(Function.class).stream().anyMatch(p -> p.type() == GateInstaller.class));
    }

    @Test
    void asAFunctionItIsEmpty() {
        assertEquals("", new GateInstaller().execute(null, null));
        assertEquals("__salvoGate", new GateInstaller().getReferenceKey());
    }
}
