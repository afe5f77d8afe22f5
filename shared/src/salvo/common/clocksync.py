"""Measuring an executor's clock against the controller's: NTP's four timestamps, the shortest round trip wins.

One exchange over the authenticated status link: the controller sends TimeProbe at t1
(its clock), the executor receives it at t2 and answers at t3 (its clock), the answer
arrives at t4 (the controller's clock). With roughly symmetric paths,

    offset = ((t2 - t1) + (t3 - t4)) / 2      the executor's clock minus the controller's
    delay  = (t4 - t1) - (t3 - t2)            the round trip, the executor's own time left out

and the true offset lies within delay / 2 of the estimate, whatever the asymmetry. Of
several exchanges the one with the smallest delay is kept (queueing only ever adds
delay), its delay / 2 reported as the uncertainty. Assumes each side's clock ticks at
the right rate during the exchanges (monotonic, no step): drift over a run is measured
by repeating the exchange and reported, not corrected.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass


@dataclass(frozen=True)
class ClockSample:
    """One exchange's four timestamps (seconds since the epoch, each on its own side's clock)."""

    sent: float  # t1, controller
    received: float  # t2, executor
    answered: float  # t3, executor
    returned: float  # t4, controller

    @property
    def offset(self) -> float:
        return ((self.received - self.sent) + (self.answered - self.returned)) / 2

    @property
    def delay(self) -> float:
        return max(0.0, (self.returned - self.sent) - (self.answered - self.received))

    @property
    def plausible(self) -> bool:
        values = (self.sent, self.received, self.answered, self.returned)
        return all(math.isfinite(v) for v in values) and self.returned >= self.sent and self.answered >= self.received


@dataclass(frozen=True)
class ClockEstimate:
    """The executor's clock minus the controller's, within +- uncertainty (seconds)."""

    offset: float
    uncertainty: float
    samples: int = 1
    measured_at: float = 0.0  # controller time of the exchange kept

    def describe(self) -> str:
        return f"{self.offset * 1000:+.1f} ms +- {self.uncertainty * 1000:.1f} ms"


def estimate(samples: Iterable[ClockSample]) -> ClockEstimate | None:
    """The estimate from the exchange with the smallest round trip; None without a plausible exchange."""
    usable = [s for s in samples if s.plausible]
    if not usable:
        return None
    best = min(usable, key=lambda s: s.delay)
    return ClockEstimate(offset=best.offset, uncertainty=best.delay / 2, samples=len(usable), measured_at=best.sent)
