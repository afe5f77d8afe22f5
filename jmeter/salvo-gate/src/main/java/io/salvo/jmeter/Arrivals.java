package io.salvo.jmeter;

import java.io.IOException;
import java.io.Writer;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.time.Instant;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.TreeMap;

import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * This JMeter's share of an open-model run: its planned arrival times (the split of {@link RateProfile}, second by
 * second from start_at), handed out one by one to the threads that are free ({@link ArrivalTimer}), and what became
 * of them: per second of planned time, planned = sent + dropped, and each sample's latency from its intended send
 * time. Written to {@code salvo-arrivals-<pid>.jsonl} in $SALVO_SAMPLES_DIR, one JSON line per settled second, read
 * by the executor beside kpi.jtl (shared/src/salvo/executor/results/collector.py):
 * <pre>
 *   {"t": second, "arrivals": {"planned": n, "sent": n, "dropped": n}}
 *   {"t": second, "label": label, "intended": {"&lt;microseconds&gt;": count, ...}}
 * </pre>
 */
final class Arrivals {

    static final String FILE_PREFIX = "salvo-arrivals-";
    /** A second is written once this much after its end: a sample ending later goes in a further line. */
    static final double SETTLE_SECONDS = 2.0;
    /**
     * A thread that takes its arrival this late still sends it though SALVO_MAX_LATENESS is 0: the JVM's own wake-up
     * delay (a thread parked until its arrival is not "busy"), not a shortage of threads.
     */
    static final double WAKE_SLACK_SECONDS = 0.010;
    private static final Logger log = LoggerFactory.getLogger(Arrivals.class);
    private static volatile Arrivals current;

    private final OpenModel model;
    private final double startAt;
    private final Random random;
    private final Double endsAfter;
    private final double clock;  // this host's clock minus the controller's: seconds are counted in the controller's
    private final double until;  // epoch seconds: no arrival is planned from then on (the groups' end)
    private final RateProfile.Share share;
    private long second = -1;  // the second whose arrivals are being handed out, guarded by this
    private boolean over;  // the profile or the groups ended: no more arrivals
    private double[] times = new double[0];
    private int next;
    private final TreeMap<Long, long[]> book = new TreeMap<>();  // planned second -> planned, sent, dropped
    private final Map<Long, Map<String, Map<Long, Long>>> intended = new HashMap<>();
    private final Path file;

    Arrivals(OpenModel model, double startAt, double until, double clock, String runId, int index, Path file) {
        this.model = model;
        this.until = until;
        this.clock = clock;
        this.share = model.profile().share(model.position(), model.members());
        this.startAt = startAt;
        this.random = new Random(("salvo-arrivals/" + runId + "/" + index).hashCode());
        this.endsAfter = model.profile().seconds();
        this.file = file;
    }

    /** Starts handing out arrivals from start_at (the gate, once the GO is read) and writing what they became. */
    static Arrivals start(Go go, long runSeconds, String samplesDir) {
        Path file = samplesDir == null ? null : Path.of(samplesDir, FILE_PREFIX + ProcessHandle.current().pid() + ".jsonl");
        Arrivals arrivals = new Arrivals(go.open(), go.startAt(),
                runSeconds > 0 ? go.startAt() + runSeconds : Double.POSITIVE_INFINITY, go.clock(), go.runId(), go.index(), file);
        current = arrivals;
        Thread writer = new Thread(arrivals::writeSettled, "salvo-arrivals-writer");
        writer.setDaemon(true);
        writer.start();
        return arrivals;
    }

    static Arrivals current() {
        return current;
    }

    /**
     * The next arrival for a free thread at {@code now}: its planned epoch time, or NaN when the profile has no more.
     * Arrivals already later than SALVO_MAX_LATENESS (all threads were busy) are counted dropped and skipped.
     */
    synchronized double take(double now) {
        while (!over) {
            if (next >= times.length) {
                if (!nextSecond()) {
                    return Double.NaN;
                }
                continue;
            }
            double at = times[next++];
            if (at >= until) {
                over = true;
                return Double.NaN;
            }
            long[] cell = book.computeIfAbsent((long) Math.floor(at - clock), k -> new long[3]);
            cell[0]++;
            if (now - at > model.maxLateness() + WAKE_SLACK_SECONDS) {
                cell[2]++;
                continue;
            }
            cell[1]++;
            return at;
        }
        return Double.NaN;
    }

    private boolean nextSecond() {
        second++;
        if (over || endsAfter != null && second >= Math.ceil(endsAfter) || startAt + second >= until) {
            over = true;
            return false;
        }
        long count = share.next();
        double[] offsets = model.offsets(count, random);
        times = new double[offsets.length];
        for (int i = 0; i < offsets.length; i++) {
            times[i] = startAt + second + offsets[i];
        }
        next = 0;
        return true;
    }

    /** A sample of an arrival that was {@code lateness} seconds late: its latency from its intended send time. */
    synchronized void intended(long startMillis, String label, long elapsedMillis, double lateness) {
        long micros = bucket(elapsedMillis * 1000L + Math.round(Math.max(lateness, 0) * 1e6));
        intended.computeIfAbsent((long) Math.floor(startMillis / 1000.0 - clock), k -> new HashMap<>())
                .computeIfAbsent(label, k -> new HashMap<>())
                .merge(micros, 1L, Long::sum);
    }

    /** At the test's end: the arrivals whose time came and that no thread took are dropped; everything is written. */
    void end() {
        double now = GateLine.epochSeconds(Instant.now());
        synchronized (this) {
            while (!over) {
                if (next >= times.length) {
                    if (second >= 0 && startAt + second + 1 > now || !nextSecond()) {
                        break;
                    }
                    continue;
                }
                if (times[next] > now || times[next] >= until) {
                    break;
                }
                long[] cell = book.computeIfAbsent((long) Math.floor(times[next++] - clock), k -> new long[3]);
                cell[0]++;
                cell[2]++;
            }
        }
        write(Double.POSITIVE_INFINITY);
        current = null;
    }

    private void writeSettled() {
        while (current == this) {
            try {
                Thread.sleep(1000);
            } catch (InterruptedException e) {
                return;
            }
            if (current == this) {
                write(GateLine.epochSeconds(Instant.now()) - clock - SETTLE_SECONDS);
            }
        }
    }

    /** Writes (and forgets) the seconds (controller time) that ended before {@code before} (this host's time). */
    private void write(double before) {
        List<String> lines = new ArrayList<>();
        synchronized (this) {
            while (!book.isEmpty() && book.firstKey() + 1 <= before) {
                Map.Entry<Long, long[]> first = book.pollFirstEntry();
                long[] c = first.getValue();
                lines.add("{\"t\":" + first.getKey() + ",\"arrivals\":{\"planned\":" + c[0] + ",\"sent\":" + c[1]
                        + ",\"dropped\":" + c[2] + "}}");
            }
            for (var it = intended.entrySet().iterator(); it.hasNext();) {
                var entry = it.next();
                if (entry.getKey() + 1 > before) {
                    continue;
                }
                it.remove();
                for (var label : entry.getValue().entrySet()) {
                    StringBuilder line = new StringBuilder("{\"t\":").append(entry.getKey()).append(",\"label\":");
                    json(line, label.getKey()).append(",\"intended\":{");
                    String comma = "";
                    for (var bucket : label.getValue().entrySet()) {
                        line.append(comma).append('"').append(bucket.getKey()).append("\":").append(bucket.getValue());
                        comma = ",";
                    }
                    lines.add(line.append("}}").toString());
                }
            }
        }
        if (file == null || lines.isEmpty()) {
            return;
        }
        try (Writer out = Files.newBufferedWriter(file, StandardCharsets.UTF_8, StandardOpenOption.CREATE,
                StandardOpenOption.APPEND)) {
            for (String line : lines) {
                out.write(line);
                out.write('\n');
            }
        } catch (IOException e) {
            log.error("Salvo open model: cannot write {}: {}", file, e.getMessage());
        }
    }

    /** Microseconds at 3 significant digits' precision (statsfile.py's _bucket: one key per HDR bucket). */
    static long bucket(long micros) {
        micros = Math.max(micros, 1);
        int shift = 64 - Long.numberOfLeadingZeros(micros) - 11;
        return shift > 0 ? (micros >> shift) << shift : micros;
    }

    private static StringBuilder json(StringBuilder out, String text) {
        out.append('"');
        for (char c : text.toCharArray()) {
            if (c == '"' || c == '\\') {
                out.append('\\').append(c);
            } else if (c < 0x20) {
                out.append(String.format("\\u%04x", (int) c));
            } else {
                out.append(c);
            }
        }
        return out.append('"');
    }
}
