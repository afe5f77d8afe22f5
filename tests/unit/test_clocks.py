"""Clock measurement and correction: NTP's four timestamps, the policy before the start, the executor's view."""

from __future__ import annotations

import json

import pytest

from salvo.common.clock import ControllerTime
from salvo.common.clocksync import ClockSample, estimate
from salvo.common.errors import ExitCode
from salvo.common.protocol import Start
from salvo.controller.discovery import TooFewExecutors
from tests.support.fakes import FakeClock
from tests.unit.test_controller import make, members, report


def exchange(offset: float, out: float, back: float, t1: float = 1000.0, held: float = 0.0001) -> ClockSample:
    """An exchange with a true offset and one-way delays `out` and `back` (seconds)."""
    t2 = t1 + out + offset
    t3 = t2 + held
    return ClockSample(t1, t2, t3, t3 - offset + back)


def test_symmetric_paths_give_the_true_offset_and_half_the_round_trip():
    sample = exchange(0.4, 0.002, 0.002)
    assert sample.offset == pytest.approx(0.4) and sample.delay == pytest.approx(0.004)


@pytest.mark.parametrize("offset", [-0.3, 0.0, 0.4, 5.0])
def test_the_shortest_round_trip_wins_and_its_half_bounds_the_error(offset):
    samples = [exchange(offset, 0.050, 0.001), exchange(offset, 0.0004, 0.0006), exchange(offset, 0.002, 0.030)]
    found = estimate(samples)
    assert found.samples == 3 and found.uncertainty == pytest.approx(0.0005)
    assert abs(found.offset - offset) <= found.uncertainty  # asymmetry costs at most half the round trip


def test_no_plausible_exchange_is_no_estimate():
    assert estimate([]) is None
    assert estimate([ClockSample(10.0, 5.0, 4.0, 11.0)]) is None  # answered before it was received
    assert estimate([ClockSample(10.0, float("nan"), 5.0, 11.0)]) is None


def test_the_executor_thinks_in_controller_time_and_tells_its_tool_local_time():
    local = FakeClock(2000.0)
    clock = ControllerTime(local, offset=0.4)
    assert clock.time() == pytest.approx(1999.6)
    assert clock.to_local(1999.6) == pytest.approx(2000.0) and clock.from_local(2000.0) == pytest.approx(1999.6)


def test_clocks_within_the_limit_are_corrected_and_reported(tmp_path):
    fleet_members = members(3)
    for member, offset in zip(fleet_members, (0.4, -0.3, 0.0), strict=True):
        member.clock_offset = offset
    controller, fleet = make(fleet_members, tmp_path)
    assert controller.run() == ExitCode.OK
    data = report(tmp_path)
    assert fleet.links[-1].clock_offsets == {"10.9.0.10": 0.4, "10.9.0.11": -0.3, "10.9.0.12": 0.0}
    assert data["clocks"]["max_offset_ms"] == 400.0 and data["clocks"]["max_offset_executor"] == "node-0"
    assert data["clocks"]["line"].startswith("clocks: max offset +400.0 ms (node-0), corrected")
    assert data["executors"]["node-1"]["clock"]["offset_ms"] == -300.0
    assert "clocks: max offset +400.0 ms" in (tmp_path / "report" / "report.html").read_text()


def test_a_clock_too_far_off_is_left_out_before_the_start_unless_the_limit_allows_it(tmp_path):
    fleet_members = members(3)
    fleet_members[2].clock_offset = 5.0
    controller, fleet = make(fleet_members, tmp_path, expected_executors=3, min_executors=2, short_fleet="pass")
    assert controller.run() == ExitCode.OK
    data = report(tmp_path)
    assert data["fleet"] == ["node-0", "node-1"] and data["verdict_notes"] == ["started with 2 of 3 expected executors"]
    controller, fleet = make(members(3), tmp_path, max_clock_offset="6s")
    fleet.members["10.9.0.12"].clock_offset = 5.0
    assert controller.run() == ExitCode.OK
    assert json.loads((tmp_path / "report" / "report.json").read_text())["clocks"]["max_offset_ms"] == 5000.0


def test_a_clock_off_or_unmeasurable_below_quorum_is_exit_3_naming_it(tmp_path):
    fleet_members = members(3)
    fleet_members[1].clock_offset = 5.0
    fleet_members[2].clock_answers = False
    controller, fleet = make(fleet_members, tmp_path)
    with pytest.raises(TooFewExecutors) as raised:
        controller.run()
    message = str(raised.value)
    assert "its clock is +5000.0 ms off the controller's, more than SALVO_MAX_CLOCK_OFFSET=2s" in message
    assert "its clock could not be measured" in message
    assert not any(link.of_type(Start) for link in fleet.links)  # no load
