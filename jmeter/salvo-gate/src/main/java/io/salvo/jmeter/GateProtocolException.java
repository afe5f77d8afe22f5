package io.salvo.jmeter;

/** A line that is not the one the gate protocol expects here. */
public final class GateProtocolException extends Exception {
    public GateProtocolException(String message) {
        super(message);
    }
}
