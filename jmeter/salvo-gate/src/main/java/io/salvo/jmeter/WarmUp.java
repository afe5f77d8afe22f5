package io.salvo.jmeter;

import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStream;
import java.io.InputStreamReader;
import java.nio.charset.StandardCharsets;

/**
 * Loads, while the gate holds, the classes JMeter's threads would otherwise load on their first HTTP request
 * (warm-up-classes.txt), so that the load starts closer to start_at on every executor alike. Loading only: no
 * static initialiser runs early, so nothing observable changes; a class that is missing is skipped.
 */
final class WarmUp {

    private static final String LIST = "warm-up-classes.txt";

    private WarmUp() {
    }

    /** Starts loading in a daemon thread; returns at once. */
    static Thread start(ClassLoader loader) {
        Thread thread = new Thread(() -> load(loader), "salvo-gate-warm-up");
        thread.setDaemon(true);
        thread.setPriority(Thread.MIN_PRIORITY);
        thread.start();
        return thread;
    }

    /** The number of classes loaded. */
    static int load(ClassLoader loader) {
        int loaded = 0;
        try (InputStream list = WarmUp.class.getResourceAsStream(LIST)) {
            if (list == null) {
                return 0;
            }
            BufferedReader lines = new BufferedReader(new InputStreamReader(list, StandardCharsets.US_ASCII));
            String name;
            while ((name = lines.readLine()) != null) {
                if (name.isBlank() || name.startsWith("#")) {
                    continue;
                }
                try {
                    Class.forName(name.strip(), false, loader);
                    loaded++;
                } catch (ClassNotFoundException | LinkageError absent) {
                    // a plan without this library: nothing to warm
                }
            }
        } catch (IOException e) {
            // the warm-up is an optimisation only
        }
        return loaded;
    }
}
