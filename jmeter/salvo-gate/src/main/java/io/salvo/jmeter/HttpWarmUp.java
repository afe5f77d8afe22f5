package io.salvo.jmeter;

import java.io.BufferedInputStream;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.InetAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.nio.charset.StandardCharsets;

import org.apache.jmeter.protocol.http.sampler.HTTPSamplerProxy;
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

    /** The number of warm-up requests answered (0: the warm-up failed, which only costs start precision). */
    static int run() {
        return run(REQUESTS);
    }

    static int run(int requests) {
        int answered = 0;
        try (ServerSocket server = new ServerSocket(0, 50, InetAddress.getLoopbackAddress())) {
            server.setSoTimeout(5_000);
            Thread answering = new Thread(() -> answerAll(server), "salvo-gate-http-warm-up");
            answering.setDaemon(true);
            answering.start();
            JMeterContext context = JMeterContextService.getContext();
            JMeterVariables before = context.getVariables();
            context.setVariables(new JMeterVariables());
            try {
                for (int i = 0; i < requests; i++) {
                    HTTPSamplerProxy sampler = new HTTPSamplerProxy();
                    sampler.setProtocol("http");
                    sampler.setDomain(server.getInetAddress().getHostAddress());
                    sampler.setPort(server.getLocalPort());
                    sampler.setPath("/salvo-warm-up");
                    sampler.setMethod("GET");
                    sampler.setConnectTimeout("5000");
                    sampler.setResponseTimeout("5000");
                    boolean ok = sampler.sample().isSuccessful();
                    sampler.threadFinished();  // closes the client it opened: the next request opens a new one
                    if (!ok) {
                        break;
                    }
                    answered++;
                }
            } finally {
                context.setVariables(before);
            }
        } catch (Exception | LinkageError e) {
            log.debug("Salvo start gate: HTTP warm-up stopped: {}", e.toString());
        }
        return answered;
    }

    private static void answerAll(ServerSocket server) {
        while (!server.isClosed()) {
            answerOne(server);
        }
    }

    private static void answerOne(ServerSocket server) {
        try (Socket client = server.accept()) {
            InputStream in = new BufferedInputStream(client.getInputStream());
            int matched = 0;
            byte[] end = {'\r', '\n', '\r', '\n'};
            int b;
            while (matched < end.length && (b = in.read()) >= 0) {
                matched = b == end[matched] ? matched + 1 : (b == '\r' ? 1 : 0);
            }
            OutputStream out = client.getOutputStream();
            out.write(ANSWER);
            out.flush();
        } catch (Exception e) {
            log.debug("Salvo start gate: HTTP warm-up server: {}", e.toString());
        }
    }
}
