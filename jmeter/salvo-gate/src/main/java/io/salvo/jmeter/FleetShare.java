package io.salvo.jmeter;

import java.util.LinkedHashMap;
import java.util.Map;

/**
 * The JMeter properties a GO sets. Salvo's bzt config writes a thread group's {@code concurrency: N} as
 * {@code ${__P(salvo.share.of.N,N)}} and lists the Ns in {@code salvo.share.totals}; here each becomes this
 * executor's share of N (fleet mode) or N itself.
 */
public final class FleetShare {

    public static final String TOTALS = "salvo.share.totals";
    public static final String SHARE_PREFIX = "salvo.share.of.";

    private FleetShare() {
    }

    /**
     * Executor {@code index} of {@code size}: the first {@code total mod size} executors take one more; with
     * SALVO_FLEET_USERS the users the executor was given replace the plan's own count.
     */
    public static long shareOf(long total, Go go) {
        if (!go.fleet()) {
            return total;
        }
        if (go.users() != null) {  // SALVO_FLEET_USERS: the controller allows it for one execution only
            return go.users();
        }
        return total / go.size() + (go.index() < total % go.size() ? 1 : 0);
    }

    /**
     * Every property to set once the start is known.
     *
     * @param totals   the value of salvo.share.totals: comma-separated whole numbers, null or blank for none
     * @param dataFile $SALVO_DATA_FILE, or null
     * @throws GateProtocolException for totals that are not whole numbers (Salvo wrote them: never guess)
     */
    public static Map<String, String> properties(Go go, String totals, String dataFile) throws GateProtocolException {
        Map<String, String> props = new LinkedHashMap<>();
        props.put("salvo.executor_index", Integer.toString(go.index()));
        props.put("salvo.fleet_size", Integer.toString(go.size()));
        props.put("salvo.run_id", go.runId());
        if (dataFile != null) {
            props.put("salvo.data_file", dataFile);
        }
        if (totals != null) {
            for (String item : totals.split(",")) {
                String text = item.strip();
                if (text.isEmpty()) {
                    continue;
                }
                if (!text.matches("[0-9]{1,18}")) {
                    throw new GateProtocolException(TOTALS + " must list whole numbers, got '" + totals + "'");
                }
                long total = Long.parseLong(text);
                props.put(SHARE_PREFIX + total, Long.toString(shareOf(total, go)));
            }
        }
        return props;
    }
}
