package io.salvo.jmeter;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;

import java.util.List;
import java.util.Properties;
import java.util.Set;

import org.apache.jmeter.config.ConfigTestElement;
import org.apache.jmeter.protocol.http.sampler.HTTPSamplerProxy;
import org.apache.jorphan.collections.HashTree;
import org.junit.jupiter.api.Test;

class PlanHostsTest {

    private final Properties props = new Properties();

    @Test
    void propertyReferencesAreReadWithTheirDefaults() {
        props.setProperty("target.host", "target");
        assertEquals("target", PlanHosts.resolveProperties("${__P(target.host,fallback)}", props));
        assertEquals("fallback", PlanHosts.resolveProperties("${__P(other.host,fallback)}", props));
        assertEquals("1", PlanHosts.resolveProperties("${__P(other.host)}", props));  // __P's own default
        assertEquals("api.target", PlanHosts.resolveProperties("api.${__P(target.host)}", props));
        assertEquals("target", PlanHosts.resolveProperties("${__property(target.host)}", props));
        assertEquals("fb", PlanHosts.resolveProperties("${__property(other,,fb)}", props));
        assertNull(PlanHosts.resolveProperties("${__property(other)}", props));
        assertEquals("plain.example", PlanHosts.resolveProperties("plain.example", props));
    }

    @Test
    void otherExpressionsAreLeftForTheRunNotEvaluated() {
        assertNull(PlanHosts.resolveProperties("${host}", props));
        assertNull(PlanHosts.resolveProperties("${__CSVRead(hosts.csv,0)}", props));
        assertNull(PlanHosts.resolveProperties("${__P(${name})}", props));
    }

    @Test
    void thePlansSamplersAndDefaultsNameTheHosts() {
        props.setProperty("target.host", "target");
        HTTPSamplerProxy sampler = new HTTPSamplerProxy();
        sampler.setDomain("${__P(target.host,x)}");
        HTTPSamplerProxy relative = new HTTPSamplerProxy();  // no domain: the defaults give it
        HTTPSamplerProxy variable = new HTTPSamplerProxy();
        variable.setDomain("${host}");
        ConfigTestElement defaults = new ConfigTestElement();
        defaults.setProperty(PlanHosts.DOMAIN, "defaults.example");
        HashTree plan = new HashTree();
        plan.add(List.of(sampler, relative, variable, defaults));
        assertEquals(Set.of("target", "defaults.example"), PlanHosts.of(plan, props));
    }
}
