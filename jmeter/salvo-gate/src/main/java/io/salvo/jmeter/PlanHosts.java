package io.salvo.jmeter;

import java.net.InetAddress;
import java.util.Collection;
import java.util.LinkedHashSet;
import java.util.Properties;
import java.util.Set;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

import org.apache.jmeter.testelement.TestElement;
import org.apache.jorphan.collections.HashTree;
import org.apache.jorphan.collections.HashTreeTraverser;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The host names a plan's HTTP elements (samplers, HTTP Request Defaults) name, looked up before start_at so that
 * the first requests find them in the JVM's address cache (kept 30 s) instead of waiting for a resolver (Docker's
 * takes tens of milliseconds on a busy machine) after start_at.
 *
 * A name written as a property, {@code ${__P(target.host,default)}} or {@code ${__property(name,,default)}} (how a
 * DLT or Taurus plan is pointed at its target), is read from JMeter's properties; anything else with {@code ${} is
 * left alone: evaluating other functions here could have effects (a counter, a CSV row).
 */
final class PlanHosts {

    static final String DOMAIN = "HTTPSampler.domain";
    private static final Logger log = LoggerFactory.getLogger(PlanHosts.class);
    private static final Pattern PROPERTY = Pattern.compile(
            "\\$\\{__(P|property)\\(\\s*([^,()}]+?)\\s*(?:,([^,()}]*)(?:,([^()}]*))?)?\\)}");

    private PlanHosts() {
    }

    /** The plan's host names, properties read; those still unknown before the run are left out. */
    static Set<String> of(HashTree plan, Properties properties) {
        Set<String> hosts = new LinkedHashSet<>();
        plan.traverse(new HashTreeTraverser() {
            @Override
            public void addNode(Object node, HashTree subTree) {
                if (node instanceof TestElement) {
                    String host = resolveProperties(((TestElement) node).getPropertyAsString(DOMAIN), properties);
                    if (host != null && !host.isBlank()) {
                        hosts.add(host.strip());
                    }
                }
            }

            @Override
            public void subtractNode() {
            }

            @Override
            public void processPath() {
            }
        });
        return hosts;
    }

    /** {@code raw} with its property references read; null when other expressions remain (known only later). */
    static String resolveProperties(String raw, Properties properties) {
        if (raw == null) {
            return null;
        }
        Matcher matcher = PROPERTY.matcher(raw);
        StringBuilder resolved = new StringBuilder();
        while (matcher.find()) {
            String name = matcher.group(2);
            String fallback = "P".equals(matcher.group(1)) ? matcher.group(3) : matcher.group(4);
            String value = properties.getProperty(name, fallback == null ? "1" : fallback);  // __P's own default
            if ("property".equals(matcher.group(1)) && fallback == null && !properties.containsKey(name)) {
                return null;  // __property's default is the expression itself: no host
            }
            matcher.appendReplacement(resolved, Matcher.quoteReplacement(value));
        }
        matcher.appendTail(resolved);
        String host = resolved.toString();
        return host.contains("${") ? null : host;
    }

    /** Looks the hosts up in a daemon thread; returns at once. */
    static void resolveSoon(Collection<String> hosts) {
        if (hosts.isEmpty()) {
            return;
        }
        Thread resolving = new Thread(() -> hosts.forEach(PlanHosts::resolve), "salvo-gate-resolve");
        resolving.setDaemon(true);
        resolving.start();
    }

    private static void resolve(String host) {
        try {
            InetAddress.getAllByName(host);
        } catch (Exception e) {
            log.debug("Salvo start gate: {} does not resolve yet: {}", host, e.toString());
        }
    }
}
