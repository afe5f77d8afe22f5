package io.salvo.jmeter;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import org.junit.jupiter.api.Test;

class WarmUpTest {

    @Test
    void loadsTheListedClassesThatExistAndSkipsTheOthers() throws InterruptedException {
        // the test class path has JMeter's core but not its HTTP sampler: some load, the rest are skipped
        int loaded = WarmUp.load(getClass().getClassLoader());
        assertTrue(loaded > 0, "nothing loaded");
        assertTrue(loaded < 348, "the HTTP sampler is not on the test class path, yet all loaded");
        Thread thread = WarmUp.start(getClass().getClassLoader());
        thread.join(30_000);
        assertEquals(false, thread.isAlive());
    }
}
