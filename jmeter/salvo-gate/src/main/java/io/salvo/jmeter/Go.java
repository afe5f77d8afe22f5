package io.salvo.jmeter;

/**
 * What the executor tells a gated JMeter at the start: when to let go and its place in the fleet
 * (the fields of the Python {@code salvo.executor.tool.gate.Go}).
 *
 * @param startAt epoch seconds
 * @param users   fleet mode with SALVO_FLEET_USERS: this executor's users, else null
 * @param rate    ... and its spawn rate, else null
 * @param open    an open-model run (SALVO_FLEET_RATE, SALVO_RATE): its rate and this executor's place, else null
 * @param clock   this host's clock minus the controller's (results are counted in the controller's seconds)
 */
public record Go(double startAt, int index, int size, String runId, String mode, Long users, Double rate,
                 OpenModel open, double clock) {

    public Go(double startAt, int index, int size, String runId, String mode, Long users, Double rate) {
        this(startAt, index, size, runId, mode, users, rate, null, 0.0);
    }

    public static final String FLEET = "fleet";
    /** The load modes (the Python {@code salvo.common.fleetload.LoadMode}); a GO naming another is refused. */
    public static final java.util.List<String> MODES = java.util.List.of("per-executor", FLEET);

    /** Fleet mode: the scenario's own load numbers are the fleet's totals, each executor runs its share. */
    public boolean fleet() {
        return FLEET.equals(mode);
    }
}
