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
