"""The fleet's clocks: measured before the start, corrected by each executor, re-measured during the run, reported.

Before the start every member's clock is measured against the controller's
(salvo.common.clocksync, over the authenticated status link) and each is told its
offset (ClockSet): start_at stays in the controller's time and each executor
converts it for its load tool, and its results back. The policy leaves out, before
the start and with the reason, an executor whose clock is further off than
SALVO_MAX_CLOCK_OFFSET or cannot be measured within SALVO_MAX_CLOCK_UNCERTAINTY;
the quorum rule decides the rest. During the run one exchange per executor every
RECHECK_SECONDS measures drift, which is reported, not corrected.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field

from salvo.common.clocksync import ClockEstimate, ClockSample, estimate
from salvo.controller.discovery import Fleet, Seen
from salvo.controller.parts import FleetLink
from salvo.controller.settings import ControllerSettings

log = logging.getLogger(__name__)

WARN_OFFSET_SECONDS = 0.050  # an executor further off than this is named in a warning (and corrected)
RECHECK_SECONDS = 10.0  # one clock exchange per executor this often during the run (drift)
MAX_RUN_SAMPLES = 64  # per executor: the shortest round trips matter, the rest is forgotten


@dataclass
class ExecutorClock:
    executor_id: str
    host: str
    at_start: ClockEstimate
    run_samples: list[ClockSample] = field(default_factory=list)

    @property
    def latest(self) -> ClockEstimate | None:
        """The offset measured during the run (the shortest round trip of its exchanges)."""
        return estimate(self.run_samples)

    @property
    def drift(self) -> float | None:
        latest = self.latest
        return None if latest is None else latest.offset - self.at_start.offset

    def to_dict(self) -> dict:
        drift = self.drift
        return {
            "offset_ms": round(self.at_start.offset * 1000, 3),
            "uncertainty_ms": round(self.at_start.uncertainty * 1000, 3),
            "samples": self.at_start.samples,
            "drift_ms": None if drift is None else round(drift * 1000, 3),
        }


@dataclass
class FleetClocks:
    """Every member's clock, keyed by host (what the link answers by)."""

    by_host: dict[str, ExecutorClock] = field(default_factory=dict)

    def add(self, host: str, sample: ClockSample) -> None:
        clock = self.by_host.get(host)
        if clock is None:
            return
        clock.run_samples.append(sample)
        if len(clock.run_samples) > MAX_RUN_SAMPLES:
            clock.run_samples.sort(key=lambda s: s.delay)
            del clock.run_samples[MAX_RUN_SAMPLES // 2 :]

    def by_executor(self) -> dict[str, ExecutorClock]:
        return {clock.executor_id: clock for clock in self.by_host.values()}

    def report(self) -> dict | None:
        """report.json's `clocks`: the fleet's figures and each executor's."""
        if not self.by_host:
            return None
        clocks = sorted(self.by_host.values(), key=lambda c: c.executor_id)
        furthest = max(clocks, key=lambda c: abs(c.at_start.offset))
        drifts = [abs(c.drift) for c in clocks if c.drift is not None]
        return {
            "corrected": True,
            "max_offset_ms": round(furthest.at_start.offset * 1000, 3),
            "max_offset_executor": furthest.executor_id,
            "max_uncertainty_ms": round(max(c.at_start.uncertainty for c in clocks) * 1000, 3),
            "max_drift_ms": round(max(drifts) * 1000, 3) if drifts else None,
            "executors": {c.executor_id: c.to_dict() for c in clocks},
            "line": self.line(),
        }

    def line(self) -> str:
        """The fleet line: 'clocks: max offset +412.0 ms (node-3), corrected; uncertainty <= 0.3 ms; ...'."""
        if not self.by_host:
            return "clocks: not measured"
        clocks = list(self.by_host.values())
        furthest = max(clocks, key=lambda c: abs(c.at_start.offset))
        drifts = [abs(c.drift) for c in clocks if c.drift is not None]
        drift = f"; drift <= {max(drifts) * 1000:.1f} ms" if drifts else ""
        return (
            f"clocks: max offset {furthest.at_start.offset * 1000:+.1f} ms ({furthest.executor_id}), corrected; "
            f"uncertainty <= {max(c.at_start.uncertainty for c in clocks) * 1000:.1f} ms{drift}"
        )


def _refusal(found_estimate: ClockEstimate | None, settings: ControllerSettings) -> str | None:
    if found_estimate is None:
        return "its clock could not be measured: no answer to the clock exchanges"
    if abs(found_estimate.offset) > settings.max_clock_offset:
        return (
            f"its clock is {found_estimate.offset * 1000:+.1f} ms off the controller's, more than "
            f"SALVO_MAX_CLOCK_OFFSET={settings.max_clock_offset:g}s"
        )
    if found_estimate.uncertainty > settings.max_clock_uncertainty:
        return (
            f"its clock could be measured only within +- {found_estimate.uncertainty * 1000:.1f} ms, more than "
            f"SALVO_MAX_CLOCK_UNCERTAINTY={settings.max_clock_uncertainty * 1000:g}ms"
        )
    return None


def _leave_out(link: FleetLink, found, reason: str) -> None:
    found.seen = Seen.CLOCK
    found.note = reason
    log.warning("leaving out %s", found.describe())
    link.remove_executor(found.host)


def synchronise(link: FleetLink, fleet: Fleet, settings: ControllerSettings) -> FleetClocks:
    """Measure every member's clock, leave out those the policy refuses, tell the rest their offsets."""
    members = fleet.members
    began = time.monotonic()
    estimates = link.measure_clocks([found.host for found in members])
    measuring_took = time.monotonic() - began
    kept: dict[str, ClockEstimate] = {}
    for found in members:
        reason = _refusal(estimates.get(found.host), settings)
        if reason:
            _leave_out(link, found, reason)
        else:
            kept[found.host] = estimates[found.host]
    acked = link.set_clocks(kept)
    clocks = FleetClocks()
    for found in fleet.members:
        if found.host not in acked:
            _leave_out(link, found, "it did not take its clock correction (no ClockAck)")
            continue
        measured = kept[found.host]
        clocks.by_host[found.host] = ExecutorClock(found.status.executor_id, found.host, measured)
        if abs(measured.offset) > WARN_OFFSET_SECONDS:
            log.warning(
                "executor %s: clock %s off the controller's; corrected", found.status.executor_id, measured.describe()
            )
    if clocks.by_host:
        log.info(
            "%s (measured in %.2f s, corrections taken in %.2f s)",
            clocks.line(),
            measuring_took,
            time.monotonic() - began - measuring_took,
        )
    return clocks
