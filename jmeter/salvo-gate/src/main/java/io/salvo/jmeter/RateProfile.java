package io.salvo.jmeter;

import java.math.BigInteger;
import java.util.ArrayList;
import java.util.List;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * An open-model rate profile and this executor's arrivals per second: the Java twin of
 * shared/src/salvo/common/arrivals.py (RateProfile, ExecutorShare), in exact fractions as there, so both ends split
 * a rate identically (the vectors in tests/vectors/arrivals.json are checked against both).
 */
public final class RateProfile {

    public static final int MAX_STAGES = 20;
    public static final int MAX_PROFILE_CHARS = 400;
    public static final long MAX_RATE = 10_000_000L;
    public static final long MAX_STAGE_SECONDS = 7L * 86_400;

    private static final String NUMBER = "\\d+(?:\\.\\d{1,6})?";
    private static final Pattern STAGE = Pattern.compile(
            "(" + NUMBER + ")(?:\\.\\.(" + NUMBER + "))?(?::(\\d+(?:\\.\\d{1,3})?)(ms|s|m|h|d)?)?");

    /** From {@code start} to {@code end} arrivals a second over {@code seconds} (null: until the run ends). */
    record Stage(Rational start, Rational end, Rational seconds) {

        Rational area(Rational elapsed) {
            if (seconds == null || start.equals(end)) {
                return start.times(elapsed);
            }
            Rational at = start.plus(end.minus(start).times(elapsed).divide(seconds));
            return start.plus(at).times(elapsed).divide(Rational.of(2));
        }
    }

    private final List<Stage> stages;

    private RateProfile(List<Stage> stages) {
        this.stages = List.copyOf(stages);
    }

    /** The profile {@code text} describes (as Python's RateProfile.parse); IllegalArgumentException otherwise. */
    public static RateProfile parse(String text) {
        String compact = text.replace(" ", "");
        if (compact.isEmpty() || compact.length() > MAX_PROFILE_CHARS) {
            throw new IllegalArgumentException("not a rate profile: '" + text + "'");
        }
        String[] parts = compact.split(",", -1);
        if (parts.length > MAX_STAGES) {
            throw new IllegalArgumentException(parts.length + " stages; a rate profile has at most " + MAX_STAGES);
        }
        List<Stage> stages = new ArrayList<>();
        for (int i = 0; i < parts.length; i++) {
            Matcher m = STAGE.matcher(parts[i]);
            if (!m.matches()) {
                throw new IllegalArgumentException("stage " + (i + 1) + " '" + parts[i] + "' is not RATE[:DURATION]");
            }
            Rational start = Rational.parse(m.group(1));
            Rational end = m.group(2) != null ? Rational.parse(m.group(2)) : start;
            Rational seconds = null;
            if (m.group(3) != null) {
                seconds = Rational.parse(m.group(3)).times(unit(m.group(4) == null ? "s" : m.group(4)));
            }
            Rational max = Rational.of(MAX_RATE);
            if (start.compareTo(max) > 0 || end.compareTo(max) > 0) {
                throw new IllegalArgumentException("stage " + (i + 1) + " exceeds " + MAX_RATE + "/s");
            }
            if (seconds == null) {
                if (i != parts.length - 1 || m.group(2) != null) {
                    throw new IllegalArgumentException("stage " + (i + 1) + " '" + parts[i] + "' needs a duration");
                }
            } else if (seconds.signum() <= 0 || seconds.compareTo(Rational.of(MAX_STAGE_SECONDS)) > 0) {
                throw new IllegalArgumentException("stage " + (i + 1) + ": a duration from 1 ms to 7 days");
            }
            stages.add(new Stage(start, end, seconds));
        }
        return new RateProfile(stages);
    }

    private static Rational unit(String unit) {
        return switch (unit) {
            case "ms" -> Rational.of(1).divide(Rational.of(1000));
            case "m" -> Rational.of(60);
            case "h" -> Rational.of(3600);
            case "d" -> Rational.of(86400);
            default -> Rational.of(1);
        };
    }

    /** Seconds the profile lasts, or null when its last stage holds until the run ends. */
    public Double seconds() {
        Rational total = Rational.of(0);
        for (Stage stage : stages) {
            if (stage.seconds() == null) {
                return null;
            }
            total = total.plus(stage.seconds());
        }
        return total.toDouble();
    }

    /** A(t): the fleet's arrivals in the first {@code t} whole seconds, exactly. */
    public Rational arrivalsUntil(long t) {
        Rational left = Rational.of(t);
        Rational total = Rational.of(0);
        for (Stage stage : stages) {
            if (left.signum() <= 0) {
                break;
            }
            Rational span = stage.seconds() == null || left.compareTo(stage.seconds()) < 0 ? left : stage.seconds();
            total = total.plus(stage.area(span));
            left = left.minus(span);
        }
        return total;
    }

    /** Executor {@code index} of {@code size}: its arrivals in seconds 0 .. {@code seconds}-1. */
    public long[] counts(int index, int size, int seconds) {
        Share share = share(index, size);
        long[] mine = new long[seconds];
        for (int second = 0; second < seconds; second++) {
            mine[second] = share.next();
        }
        return mine;
    }

    public Share share(int index, int size) {
        return new Share(index, size);
    }

    /**
     * One executor's arrivals, second after second: each second's remainder goes round the fleet in a turn carried
     * from second to second (Python's ExecutorShare.counts).
     */
    public final class Share {
        private final int index;
        private final int size;
        private long turn;
        private long second;
        private BigInteger floorBefore = BigInteger.ZERO;

        private Share(int index, int size) {
            if (index < 0 || index >= size) {
                throw new IllegalArgumentException("index " + index + " is outside a fleet of " + size);
            }
            this.index = index;
            this.size = size;
        }

        /** This executor's arrivals in the next second. */
        public long next() {
            BigInteger floorAfter = arrivalsUntil(++second).floor();
            long total = floorAfter.subtract(floorBefore).longValueExact();
            long extra = total % size;
            long mine = total / size + (Math.floorMod(index - turn, size) < extra ? 1 : 0);
            turn = (turn + extra) % size;
            floorBefore = floorAfter;
            return mine;
        }
    }

    /** A rational number, exact: what Python's Fraction is to arrivals.py. */
    public record Rational(BigInteger num, BigInteger den) implements Comparable<Rational> {

        public Rational {
            if (den.signum() == 0) {
                throw new ArithmeticException("zero denominator");
            }
            if (den.signum() < 0) {
                num = num.negate();
                den = den.negate();
            }
            BigInteger gcd = num.gcd(den);
            if (!gcd.equals(BigInteger.ONE) && gcd.signum() != 0) {
                num = num.divide(gcd);
                den = den.divide(gcd);
            }
        }

        static Rational of(long value) {
            return new Rational(BigInteger.valueOf(value), BigInteger.ONE);
        }

        static Rational parse(String decimal) {
            int dot = decimal.indexOf('.');
            if (dot < 0) {
                return new Rational(new BigInteger(decimal), BigInteger.ONE);
            }
            String digits = decimal.substring(0, dot) + decimal.substring(dot + 1);
            return new Rational(new BigInteger(digits), BigInteger.TEN.pow(decimal.length() - dot - 1));
        }

        Rational plus(Rational o) {
            return new Rational(num.multiply(o.den).add(o.num.multiply(den)), den.multiply(o.den));
        }

        Rational minus(Rational o) {
            return new Rational(num.multiply(o.den).subtract(o.num.multiply(den)), den.multiply(o.den));
        }

        Rational times(Rational o) {
            return new Rational(num.multiply(o.num), den.multiply(o.den));
        }

        Rational divide(Rational o) {
            return new Rational(num.multiply(o.den), den.multiply(o.num));
        }

        int signum() {
            return num.signum();
        }

        /** The greatest integer not above this (Python's math.floor of a Fraction). */
        BigInteger floor() {
            BigInteger[] qr = num.divideAndRemainder(den);
            return qr[1].signum() < 0 ? qr[0].subtract(BigInteger.ONE) : qr[0];
        }

        double toDouble() {
            return new java.math.BigDecimal(num).divide(new java.math.BigDecimal(den),
                    java.math.MathContext.DECIMAL64).doubleValue();
        }

        @Override
        public int compareTo(Rational o) {
            return num.multiply(o.den).compareTo(o.num.multiply(den));
        }
    }
}
