package io.salvo.jmeter;

import java.lang.reflect.Field;
import java.util.Set;

import org.apache.jmeter.engine.StandardJMeterEngine;
import org.apache.jmeter.threads.AbstractThreadGroup;
import org.apache.jmeter.threads.ThreadGroup;
import org.apache.jmeter.util.JMeterUtils;
import org.apache.jorphan.collections.HashTree;
import org.apache.jorphan.collections.SearchByClass;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Lets the engine start the thread groups before start_at while every thread's first sample waits for it.
 *
 * The gate runs in the engine's testStarted, before the groups start: a {@link StartTimer} is added to each
 * group of the plan the engine is about to run (JMeter 5.6's StandardJMeterEngine.test, by reflection), and a
 * scheduled group's duration is lengthened by the head start, so the load still lasts as long after start_at.
 * Thread creation and the first steps of each thread then happen before start_at, not after it.
 * When the plan cannot be reached, nothing is changed and the gate releases the engine at start_at itself.
 */
final class ThreadHold {

    private static final Logger log = LoggerFactory.getLogger(ThreadHold.class);
    private static volatile Set<String> hosts = Set.of();
    private static volatile boolean paceByArrivals;
    private static volatile long longestSeconds;

    private ThreadHold() {
    }

    /** An open-model run: each group's iterations are also paced by arrivals ({@link ArrivalTimer}). */
    static void paceByArrivals(boolean pace) {
        paceByArrivals = pace;
    }

    /** The longest scheduled group's duration in seconds, from start_at (0: none is scheduled); after install. */
    static long longestSeconds() {
        return longestSeconds;
    }

    /** Whether every thread group of the running plan now holds its threads until start_at. */
    static boolean install(long headStartSeconds) {
        HashTree plan;
        try {
            Field engineField = StandardJMeterEngine.class.getDeclaredField("engine");
            engineField.setAccessible(true);
            Object engine = engineField.get(null);
            Field testField = StandardJMeterEngine.class.getDeclaredField("test");
            testField.setAccessible(true);
            plan = engine == null ? null : (HashTree) testField.get(engine);
        } catch (ReflectiveOperationException | RuntimeException e) {
            log.warn("Salvo start gate: cannot reach the plan ({}); thread groups start at start_at", e.toString());
            return false;
        }
        if (plan == null) {
            return false;
        }
        SearchByClass<AbstractThreadGroup> groups = new SearchByClass<>(AbstractThreadGroup.class);
        plan.traverse(groups);
        if (groups.getSearchResults().isEmpty()) {
            return false;
        }
        long longest = 0;
        for (AbstractThreadGroup group : groups.getSearchResults()) {
            groups.getSubTree(group).get(group).add(new StartTimer());
            if (paceByArrivals) {  // after the StartTimer: no arrival before start_at anyway
                groups.getSubTree(group).get(group).add(new ArrivalTimer());
            }
            if (group instanceof ThreadGroup && ((ThreadGroup) group).getScheduler()) {
                ThreadGroup scheduled = (ThreadGroup) group;
                if (scheduled.getDuration() > 0) {
                    longest = Math.max(longest, scheduled.getDuration());
                    scheduled.setDuration(scheduled.getDuration() + headStartSeconds);
                }
            }
        }
        longestSeconds = longest;
        log.info("Salvo start gate: {} thread group(s) start {} s early, their samples held until start_at",
                groups.getSearchResults().size(), headStartSeconds);
        hosts = PlanHosts.of(plan, JMeterUtils.getJMeterProperties());
        log.info("Salvo start gate: the plan's hosts, looked up at the head start: {}", hosts);
        return true;
    }

    /** Looks the plan's host names up (at the head start, once: the JVM keeps an address 30 s). */
    static void resolveHostsSoon() {
        PlanHosts.resolveSoon(hosts);
    }
}
