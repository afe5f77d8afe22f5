package io.salvo.jmeter;

import java.io.IOException;
import java.net.StandardProtocolFamily;
import java.net.UnixDomainSocketAddress;
import java.nio.ByteBuffer;
import java.nio.channels.SocketChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Instant;
import java.util.Map;
import java.util.Properties;
import java.util.concurrent.locks.LockSupport;
import java.util.function.Supplier;

import org.apache.jmeter.engine.StandardJMeterEngine;
import org.apache.jmeter.testelement.TestStateListener;
import org.apache.jmeter.util.JMeterUtils;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Holds JMeter's thread groups at Salvo's start gate. Installed by {@link GateInstaller} as JMeter loads its
 * functions; its testStarted() runs in the engine thread after the plan is loaded and before any thread group
 * starts: it reports READY, waits for the executor's GO and sets the fleet properties. Then, with every group
 * holding its samples until start_at ({@link ThreadHold}), it lets the engine start them two seconds early, so that
 * thread creation is done by start_at; otherwise it returns at start_at. Anything but a valid GO halts the JVM
 * with {@link #ABORT_EXIT_CODE}: no load unless told when.
 */
public final class StartGate implements TestStateListener {

    public static final String SOCKET_ENV = "SALVO_GATE_SOCKET";
    public static final String DATA_FILE_ENV = "SALVO_DATA_FILE";
    /** Where the executor reads results (an open model's arrivals file goes there). */
    public static final String SAMPLES_DIR_ENV = "SALVO_SAMPLES_DIR";
    public static final int ABORT_EXIT_CODE = 4;

    static final long EXECUTOR_GONE_GRACE_MS = 5_000;
    /**
     * How long before start_at the engine starts the thread groups (whole seconds: a group's duration is): its
     * System.gc(), the threads' start and the JIT work they cause are over by start_at (with 1 s they were not
     * always, on a busy 2-core machine).
     */
    static final long HEAD_START_SECONDS = 2;
    /**
     * Parked threads wake ~0.05 ms late (the kernel's timer slack); spinning longer than that only keeps a core
     * from the threads (of this JVM and the other executors) that must run at start_at: on a busy machine a spinning
     * thread pre-empted waits for the scheduler's next tick, milliseconds.
     */
    private static final double SPIN_SECONDS = 0.00002;
    /** RELEASED is reported this long after start_at, so that no thread but the samplers wakes at start_at. */
    static final double REPORT_DELAY_SECONDS = 0.2;
    private static final Logger log = LoggerFactory.getLogger(StartGate.class);
    private static boolean installed;

    private final String socketPath;
    private final Map<String, String> env;
    private final Supplier<Properties> properties;
    private final Halter halter;
    private final java.util.function.BooleanSupplier holdThreads;
    private SocketChannel channel;
    private volatile boolean ended;
    private boolean releaseReported;  // guarded by this, as the socket's writes are
    private boolean doneReported;
    private volatile double startAt;

    StartGate(String socketPath, Map<String, String> env, Supplier<Properties> properties, Halter halter) {
        this(socketPath, env, properties, halter, () -> ThreadHold.install(HEAD_START_SECONDS));
    }

    StartGate(String socketPath, Map<String, String> env, Supplier<Properties> properties, Halter halter,
              java.util.function.BooleanSupplier holdThreads) {
        this.socketPath = socketPath;
        this.env = env;
        this.properties = properties;
        this.halter = halter;
        this.holdThreads = holdThreads;
    }

    /** Registers the gate with JMeter's engine when $SALVO_GATE_SOCKET is set; otherwise does nothing. */
    public static synchronized void install() {
        String socket = System.getenv(SOCKET_ENV);
        if (socket == null || socket.isEmpty() || installed) {
            return;
        }
        installed = true;
        StandardJMeterEngine.register(new StartGate(socket, System.getenv(), JMeterUtils::getJMeterProperties,
                Halter.JVM));
        log.info("Salvo start gate installed: thread groups wait for the executor at {}", socket);
    }

    @Override
    public void testStarted() {
        Go go;
        try {
            if (socketPath.startsWith("@")) {
                throw new GateProtocolException(SOCKET_ENV + "=" + socketPath
                        + " is an abstract socket name, which Java cannot reach: JMeter needs a socket file");
            }
            WarmUp.start(Thread.currentThread().getContextClassLoader());
            log.info("Salvo start gate: HTTP client warmed up with {} requests", HttpWarmUp.run());
            channel = SocketChannel.open(StandardProtocolFamily.UNIX);
            channel.connect(UnixDomainSocketAddress.of(Path.of(socketPath)));
            write(GateLine.ready(ProcessHandle.current().pid()));
            go = GateLine.decodeGo(readLine());
            Properties props = properties.get();
            FleetShare.properties(go, props.getProperty(FleetShare.TOTALS), env.get(DATA_FILE_ENV))
                    .forEach(props::setProperty);
        } catch (IOException | GateProtocolException | RuntimeException e) {
            abort("no valid start from the executor (" + e.getMessage() + ")");
            return;
        }
        log.info("Salvo start gate: executor {} of {}, run '{}', mode {}, start at {}", go.index(), go.size(),
                go.runId(), go.mode(), go.startAt());
        startAt = go.startAt();
        StartTimer.holdUntil(go.startAt());
        ThreadHold.paceByArrivals(go.open() != null);
        boolean held = holdThreads.getAsBoolean();
        if (go.open() != null) {
            if (!held) {
                abort("an open-model rate paces the plan's thread groups, and the plan could not be reached");
                return;
            }
            Arrivals.start(go, ThreadHold.longestSeconds(), env.get(SAMPLES_DIR_ENV));
            log.info("Salvo start gate: open model {}, position {} of {}: iterations arrive at this executor's share",
                    go.open().text(), go.open().position(), go.open().members());
        }
        if (held) {  // the groups start early; their samples wait in StartTimer, which notes the first release
            waitUntil(go.startAt() - HEAD_START_SECONDS);
            ThreadHold.resolveHostsSoon();
            Thread release = new Thread(() -> {
                waitUntil(go.startAt() + REPORT_DELAY_SECONDS);
                reportRelease(StartTimer.firstReleaseOr(go.startAt()));
            }, "salvo-gate-release");
            release.setDaemon(true);
            release.start();
        } else {
            reportRelease(waitUntil(go.startAt()));
        }
        Thread watcher = new Thread(this::watchExecutor, "salvo-gate-watcher");
        watcher.setDaemon(true);
        watcher.start();
    }

    /** RELEASED: when the threads' samples were let go; said once, and never after DONE. */
    private synchronized void reportRelease(double releasedAt) {
        if (releaseReported || doneReported) {
            return;
        }
        releaseReported = true;
        try {
            write(GateLine.released(releasedAt));
        } catch (IOException e) {
            abort("the executor went away at the start (" + e.getMessage() + ")");
        }
    }

    @Override
    public void testStarted(String host) {
        testStarted();
    }

    @Override
    public void testEnded() {
        ended = true;
        Arrivals arrivals = Arrivals.current();
        if (arrivals != null) {  // before DONE: the executor reads the file once DONE
            arrivals.end();
        }
        if (channel == null) {
            return;
        }
        synchronized (this) {
            if (startAt > 0 && GateLine.epochSeconds(Instant.now()) >= startAt) {  // a test shorter than the delay
                reportRelease(StartTimer.firstReleaseOr(startAt));
            }
            doneReported = true;
            try (SocketChannel closing = channel) {
                write(GateLine.done(GateLine.epochSeconds(Instant.now())));
            } catch (IOException e) {
                log.warn("Salvo start gate: could not report DONE: {}", e.getMessage());
            }
        }
    }

    @Override
    public void testEnded(String host) {
        testEnded();
    }

    /**
     * Parks until just before the wall-clock time {@code startAt}, then spins the last microseconds; the release
     * time. (Thread.sleep would round to whole milliseconds on Java 17; parkNanos does not.)
     */
    static double waitUntil(double startAt) {
        boolean interrupted = false;
        double remaining;
        while ((remaining = startAt - GateLine.epochSeconds(Instant.now())) > SPIN_SECONDS) {
            LockSupport.parkNanos((long) ((remaining - SPIN_SECONDS) * 1e9));
            // keep holding: only start_at releases (a stop ends the engine's loop later)
            interrupted |= Thread.interrupted();
        }
        double now;
        while ((now = GateLine.epochSeconds(Instant.now())) < startAt) {
            Thread.onSpinWait();
        }
        if (interrupted) {
            Thread.currentThread().interrupt();
        }
        return now;
    }

    /** After the release: the executor closing the socket (it died) stops the load. */
    private void watchExecutor() {
        ByteBuffer sink = ByteBuffer.allocate(GateLine.MAX_LINE_BYTES);
        try {
            while (channel.read(sink) >= 0) {
                sink.clear();
            }
        } catch (IOException e) {
            log.debug("Salvo start gate: socket error {}", e.getMessage());
        }
        if (ended) {
            return;
        }
        log.error("Salvo start gate: the executor is gone; stopping the test");
        System.err.println("salvo start gate: the executor is gone; stopping the test");
        halter.stopEngineNow();
        try {
            Thread.sleep(EXECUTOR_GONE_GRACE_MS);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
        halter.halt(ABORT_EXIT_CODE);
    }

    private String readLine() throws IOException, GateProtocolException {
        ByteBuffer buffer = ByteBuffer.allocate(GateLine.MAX_LINE_BYTES + 1);
        while (true) {
            int start = buffer.position();
            if (channel.read(buffer) < 0) {
                throw new GateProtocolException("the socket closed before a line");
            }
            for (int i = start; i < buffer.position(); i++) {
                if (buffer.get(i) == '\n') {
                    return new String(buffer.array(), 0, i, StandardCharsets.UTF_8);
                }
            }
            if (!buffer.hasRemaining()) {
                throw new GateProtocolException("a line longer than " + GateLine.MAX_LINE_BYTES + " bytes");
            }
        }
    }

    private synchronized void write(byte[] line) throws IOException {
        ByteBuffer buffer = ByteBuffer.wrap(line);
        while (buffer.hasRemaining()) {
            channel.write(buffer);
        }
    }

    private void abort(String why) {
        log.error("Salvo start gate: {}; JMeter exits with {} without producing load", why, ABORT_EXIT_CODE);
        System.err.println("salvo start gate: " + why + "; exiting with " + ABORT_EXIT_CODE + " before any load");
        halter.halt(ABORT_EXIT_CODE);
    }
}
