package io.salvo.jmeter;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

/** The shared vectors (tests/vectors/gate-lines.json, also run by tests/unit/test_gate.py) and the encoders. */
class GateLineTest {

    private static JsonNode vectors() throws IOException {
        return new ObjectMapper().readTree(Path.of(System.getProperty("salvo.vectors")).toFile());
    }

    static Stream<Arguments> validLines() throws IOException {
        List<Arguments> cases = new ArrayList<>();
        vectors().get("valid").forEach(c -> cases.add(Arguments.of(c.get("line").asText(), c.get("expected"))));
        return cases.stream();
    }

    static Stream<String> invalidLines() throws IOException {
        List<String> lines = new ArrayList<>();
        vectors().get("invalid").forEach(line -> lines.add(line.asText()));
        return lines.stream();
    }

    @ParameterizedTest
    @MethodSource("validLines")
    void validGoLinesDecodeAsPythonDecodesThem(String line, JsonNode expected) throws GateProtocolException {
        Go expectedGo = new Go(
                expected.get("start_at").asDouble(),
                expected.get("index").asInt(),
                expected.get("size").asInt(),
                expected.get("run_id").asText(),
                expected.get("mode").asText(),
                expected.get("users").isNull() ? null : expected.get("users").asLong(),
                expected.get("rate").isNull() ? null : expected.get("rate").asDouble(),
                null,
                expected.get("clock").asDouble());
        assertEquals(expectedGo, GateLine.decodeGo(line));
    }

    @ParameterizedTest
    @MethodSource("invalidLines")
    void invalidGoLinesAreRefused(String line) {
        assertThrows(GateProtocolException.class, () -> GateLine.decodeGo(line));
    }

    @Test
    void theVectorsAreThere() throws IOException {
        // an empty or missing file would make the parameterized tests pass vacuously
        assertEquals(true, vectors().get("valid").size() >= 5 && vectors().get("invalid").size() >= 20);
    }

    @Test
    void encodesTheLinesPythonDecodes() {
        assertArrayEquals("READY 4242\n".getBytes(StandardCharsets.US_ASCII), GateLine.ready(4242));
        assertArrayEquals("RELEASED 1764312345.123456\n".getBytes(StandardCharsets.US_ASCII),
                GateLine.released(1764312345.123456));
        assertArrayEquals("DONE 1764312346.000001\n".getBytes(StandardCharsets.US_ASCII),
                GateLine.done(1764312346.000001));
        for (double bad : new double[] {Double.NaN, Double.POSITIVE_INFINITY, 0, -1}) {
            assertThrows(IllegalArgumentException.class, () -> GateLine.released(bad));
        }
    }
}
