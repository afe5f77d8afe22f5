package io.salvo.jmeter;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertThrows;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

/** The shared open-model vectors (tests/vectors/arrivals.json, also run by tests/unit/test_arrivals_vectors.py). */
class RateProfileTest {

    private static JsonNode vectors() throws IOException {
        return new ObjectMapper().readTree(Path.of(System.getProperty("salvo.arrival.vectors")).toFile());
    }

    private static Stream<JsonNode> items(String name) throws IOException {
        List<JsonNode> items = new ArrayList<>();
        vectors().get(name).forEach(items::add);
        return items.stream();
    }

    static Stream<JsonNode> splits() throws IOException {
        return items("splits");
    }

    static Stream<JsonNode> goLines() throws IOException {
        return items("go_lines");
    }

    static Stream<JsonNode> offsets() throws IOException {
        return items("uniform_offsets");
    }

    static Stream<String> invalid() throws IOException {
        return items("invalid_profiles").map(JsonNode::asText);
    }

    private static long[] longs(JsonNode array) {
        long[] values = new long[array.size()];
        for (int i = 0; i < values.length; i++) {
            values[i] = array.get(i).asLong();
        }
        return values;
    }

    @ParameterizedTest
    @MethodSource("splits")
    void eachExecutorsShareIsTheOnePythonComputes(JsonNode split) {
        RateProfile profile = RateProfile.parse(split.get("profile").asText());
        int members = split.get("members").asInt();
        for (int index = 0; index < members; index++) {
            long[] expected = longs(split.get("counts").get(index));
            assertArrayEquals(expected, profile.counts(index, members, expected.length), split + " index " + index);
        }
    }

    @ParameterizedTest
    @MethodSource("goLines")
    void goLinesCarryTheOpenModel(JsonNode go) throws GateProtocolException {
        OpenModel model = GateLine.decodeGo(go.get("line").asText()).open();
        assertNotNull(model);
        assertEquals(go.get("profile").asText(), model.text());
        assertEquals(go.get("position").asInt(), model.position());
        assertEquals(go.get("members").asInt(), model.members());
        assertEquals(go.get("poisson").asBoolean(), model.poisson());
        assertEquals(go.get("max_users").asInt(), model.maxUsers());
        assertEquals(go.get("max_lateness").asDouble(), model.maxLateness());
        long[] expected = longs(go.get("counts"));
        assertArrayEquals(expected, model.counts(expected.length));
    }

    @ParameterizedTest
    @MethodSource("offsets")
    void uniformArrivalsFallWherePythonPutsThem(JsonNode item) {
        OpenModel model = new OpenModel(RateProfile.parse("1"), "1", item.get("index").asInt(),
                item.get("size").asInt(), false, 1, 0.0);
        double[] offsets = model.offsets(item.get("count").asLong(), null);
        assertEquals(item.get("offsets").size(), offsets.length);
        for (int i = 0; i < offsets.length; i++) {
            assertEquals(item.get("offsets").get(i).asDouble(), offsets[i], 1e-15);
        }
    }

    @ParameterizedTest
    @MethodSource("invalid")
    void invalidProfilesAreRefused(String text) {
        assertThrows(IllegalArgumentException.class, () -> RateProfile.parse(text));
    }

    @Test
    void aGoLineWithABrokenOpenModelIsRefused() {
        for (String open : List.of("100", "100;uniform;1;0.0;2/2", "100;sideways;1;0.0;0/1", "x;uniform;1;0.0;0/1",
                "100;uniform;0;0.0;0/1", "100;uniform;1;nan;0/1")) {
            assertThrows(GateProtocolException.class,
                    () -> GateLine.decodeGo("GO 1764312345.5 index=0 size=1 mode=per-executor open=" + open), open);
        }
    }

    @Test
    void poissonDrawsAreSortedAndRepeatable() {
        OpenModel model = new OpenModel(RateProfile.parse("50"), "50", 0, 1, true, 1, 0.0);
        double[] first = model.offsets(50, new java.util.Random(7));
        assertArrayEquals(first, model.offsets(50, new java.util.Random(7)));
        for (int i = 1; i < first.length; i++) {
            assertEquals(true, first[i - 1] <= first[i] && first[i] < 1.0);
        }
    }
}
