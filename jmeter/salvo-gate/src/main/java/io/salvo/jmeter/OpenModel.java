package io.salvo.jmeter;

/**
 * The {@code open=} field of a GO line: an open-model run's rate profile and this executor's place in its split
 * (the Python {@code salvo.common.arrivals.OpenModel}, encoded {@code profile;pattern;max_users;max_lateness;position/members}).
 *
 * @param maxUsers    the locust pool's limit; a JMeter pool is its plan's threads, so it is read and not used
 * @param maxLateness seconds an arrival may wait for a free thread before it is dropped
 */
public record OpenModel(RateProfile profile, String text, int position, int members, boolean poisson, int maxUsers,
                        double maxLateness) {

    /** The open model {@code text} encodes; GateProtocolException for anything else. */
    public static OpenModel decode(String text) throws GateProtocolException {
        String[] parts = text.split(";", -1);
        if (parts.length != 5) {
            throw new GateProtocolException("expected profile;pattern;max_users;max_lateness;position/members, got '"
                    + text + "'");
        }
        String[] place = parts[4].split("/", -1);
        try {
            RateProfile profile = RateProfile.parse(parts[0]);
            if (place.length != 2 || !parts[2].matches("[0-9]{1,9}") || !place[0].matches("[0-9]{1,9}")
                    || !place[1].matches("[0-9]{1,9}") || !parts[3].matches("[0-9]+(\\.[0-9]+)?([eE][+-]?[0-9]+)?")) {
                throw new IllegalArgumentException("bad numbers");
            }
            if (!parts[1].equals("uniform") && !parts[1].equals("poisson")) {
                throw new IllegalArgumentException("pattern " + parts[1]);
            }
            OpenModel model = new OpenModel(profile, parts[0], Integer.parseInt(place[0]), Integer.parseInt(place[1]),
                    parts[1].equals("poisson"), Integer.parseInt(parts[2]), Double.parseDouble(parts[3]));
            if (model.position() >= model.members() || model.maxUsers() < 1 || !(model.maxLateness() <= 86_400)) {
                throw new IllegalArgumentException("out of range");
            }
            return model;
        } catch (IllegalArgumentException e) {
            throw new GateProtocolException("not an open model: '" + text + "' (" + e.getMessage() + ")");
        }
    }

    /** This executor's arrivals in each of the first {@code seconds} seconds of the run. */
    public long[] counts(int seconds) {
        return profile.counts(position, members, seconds);
    }

    /**
     * Where {@code count} arrivals fall inside a second, sorted offsets in [0, 1): uniform, on the grid shifted by the
     * executor's place (Python's arrival_offsets), or Poisson, drawn from {@code random}.
     */
    public double[] offsets(long count, java.util.Random random) {
        double[] offsets = new double[(int) Math.max(count, 0)];
        double phase = (position + 0.5) / members;
        for (int j = 0; j < offsets.length; j++) {
            offsets[j] = poisson ? random.nextDouble() : (j + phase) / count;
        }
        if (poisson) {
            java.util.Arrays.sort(offsets);
        }
        return offsets;
    }
}
