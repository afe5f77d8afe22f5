package io.salvo.jmeter;

import java.nio.charset.StandardCharsets;
import java.time.Instant;
import java.util.HashMap;
import java.util.Locale;
import java.util.Map;
import java.util.regex.Pattern;

/**
 * The start gate's lines, as defined by shared/src/salvo/executor/tool/gate.py (keep both in step; the vectors in
 * tests/vectors/gate-lines.json are checked against both):
 * <pre>
 *   jmeter   -> executor   READY &lt;pid&gt;
 *   executor -> jmeter     GO &lt;start_at&gt; index=&lt;i&gt; size=&lt;n&gt; mode=&lt;mode&gt; [run=&lt;id&gt;] [users=&lt;u&gt;] [rate=&lt;r&gt;] [open=&lt;open model&gt;]
 *   jmeter   -> executor   RELEASED &lt;epoch seconds&gt;
 *   jmeter   -> executor   DONE &lt;epoch seconds&gt;
 * </pre>
 * Numbers are decoded more strictly than Python's int()/float() (ASCII digits, no "inf"/"nan"/underscores):
 * a line only one end accepts makes JMeter abort, never run with the wrong numbers.
 */
public final class GateLine {

    public static final int MAX_LINE_BYTES = 1024;

    private static final Pattern INTEGER = Pattern.compile("[+-]?[0-9]+");
    private static final Pattern DECIMAL = Pattern.compile("[+-]?([0-9]+\\.?[0-9]*|\\.[0-9]+)([eE][+-]?[0-9]+)?");

    private GateLine() {
    }

    public static byte[] ready(long pid) {
        return ascii("READY " + pid + "\n");
    }

    public static byte[] released(double at) {
        return ascii("RELEASED " + seconds(at) + "\n");
    }

    public static byte[] done(double at) {
        return ascii("DONE " + seconds(at) + "\n");
    }

    /** The fields of a GO line (without its newline). */
    public static Go decodeGo(String line) throws GateProtocolException {
        String excerpt = line.length() > 80 ? line.substring(0, 80) : line;
        int space = line.indexOf(' ');
        if (space < 0 || !line.substring(0, space).equals("GO") || space == line.length() - 1) {
            throw new GateProtocolException("expected 'GO <start_at> ...', got '" + excerpt + "'");
        }
        String[] parts = line.substring(space + 1).split(" ", -1);
        Map<String, String> values = new HashMap<>();
        for (int i = 1; i < parts.length; i++) {
            int eq = parts[i].indexOf('=');
            if (eq < 0 || eq == parts[i].length() - 1) {
                throw new GateProtocolException("expected name=value, got '" + parts[i] + "' in '" + excerpt + "'");
            }
            values.put(parts[i].substring(0, eq), parts[i].substring(eq + 1));
        }
        double startAt = decimal(parts[0], excerpt);
        if (!Double.isFinite(startAt) || startAt <= 0) {
            throw new GateProtocolException("not an epoch time in '" + excerpt + "'");
        }
        Go go = new Go(
                startAt,
                (int) integer(values.getOrDefault("index", "0"), excerpt, Integer.MAX_VALUE),
                (int) integer(values.getOrDefault("size", "1"), excerpt, Integer.MAX_VALUE),
                values.getOrDefault("run", ""),
                values.getOrDefault("mode", "per-executor"),
                values.containsKey("users") ? integer(values.get("users"), excerpt, Long.MAX_VALUE) : null,
                values.containsKey("rate") ? decimal(values.get("rate"), excerpt) : null,
                values.containsKey("open") ? OpenModel.decode(values.get("open")) : null,
                values.containsKey("clock") ? decimal(values.get("clock"), excerpt) : 0.0);
        if (!Go.MODES.contains(go.mode())) {
            throw new GateProtocolException("mode is none of " + String.join(", ", Go.MODES) + " in '" + excerpt + "'");
        }
        boolean rateOk = go.rate() == null || (Double.isFinite(go.rate()) && go.rate() > 0);
        if (go.index() < 0 || go.index() >= go.size() || (go.users() != null && go.users() < 0) || !rateOk
                || !Double.isFinite(go.clock())) {
            throw new GateProtocolException("values out of range in '" + excerpt + "'");
        }
        return go;
    }

    /** Epoch seconds of an instant, microsecond precision. */
    public static double epochSeconds(Instant instant) {
        return instant.getEpochSecond() + instant.getNano() / 1e9;
    }

    private static String seconds(double at) {
        if (!Double.isFinite(at) || at <= 0) {
            throw new IllegalArgumentException("not an epoch time: " + at);
        }
        return String.format(Locale.ROOT, "%.6f", at);
    }

    private static long integer(String text, String excerpt, long max) throws GateProtocolException {
        try {
            if (INTEGER.matcher(text).matches()) {
                long value = Long.parseLong(text);
                if (value <= max && value >= -max) {
                    return value;
                }
            }
        } catch (NumberFormatException tooLong) {
            // falls through to the protocol error
        }
        throw new GateProtocolException("not a whole number: '" + text + "' in '" + excerpt + "'");
    }

    private static double decimal(String text, String excerpt) throws GateProtocolException {
        if (!DECIMAL.matcher(text).matches()) {
            throw new GateProtocolException("not a number: '" + text + "' in '" + excerpt + "'");
        }
        return Double.parseDouble(text);
    }

    private static byte[] ascii(String line) {
        return line.getBytes(StandardCharsets.US_ASCII);
    }
}
