package io.salvo.jmeter;

import java.io.BufferedInputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.InetAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Locale;

import org.apache.jmeter.protocol.http.control.Header;
import org.apache.jmeter.protocol.http.control.HeaderManager;
import org.apache.jmeter.protocol.http.sampler.HTTPSamplerProxy;
import org.apache.jmeter.protocol.http.util.HTTPFileArg;
import org.apache.jmeter.samplers.SampleEvent;
import org.apache.jmeter.samplers.SampleResult;
import org.apache.jmeter.samplers.SampleSaveConfiguration;
import org.apache.jmeter.save.CSVSaveService;
import org.apache.jmeter.threads.JMeterContext;
import org.apache.jmeter.threads.JMeterContextService;
import org.apache.jmeter.threads.JMeterVariables;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * HTTP requests, before READY, to a throw-away server of the gate's own on 127.0.0.1: the JVM's one-time costs
 * of JMeter's HTTP client (class initialisation, connection-manager set-up, ~0.2 s on a cold JVM) are paid while
 * arming, and the path of a thread's first request (a new client, a new connection) is run often enough for the
 * JIT to compile it: after start_at, each thread's first request then costs a fraction of a millisecond of CPU
 * instead of milliseconds, which on a busy machine is what spreads the executors' starts. Nothing reaches the
 * system under test and nothing is recorded: the sampler is not part of the plan. Best effort: a failure only
 * logs.
 */
final class HttpWarmUp {

    private static final Logger log = LoggerFactory.getLogger(HttpWarmUp.class);
    private static final byte[] ANSWER =
            "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok".getBytes(StandardCharsets.US_ASCII);

    private HttpWarmUp() {
    }

    /**
     * Enough for the JIT's first tier (a method is compiled after ~200 calls); ~0.3 s of one core on a cold JVM.
     */
    static final int REQUESTS = 400;
    private static final int UPLOAD_EVERY = 4;
    private static final int UPLOAD_BYTES = 4096;
    private static final int MAX_FAILURES = 5;

    /**
     * The number of warm-up requests answered (0: the warm-up failed, which only costs start precision), sent from
     * a thread of the warm-up's own. JMeter's HTTP client keeps each thread's connection pools in an
     * InheritableThreadLocal: warmed in the engine's thread, that thread's map would be inherited by every thread
     * the engine then starts, so that all of them shared one map and a thread ending closed the pools of the
     * others mid-request ("Socket closed", "Connection pool shut down" at the end of each run).
     */
    static int run() {
        int[] answered = {0};
        Thread warming = new Thread(() -> answered[0] = run(REQUESTS), "salvo-gate-http-warm-up-client");
        warming.setDaemon(true);
        warming.start();
        try {
            warming.join();
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
        return answered[0];
    }

    static int run(int requests) {
        int answered = 0;
        Path upload = null;
        try (ServerSocket server = new ServerSocket(0, 50, InetAddress.getLoopbackAddress())) {
            server.setSoTimeout(5_000);
            Thread answering = new Thread(() -> answerAll(server), "salvo-gate-http-warm-up");
            answering.setDaemon(true);
            answering.start();
            upload = Files.createTempFile("salvo-warm-up", ".bin");
            Files.write(upload, new byte[UPLOAD_BYTES]);
            JMeterContext context = JMeterContextService.getContext();
            JMeterVariables before = context.getVariables();
            context.setVariables(new JMeterVariables());
            try {
                int failures = 0;
                boolean formatAsJtl = true;
                for (int i = 0; i < requests && failures < MAX_FAILURES; i++) {
                    HTTPSamplerProxy sampler = sampler(server, i % UPLOAD_EVERY == UPLOAD_EVERY - 1 ? upload : null);
                    SampleResult result = sampler.sample();
                    sampler.threadFinished();  // closes the client it opened: the next request opens a new one
                    formatAsJtl = formatAsJtl && formattedAsJtl(result);
                    if (result.isSuccessful()) {
                        answered++;
                    } else {
                        failures++;
                    }
                }
            } finally {
                context.setVariables(before);
            }
        } catch (Exception | LinkageError e) {
            log.debug("Salvo start gate: HTTP warm-up stopped: {}", e.toString());
        } finally {
            if (upload != null) {
                upload.toFile().delete();
            }
        }
        return answered;
    }

    /** The result written as a kpi.jtl line is (its formatting code warmed too); false if that cannot be done. */
    private static boolean formattedAsJtl(SampleResult result) {
        try {
            result.setSaveConfig(SampleSaveConfiguration.staticConfig());
            CSVSaveService.resultToDelimitedString(new SampleEvent(result, "salvo-warm-up"));
            return true;
        } catch (RuntimeException | LinkageError e) {
            log.debug("Salvo start gate: JTL formatting not warmed: {}", e.toString());
            return false;
        }
    }

    /** A GET with a header, or (given a file) a multipart POST of it: the paths a plan's first samples take. */
    private static HTTPSamplerProxy sampler(ServerSocket server, Path upload) {
        HTTPSamplerProxy sampler = new HTTPSamplerProxy();
        sampler.setProtocol("http");
        sampler.setDomain(server.getInetAddress().getHostAddress());
        sampler.setPort(server.getLocalPort());
        sampler.setPath("/salvo-warm-up");
        sampler.setConnectTimeout("5000");
        sampler.setResponseTimeout("5000");
        HeaderManager headers = new HeaderManager();
        headers.add(new Header("X-Salvo-Warm-Up", "1"));
        sampler.setHeaderManager(headers);
        if (upload == null) {
            sampler.setMethod("GET");
        } else {
            sampler.setMethod("POST");
            sampler.setDoMultipart(true);
            sampler.addArgument("name", "warm-up");
            sampler.setHTTPFiles(new HTTPFileArg[] {
                new HTTPFileArg(upload.toString(), "file", "application/octet-stream")});
        }
        return sampler;
    }

    private static void answerAll(ServerSocket server) {
        while (!server.isClosed()) {
            answerOne(server);
        }
    }

    private static void answerOne(ServerSocket server) {
        try (Socket client = server.accept()) {
            InputStream in = new BufferedInputStream(client.getInputStream());
            String head = readHead(in);
            long length = contentLength(head);
            if (length > 0) {
                in.skipNBytes(length);
            } else if (head.toLowerCase(Locale.ROOT).contains("transfer-encoding: chunked")) {
                skipChunked(in);
            }
            OutputStream out = client.getOutputStream();
            out.write(ANSWER);
            out.flush();
        } catch (Exception e) {
            log.debug("Salvo start gate: HTTP warm-up server: {}", e.toString());
        }
    }

    private static String readHead(InputStream in) throws IOException {
        StringBuilder head = new StringBuilder();
        int b;
        while ((b = in.read()) >= 0) {
            head.append((char) b);
            if (head.length() >= 4 && head.substring(head.length() - 4).equals("\r\n\r\n")) {
                break;
            }
        }
        return head.toString();
    }

    private static long contentLength(String head) {
        for (String line : head.split("\r\n")) {
            int colon = line.indexOf(':');
            if (colon > 0 && line.substring(0, colon).trim().equalsIgnoreCase("Content-Length")) {
                return Long.parseLong(line.substring(colon + 1).trim());
            }
        }
        return 0;
    }

    private static void skipChunked(InputStream in) throws IOException {
        byte[] end = "\r\n0\r\n\r\n".getBytes(StandardCharsets.US_ASCII);
        int matched = 0;
        int b;
        while (matched < end.length && (b = in.read()) >= 0) {
            matched = b == end[matched] ? matched + 1 : (b == end[0] ? 1 : 0);
        }
    }
}
