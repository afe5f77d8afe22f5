package io.salvo.jmeter;

import java.util.concurrent.atomic.AtomicReference;

import org.apache.jmeter.testelement.AbstractTestElement;
import org.apache.jmeter.timers.Timer;

/**
 * Holds each thread's samples until start_at: added by {@link ThreadHold} to every thread group, so that
 * threads can be created before start_at and still send nothing before it. Past start_at it costs one
 * comparison per sample.
 */
public class StartTimer extends AbstractTestElement implements Timer {

    private static final long serialVersionUID = 1L;
    private static volatile double startAt;
    private static final AtomicReference<Double> firstRelease = new AtomicReference<>();

    static void holdUntil(double epochSeconds) {
        startAt = epochSeconds;
        firstRelease.set(null);
    }

    /** When the first held sample was let go; {@code otherwise} when none has been yet. */
    static double firstReleaseOr(double otherwise) {
        Double first = firstRelease.get();
        return first == null ? otherwise : first;
    }

    @Override
    public long delay() {
        double until = startAt;
        if (until <= 0) {
            return 0;
        }
        if (firstRelease.get() == null && GateLine.epochSeconds(java.time.Instant.now()) < until) {
            firstRelease.compareAndSet(null, StartGate.waitUntil(until));
        }
        return 0;
    }
}
