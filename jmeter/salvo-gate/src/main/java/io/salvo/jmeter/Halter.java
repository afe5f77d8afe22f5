package io.salvo.jmeter;

import org.apache.jmeter.engine.StandardJMeterEngine;

/** How the gate ends a JMeter that must not (or no longer) produce load; a test replaces it. */
interface Halter {

    /** Stop every thread group now (the executor is gone). */
    void stopEngineNow();

    /** End the JVM at once with this status: no shutdown hooks, no listeners, no load. */
    void halt(int status);

    Halter JVM = new Halter() {
        @Override
        public void stopEngineNow() {
            StandardJMeterEngine.stopEngineNow();
        }

        @Override
        public void halt(int status) {
            Runtime.getRuntime().halt(status);
        }
    };
}
