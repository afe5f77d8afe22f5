"""Time as a part passed in: the run logic asks its clock, so tests can drive it with a fake one."""

from __future__ import annotations

import time
from typing import Protocol


class Clock(Protocol):
    def time(self) -> float:
        """Wall-clock time, seconds since the epoch (start_at and timings are in it)."""

    def monotonic(self) -> float:
        """Seconds on a clock that never jumps (timeouts and intervals)."""

    def sleep(self, seconds: float) -> None: ...


class SystemClock:
    def time(self) -> float:
        return time.time()

    def monotonic(self) -> float:
        return time.monotonic()

    def sleep(self, seconds: float) -> None:
        time.sleep(seconds)


class ControllerTime:
    """An executor's view of the controller's clock: its own clock less the measured offset.

    `offset` is this host's clock minus the controller's (seconds), set from the controller's
    measurement (salvo.common.clocksync) before a start is accepted, and frozen after: start_at,
    timings and series are all in the controller's time. `local` is the host's own clock, for
    what the load tool (which reads the host's clock) must be told, such as its gate's release."""

    def __init__(self, local: Clock, offset: float = 0.0):
        self.local = local
        self.offset = offset

    def time(self) -> float:
        return self.local.time() - self.offset

    def monotonic(self) -> float:
        return self.local.monotonic()

    def sleep(self, seconds: float) -> None:
        self.local.sleep(seconds)

    def to_local(self, controller_time: float) -> float:
        return controller_time + self.offset

    def from_local(self, local_time: float) -> float:
        return local_time - self.offset
