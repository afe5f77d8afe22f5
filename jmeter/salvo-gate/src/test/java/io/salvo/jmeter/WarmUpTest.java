package io.salvo.jmeter;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotSame;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.io.InputStream;
import java.lang.reflect.Field;
import java.nio.charset.StandardCharsets;
import java.util.concurrent.atomic.AtomicReference;

import org.apache.jmeter.protocol.http.sampler.HTTPHC4Impl;

import org.junit.jupiter.api.Test;

class WarmUpTest {

    @Test
    void loadsTheListedClassesThatExistAndSkipsTheOthers() throws InterruptedException, IOException {
        long listed;
        try (InputStream list = WarmUp.class.getResourceAsStream("warm-up-classes.txt")) {
            listed = new String(list.readAllBytes(), StandardCharsets.US_ASCII).lines()
                    .filter(line -> !line.isBlank() && !line.startsWith("#")).count();
        }
        // the test class path has JMeter's core and HTTP sampler, not every library a plan may bring
        int loaded = WarmUp.load(getClass().getClassLoader());
        assertTrue(loaded > listed / 2, "only " + loaded + " of " + listed + " loaded");
        assertTrue(loaded <= listed, "more loaded than listed");
        Thread thread = WarmUp.start(getClass().getClassLoader());
        thread.join(30_000);
        assertEquals(false, thread.isAlive());
    }

    @Test
    void theHttpClientIsWarmedUpAgainstTheGatesOwnLoopbackServer() {
        assertEquals(25, HttpWarmUp.run(25), "not every warm-up request was answered");
    }

    @Test
    void threadsStartedAfterTheWarmUpKeepConnectionPoolsOfTheirOwn() throws Exception {
        // JMeter keeps each thread's HTTP clients in an InheritableThreadLocal: the threads the engine starts after
        // the gate's warm-up must not inherit one map, or a thread ending closes the others' pools mid-request
        Field field = HTTPHC4Impl.class.getDeclaredField("HTTPCLIENTS_CACHE_PER_THREAD_AND_HTTPCLIENTKEY");
        field.setAccessible(true);
        ThreadLocal<?> clients = (ThreadLocal<?>) field.get(null);
        AtomicReference<Object[]> seen = new AtomicReference<>();
        AtomicReference<Integer> answered = new AtomicReference<>();
        Thread engine = new Thread(() -> {
            clients.remove();  // as JMeter's engine thread: no request sent yet (this one inherited the test's map)
            answered.set(HttpWarmUp.run());
            seen.set(new Object[] {clientsOfANewThread(clients), clientsOfANewThread(clients)});
        });
        engine.start();
        engine.join(60_000);
        assertTrue(answered.get() > 0, "the warm-up sent nothing");
        assertNotSame(seen.get()[0], seen.get()[1]);
    }

    private static Object clientsOfANewThread(ThreadLocal<?> clients) {
        AtomicReference<Object> seen = new AtomicReference<>();
        Thread thread = new Thread(() -> seen.set(clients.get()));
        thread.start();
        try {
            thread.join(30_000);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
        return seen.get();
    }
}
