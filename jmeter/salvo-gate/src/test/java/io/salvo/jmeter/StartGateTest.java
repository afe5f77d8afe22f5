package io.salvo.jmeter;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.net.StandardProtocolFamily;
import java.net.UnixDomainSocketAddress;
import java.nio.ByteBuffer;
import java.nio.channels.ServerSocketChannel;
import java.nio.channels.SocketChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Instant;
import java.util.Locale;
import java.util.Map;
import java.util.Properties;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/** The gate against a real Unix-socket server playing the executor; the halt is recorded, not performed. */
@Timeout(30)
class StartGateTest {

    private static final double LATE_BOUND = 0.05;

    @TempDir
    Path dir;

    private ServerSocketChannel server;
    private Path socket;
    private final Properties props = new Properties();
    private final RecordingHalter halter = new RecordingHalter();

    @BeforeEach
    void listen() throws IOException {
        socket = dir.resolve("gate");
        server = ServerSocketChannel.open(StandardProtocolFamily.UNIX);
        server.bind(UnixDomainSocketAddress.of(socket));
    }

    @AfterEach
    void close() throws IOException {
        server.close();
    }

    private StartGate gate(String path) {
        return new StartGate(path, Map.of(StartGate.DATA_FILE_ENV, "/data/rows.csv"), () -> props, halter);
    }

    private static CompletableFuture<Void> inThread(Runnable body) {
        return CompletableFuture.runAsync(body, r -> {
            Thread thread = new Thread(r, "engine");
            thread.setDaemon(true);
            thread.start();
        });
    }

    @Test
    void holdsUntilGoAndReleasesAtStartAtWithTheFleetProperties() throws Exception {
        props.setProperty(FleetShare.TOTALS, "10,7,2");
        StartGate gate = gate(socket.toString());
        CompletableFuture<Void> engine = inThread(gate::testStarted);
        try (SocketChannel executor = server.accept()) {
            assertEquals("READY " + ProcessHandle.current().pid(), readLine(executor));
            assertFalse(engine.isDone(), "released before GO");
            String go = String.format(Locale.ROOT, "GO %.6f index=1 size=3 mode=fleet run=r1",
                    GateLine.epochSeconds(Instant.now()) + 0.3);
            double startAt = GateLine.decodeGo(go).startAt();
            send(executor, go + "\n");
            String released = readLine(executor);
            double arrived = GateLine.epochSeconds(Instant.now());
            assertTrue(released.startsWith("RELEASED "), released);
            double releasedAt = Double.parseDouble(released.substring("RELEASED ".length()));
            assertTrue(releasedAt >= startAt, "released " + (startAt - releasedAt) + " s early");
            // typically < 1 ms; the bound leaves room for a descheduled thread on a busy 2-core CI machine
            assertTrue(releasedAt - startAt < LATE_BOUND, "released " + (releasedAt - startAt) + " s late");
            assertTrue(arrived >= startAt);
            engine.get(5, TimeUnit.SECONDS);

            assertEquals("3", props.getProperty("salvo.share.of.10"));
            assertEquals("2", props.getProperty("salvo.share.of.7"));
            assertEquals("1", props.getProperty("salvo.share.of.2"));
            assertEquals("1", props.getProperty("salvo.executor_index"));
            assertEquals("3", props.getProperty("salvo.fleet_size"));
            assertEquals("r1", props.getProperty("salvo.run_id"));
            assertEquals("/data/rows.csv", props.getProperty("salvo.data_file"));

            gate.testEnded();
            assertTrue(readLine(executor).startsWith("DONE "));
            assertEquals(-1, executor.read(ByteBuffer.allocate(16)), "the gate closes its socket after DONE");
        }
        assertFalse(halter.halted.isDone(), "a normal end must not halt");
    }

    @Test
    void heldGroupsStartEarlyAndReleasedSaysWhenTheFirstSampleWasLetGoOnceBeforeDone() throws Exception {
        StartGate gate = new StartGate(socket.toString(), Map.of(), () -> props, halter, () -> true);
        CompletableFuture<Void> engine = inThread(gate::testStarted);
        try (SocketChannel executor = server.accept()) {
            readLine(executor);
            double startAt = GateLine.epochSeconds(Instant.now()) + StartGate.HEAD_START_SECONDS + 0.3;
            send(executor, String.format(Locale.ROOT, "GO %.6f index=0 size=1 mode=per-executor%n", startAt));
            engine.get(5, TimeUnit.SECONDS);  // the engine goes on a head start before start_at
            assertTrue(GateLine.epochSeconds(Instant.now()) < startAt - 0.2, "the engine was held to start_at");
            CompletableFuture<Double> sampler = CompletableFuture.supplyAsync(() -> {
                new StartTimer().delay();
                return GateLine.epochSeconds(Instant.now());
            });
            double sampled = sampler.get(5, TimeUnit.SECONDS);
            assertTrue(sampled >= startAt, "a sample let go " + (startAt - sampled) + " s early");
            String released = readLine(executor);
            double reportedAt = GateLine.epochSeconds(Instant.now());
            double releasedAt = Double.parseDouble(released.substring("RELEASED ".length()));
            assertTrue(releasedAt >= startAt && releasedAt <= sampled, released);
            assertTrue(reportedAt >= startAt + StartGate.REPORT_DELAY_SECONDS, "no report while the samplers start");
            gate.testEnded();
            assertTrue(readLine(executor).startsWith("DONE "));
        }
    }

    @Test
    void aTestEndingBeforeTheReleaseReportSaysReleasedThenDone() throws Exception {
        StartGate gate = new StartGate(socket.toString(), Map.of(), () -> props, halter, () -> true);
        CompletableFuture<Void> engine = inThread(gate::testStarted);
        try (SocketChannel executor = server.accept()) {
            readLine(executor);
            double startAt = GateLine.epochSeconds(Instant.now()) + StartGate.HEAD_START_SECONDS + 0.05;
            send(executor, String.format(Locale.ROOT, "GO %.6f%n", startAt));
            engine.get(5, TimeUnit.SECONDS);
            new StartTimer().delay();
            gate.testEnded();
            assertTrue(readLine(executor).startsWith("RELEASED "));
            assertTrue(readLine(executor).startsWith("DONE "));
            assertEquals(-1, executor.read(ByteBuffer.allocate(64)), "one RELEASED only, then the socket closes");
        }
    }

    @Test
    void perExecutorModeKeepsEveryTotal() throws Exception {
        props.setProperty(FleetShare.TOTALS, "10");
        CompletableFuture<Void> engine = inThread(gate(socket.toString())::testStarted);
        try (SocketChannel executor = server.accept()) {
            readLine(executor);
            double startAt = GateLine.epochSeconds(Instant.now()) + 0.05;
            send(executor, String.format(Locale.ROOT, "GO %.6f index=2 size=3 mode=per-executor%n", startAt));
            assertTrue(readLine(executor).startsWith("RELEASED "));
            engine.get(5, TimeUnit.SECONDS);
        }
        assertEquals("10", props.getProperty("salvo.share.of.10"));
    }

    @Test
    void aSocketClosedBeforeGoHaltsWithTheAbortCode() throws Exception {
        CompletableFuture<Void> engine = inThread(gate(socket.toString())::testStarted);
        try (SocketChannel executor = server.accept()) {
            readLine(executor);
        }
        assertEquals(StartGate.ABORT_EXIT_CODE, halter.halted.get(10, TimeUnit.SECONDS));
        engine.get(5, TimeUnit.SECONDS);
        assertTrue(props.isEmpty(), "no start, no properties");
    }

    @Test
    void aMalformedGoHaltsWithTheAbortCode() throws Exception {
        CompletableFuture<Void> engine = inThread(gate(socket.toString())::testStarted);
        try (SocketChannel executor = server.accept()) {
            readLine(executor);
            send(executor, "GO nan index=0 size=1\n");
            assertEquals(StartGate.ABORT_EXIT_CODE, halter.halted.get(10, TimeUnit.SECONDS));
        }
        engine.get(5, TimeUnit.SECONDS);
        assertTrue(props.isEmpty());
    }

    @Test
    void anEndlessLineHaltsWithTheAbortCode() throws Exception {
        inThread(gate(socket.toString())::testStarted);
        try (SocketChannel executor = server.accept()) {
            readLine(executor);
            send(executor, "GO 1764312345.0 run=" + "x".repeat(GateLine.MAX_LINE_BYTES));
            assertEquals(StartGate.ABORT_EXIT_CODE, halter.halted.get(10, TimeUnit.SECONDS));
        }
    }

    @Test
    void anAbstractSocketNameOrNoListenerHaltsWithTheAbortCode() throws Exception {
        gate("@salvo-gate-1").testStarted();
        assertEquals(StartGate.ABORT_EXIT_CODE, halter.halted.get(1, TimeUnit.SECONDS));
        RecordingHalter other = new RecordingHalter();
        new StartGate(dir.resolve("nobody").toString(), Map.of(), () -> props, other).testStarted();
        assertEquals(StartGate.ABORT_EXIT_CODE, other.halted.get(1, TimeUnit.SECONDS));
    }

    @Test
    void theExecutorGoingAwayAfterTheReleaseStopsTheEngineThenHalts() throws Exception {
        CompletableFuture<Void> engine = inThread(gate(socket.toString())::testStarted);
        try (SocketChannel executor = server.accept()) {
            readLine(executor);
            send(executor, String.format(Locale.ROOT, "GO %.6f%n", GateLine.epochSeconds(Instant.now()) + 0.01));
            readLine(executor);
            engine.get(5, TimeUnit.SECONDS);
            assertFalse(halter.stopped.isDone());
        }
        halter.stopped.get(5, TimeUnit.SECONDS);
        long stoppedAt = System.nanoTime();
        assertEquals(StartGate.ABORT_EXIT_CODE,
                halter.halted.get(StartGate.EXECUTOR_GONE_GRACE_MS + 5_000, TimeUnit.MILLISECONDS));
        long grace = TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - stoppedAt);
        assertTrue(grace >= StartGate.EXECUTOR_GONE_GRACE_MS - 100, "halted after " + grace + " ms");
    }

    private static String readLine(SocketChannel channel) throws IOException {
        StringBuilder line = new StringBuilder();
        ByteBuffer one = ByteBuffer.allocate(1);
        while (true) {
            one.clear();
            if (channel.read(one) < 0) {
                throw new IOException("closed after '" + line + "'");
            }
            char c = (char) one.get(0);
            if (c == '\n') {
                return line.toString();
            }
            line.append(c);
        }
    }

    private static void send(SocketChannel channel, String text) throws IOException {
        ByteBuffer buffer = ByteBuffer.wrap(text.getBytes(StandardCharsets.US_ASCII));
        while (buffer.hasRemaining()) {
            channel.write(buffer);
        }
    }

    private static final class RecordingHalter implements Halter {
        final CompletableFuture<Void> stopped = new CompletableFuture<>();
        final CompletableFuture<Integer> halted = new CompletableFuture<>();

        @Override
        public void stopEngineNow() {
            stopped.complete(null);
        }

        @Override
        public void halt(int status) {
            halted.complete(status);
        }
    }
}
