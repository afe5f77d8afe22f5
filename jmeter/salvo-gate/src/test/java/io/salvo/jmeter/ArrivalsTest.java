package io.salvo.jmeter;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Arrivals handed to free threads: on time, dropped when no thread took them in time, and written per second. */
class ArrivalsTest {

    private static OpenModel model(String profile, int position, int members, double maxLateness) {
        return new OpenModel(RateProfile.parse(profile), profile, position, members, false, 1, maxLateness);
    }

    private static List<JsonNode> lines(Path file) throws IOException {
        List<JsonNode> lines = new ArrayList<>();
        for (String line : Files.readAllLines(file)) {
            lines.add(new ObjectMapper().readTree(line));
        }
        return lines;
    }

    @Test
    void arrivalsComeOnTheirGridAndThoseNoThreadTookInTimeAreDropped(@TempDir Path dir) throws IOException {
        // executor 1 of 2 at 20/s: 10 a second, at (j + 0.75) / 10 of each second
        Arrivals arrivals = new Arrivals(model("20", 1, 2, 0.2), 1000.0, 1002.0, 0.0, "r", 1,
                dir.resolve("a.jsonl"));
        assertEquals(1000.075, arrivals.take(1000.0), 1e-9);  // early: the thread waits for it
        assertEquals(1000.175, arrivals.take(1000.0), 1e-9);
        // a thread free only at 1000.6: 0.275 and 0.375 are more than 0.2 s (+10 ms) late, 0.475 is not
        assertEquals(1000.475, arrivals.take(1000.6), 1e-9);
        arrivals.intended(1000_500L, "GET \"/\"", 40, 0.125);
        List<Double> taken = new ArrayList<>();
        for (int i = 0; i < 12; i++) {
            taken.add(arrivals.take(1001.2));  // 0.575 .. 0.975 of second 0 are late by more than 0.2 s
        }
        assertEquals(1001.075, taken.get(0), 1e-9);
        arrivals.end();
        List<JsonNode> written = lines(dir.resolve("a.jsonl"));
        JsonNode first = written.get(0).get("arrivals");
        assertEquals(1000, written.get(0).get("t").asLong());
        assertEquals(List.of(10, 3, 7), List.of(first.get("planned").asInt(), first.get("sent").asInt(),
                first.get("dropped").asInt()));
        JsonNode second = written.get(1).get("arrivals");
        assertEquals(10, second.get("planned").asInt());  // all taken at 1001.2 and sent (waiting for their time)
        assertEquals(second.get("planned").asInt(), second.get("sent").asInt() + second.get("dropped").asInt());
        JsonNode intended = written.stream().filter(line -> line.has("intended")).findFirst().orElseThrow();
        assertEquals("GET \"/\"", intended.get("label").asText());
        assertEquals(1, intended.get("intended").get(Long.toString(Arrivals.bucket(165_000))).asInt());
    }

    @Test
    void atTheEndArrivalsWhoseTimeCameAndThatNoThreadTookAreDropped(@TempDir Path dir) throws IOException {
        double now = GateLine.epochSeconds(Instant.now());
        double startAt = Math.floor(now) - 2;  // seconds 0 and 1 are over, second 2 has begun
        Arrivals arrivals = new Arrivals(model("10", 0, 1, 0.0), startAt, Double.POSITIVE_INFINITY, 0.0, "r", 0,
                dir.resolve("b.jsonl"));
        arrivals.end();
        List<JsonNode> written = lines(dir.resolve("b.jsonl"));
        assertTrue(written.size() >= 2, written.toString());
        for (int k = 0; k < 2; k++) {
            JsonNode cell = written.get(k).get("arrivals");
            assertEquals((long) startAt + k, written.get(k).get("t").asLong());
            assertEquals(List.of(10, 0, 10), List.of(cell.get("planned").asInt(), cell.get("sent").asInt(),
                    cell.get("dropped").asInt()));
        }
    }

    @Test
    void arrivalsEndWithTheProfileOrTheGroups() {
        Arrivals profileEnds = new Arrivals(model("4:1s", 0, 1, 0.0), 1000.0, Double.POSITIVE_INFINITY, 0.0, "r", 0,
                null);
        for (int i = 0; i < 4; i++) {
            assertTrue(profileEnds.take(999.0) < 1001.0);
        }
        assertTrue(Double.isNaN(profileEnds.take(999.0)));
        Arrivals groupsEnd = new Arrivals(model("4", 0, 1, 0.0), 1000.0, 1001.5, 0.0, "r", 0, null);
        for (int i = 0; i < 6; i++) {  // 0.125, 0.375, ... 1.375: all before the groups' end
            assertTrue(groupsEnd.take(999.0) < 1001.5);
        }
        assertTrue(Double.isNaN(groupsEnd.take(999.0)));
    }

    @Test
    void secondsAreCountedOnTheControllersClock(@TempDir Path dir) throws IOException {
        Arrivals arrivals = new Arrivals(model("2", 0, 1, 0.0), 1000.0, 1001.0, 0.5, "r", 0,
                dir.resolve("c.jsonl"));
        arrivals.take(999.0);  // planned at 1000.25 on this host: 999.75 on the controller's clock
        arrivals.end();
        assertEquals(999, lines(dir.resolve("c.jsonl")).get(0).get("t").asLong());
    }
}
