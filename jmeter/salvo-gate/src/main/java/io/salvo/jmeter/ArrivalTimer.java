package io.salvo.jmeter;

import java.time.Instant;
import java.util.concurrent.locks.LockSupport;

import org.apache.jmeter.samplers.SampleEvent;
import org.apache.jmeter.samplers.SampleListener;
import org.apache.jmeter.testelement.AbstractTestElement;
import org.apache.jmeter.threads.JMeterContext;
import org.apache.jmeter.threads.JMeterContextService;
import org.apache.jmeter.timers.Timer;

/**
 * Paces a thread group by arrivals (open model): added by {@link ThreadHold} to every group when the GO carries an
 * open model. At the first sample of each iteration of its thread, it takes the next planned arrival
 * ({@link Arrivals#take}) and holds the thread until that time, so the group's threads are a pool that iterations
 * arrive at; the iteration's later samples pass. Each sample is also timed from its intended send time: its elapsed
 * time plus how late its iteration started. JMeter clones it per thread, so its fields are the thread's own.
 */
public class ArrivalTimer extends AbstractTestElement implements Timer, SampleListener {

    private static final long serialVersionUID = 1L;
    private transient int iteration = -1;
    private transient double lateness;

    @Override
    public long delay() {
        Arrivals arrivals = Arrivals.current();
        JMeterContext context = JMeterContextService.getContext();
        if (arrivals == null || context.getVariables() == null) {
            return 0;
        }
        int now = context.getVariables().getIteration();
        if (now == iteration) {
            return 0;  // a later sample of the same iteration: it follows the first
        }
        iteration = now;
        double at = arrivals.take(GateLine.epochSeconds(Instant.now()));
        if (Double.isNaN(at)) {  // the profile ended: this thread sends nothing more
            context.getThread().stop();
            return 0;
        }
        double released = StartGate.waitUntil(at);
        lateness = Math.max(released - at, 0);
        return 0;
    }

    @Override
    public void sampleOccurred(SampleEvent event) {
        Arrivals arrivals = Arrivals.current();
        if (arrivals != null && iteration >= 0) {
            var result = event.getResult();
            arrivals.intended(result.getStartTime(), result.getSampleLabel(), result.getTime(), lateness);
        }
    }

    @Override
    public void sampleStarted(SampleEvent event) {
        // only completed samples are timed
    }

    @Override
    public void sampleStopped(SampleEvent event) {
        // only completed samples are timed
    }
}
