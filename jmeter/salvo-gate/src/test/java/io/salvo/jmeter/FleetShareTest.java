package io.salvo.jmeter;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import java.util.Map;
import org.junit.jupiter.api.Test;

class FleetShareTest {

    private static Go fleet(int index, int size) {
        return new Go(1764312345.0, index, size, "r1", "fleet", null, null);
    }

    @Test
    void fleetSharesAddUpToTheTotalAndDifferByAtMostOne() {
        for (int size = 1; size <= 7; size++) {
            for (long total = 0; total <= 23; total++) {
                long sum = 0;
                long min = Long.MAX_VALUE;
                long max = 0;
                for (int index = 0; index < size; index++) {
                    long share = FleetShare.shareOf(total, fleet(index, size));
                    sum += share;
                    min = Math.min(min, share);
                    max = Math.max(max, share);
                }
                assertEquals(total, sum, "total " + total + " over " + size);
                assertEquals(true, max - min <= 1);
            }
        }
        assertEquals(4, FleetShare.shareOf(10, fleet(0, 3)));
        assertEquals(3, FleetShare.shareOf(10, fleet(2, 3)));
    }

    @Test
    void perExecutorModeRunsTheWholeTotalOnEveryExecutor() {
        Go go = new Go(1764312345.0, 2, 3, "r1", "per-executor", null, null);
        assertEquals(10, FleetShare.shareOf(10, go));
    }

    @Test
    void propertiesForAGo() throws GateProtocolException {
        Map<String, String> props = FleetShare.properties(fleet(1, 3), " 10, 7,,2 ", "/data/rows.csv");
        assertEquals(Map.of("salvo.executor_index", "1", "salvo.fleet_size", "3", "salvo.run_id", "r1",
                "salvo.data_file", "/data/rows.csv", "salvo.share.of.10", "3", "salvo.share.of.7", "2",
                "salvo.share.of.2", "1"), props);
        assertEquals(3, FleetShare.properties(fleet(0, 1), null, null).size());
        assertEquals(3, FleetShare.properties(fleet(0, 1), "", null).size());
    }

    @Test
    void totalsThatAreNotWholeNumbersAreRefused() {
        for (String bad : new String[] {"ten", "1.5", "-3", "1e3"}) {
            assertThrows(GateProtocolException.class, () -> FleetShare.properties(fleet(0, 2), bad, null));
        }
    }

    @org.junit.jupiter.api.Test
    void fleetUsersGivenWithTheStartReplaceThePlansOwnCount() {
        Go go = new Go(1.0, 1, 3, "run", Go.FLEET, 4L, 2.0);
        assertEquals(4, FleetShare.shareOf(10, go));
        assertEquals(4, FleetShare.shareOf(2, go));
    }
}
