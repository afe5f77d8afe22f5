package io.salvo.jmeter;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;

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
}
