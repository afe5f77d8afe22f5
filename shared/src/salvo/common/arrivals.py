"""Open-model load: a rate profile, its exact split across the fleet second by second, and arrival times.

A profile is task iterations per second over time, given as text (SALVO_FLEET_RATE,
SALVO_RATE) and parsed once into `RateProfile`:

    300                      300/s for as long as the run lasts
    100:30s,400:60s,0:10s    steps: 100/s for 30 s, then 400/s for 60 s, then none for 10 s
    100..400:60s,400         a ramp from 100/s to 400/s over 60 s, then 400/s until the run ends

A stage without a duration holds until the run ends (only the last may omit it); after
the last timed stage the rate is 0.

Second k of the run (counted from start_at) has `fleet_arrivals(k)` arrivals for the
whole fleet: ⌊A(k+1)⌋ - ⌊A(k)⌋ where A(t) is the profile's integral, computed in exact
fractions, so fractional rates and ramps lose nothing over time. Each second's
arrivals are split across the fleet by largest remainder: every executor gets
⌊n/N⌋ and the remainder goes one each to the next executors in a round that
continues from second to second (`ExecutorShare`), so the shares sum to the fleet's
count in every second and no executor is ahead of another by more than one arrival
over any stretch of the run.

Inside a second an executor's arrivals lie on an evenly spaced grid, offset by its
index so that the fleet's arrivals interleave (`Pattern.UNIFORM`), or at times drawn
uniformly at random with a generator seeded by run and index: a Poisson process given
the second's count (`Pattern.POISSON`).

Stdlib only: this module is imported inside the locust process.
"""

from __future__ import annotations

import math
import random
import re
from collections.abc import Iterator
from dataclasses import dataclass
from enum import Enum
from fractions import Fraction

__all__ = [
    "MAX_PROFILE_CHARS",
    "MAX_RATE",
    "MAX_STAGES",
    "MAX_STAGE_SECONDS",
    "ExecutorShare",
    "OpenModel",
    "Pattern",
    "RateProfile",
    "Stage",
    "arrival_offsets",
    "seeded_rng",
    "split_second",
]

MAX_STAGES = 20  # a profile travels on the GO line (at most 1,024 bytes with everything else)
MAX_PROFILE_CHARS = 400
MAX_RATE = 10_000_000  # arrivals per second of the whole fleet
MAX_STAGE_SECONDS = 7 * 86_400

_NUMBER = r"\d+(?:\.\d{1,6})?"
_STAGE = re.compile(rf"({_NUMBER})(?:\.\.({_NUMBER}))?(?::(\d+(?:\.\d{{1,3}})?)(ms|s|m|h|d)?)?")
_UNIT = {"ms": Fraction(1, 1000), "s": Fraction(1), "m": Fraction(60), "h": Fraction(3600), "d": Fraction(86400)}


class Pattern(str, Enum):
    """Where arrivals fall inside a second (SALVO_ARRIVALS)."""

    UNIFORM = "uniform"
    POISSON = "poisson"


@dataclass(frozen=True)
class Stage:
    """From `start` to `end` arrivals per second, linearly, over `seconds` (None: until the run ends)."""

    start: Fraction
    end: Fraction
    seconds: Fraction | None

    def text(self) -> str:
        rate = _number(self.start) if self.start == self.end else f"{_number(self.start)}..{_number(self.end)}"
        return rate if self.seconds is None else f"{rate}:{_number(self.seconds)}s"

    def area(self, elapsed: Fraction) -> Fraction:
        """Arrivals in this stage's first `elapsed` seconds (elapsed within the stage)."""
        if self.seconds is None or self.start == self.end:
            return self.start * elapsed
        at = self.start + (self.end - self.start) * elapsed / self.seconds
        return (self.start + at) * elapsed / 2


@dataclass(frozen=True)
class RateProfile:
    """Arrivals per second over the run, fleet-wide (SALVO_FLEET_RATE) or per executor (SALVO_RATE)."""

    stages: tuple[Stage, ...]

    @classmethod
    def parse(cls, text: str) -> RateProfile:
        """The profile `text` describes; ValueError with a one-line reason otherwise."""
        if not isinstance(text, str):
            raise ValueError("expected a rate profile such as 300 or 100:30s,400:60s")
        compact = text.replace(" ", "")
        if not compact:
            raise ValueError("expected a rate profile such as 300 or 100:30s,400:60s (got nothing)")
        if len(compact) > MAX_PROFILE_CHARS:
            raise ValueError(f"a rate profile of {len(compact)} characters; at most {MAX_PROFILE_CHARS}")
        parts = compact.split(",")
        if len(parts) > MAX_STAGES:
            raise ValueError(f"{len(parts)} stages; a rate profile has at most {MAX_STAGES}")
        stages = []
        for number, part in enumerate(parts, 1):
            match = _STAGE.fullmatch(part)
            if match is None:
                raise ValueError(
                    f"stage {number} {part[:40]!r}: expected RATE, RATE:DURATION or FROM..TO:DURATION "
                    "(e.g. 300, 100:30s, 100..400:1m)"
                )
            start, end, amount, unit = match.groups()
            start_rate = Fraction(start)
            end_rate = Fraction(end) if end is not None else start_rate
            seconds = Fraction(amount) * _UNIT[unit or "s"] if amount is not None else None
            for rate in (start_rate, end_rate):
                if rate > MAX_RATE:
                    raise ValueError(f"stage {number}: {_number(rate)}/s exceeds {MAX_RATE}/s")
            if seconds is None:
                if number != len(parts):
                    raise ValueError(f"stage {number} {part!r}: only the last stage may go without a duration")
                if end is not None:
                    raise ValueError(f"stage {number} {part!r}: a ramp needs a duration (FROM..TO:DURATION)")
            elif not 0 < seconds <= MAX_STAGE_SECONDS:
                raise ValueError(f"stage {number} {part!r}: a duration from 1 ms to {MAX_STAGE_SECONDS} s")
            stages.append(Stage(start_rate, end_rate, seconds))
        return cls(tuple(stages))

    def text(self) -> str:
        """The canonical text (parse(p.text()) == p): what the Start and the GO line carry."""
        return ",".join(stage.text() for stage in self.stages)

    def __str__(self) -> str:
        return self.text()

    @property
    def seconds(self) -> Fraction | None:
        """How long the profile lasts; None when its last stage holds until the run ends."""
        if self.stages[-1].seconds is None:
            return None
        return sum((stage.seconds for stage in self.stages), Fraction(0))

    @property
    def peak(self) -> Fraction:
        return max(max(stage.start, stage.end) for stage in self.stages)

    def rate_at(self, t: float) -> float:
        """The rate at `t` seconds after the start (the chart's planned line)."""
        left = Fraction(t)
        for stage in self.stages:
            if stage.seconds is None or left < stage.seconds:
                if stage.seconds is None:
                    return float(stage.start)
                return float(stage.start + (stage.end - stage.start) * left / stage.seconds)
            left -= stage.seconds
        return 0.0

    def arrivals_until(self, t: int | Fraction) -> Fraction:
        """A(t): the fleet's arrivals in the first `t` seconds, exactly."""
        left, total = Fraction(t), Fraction(0)
        for stage in self.stages:
            if left <= 0:
                break
            span = left if stage.seconds is None else min(left, stage.seconds)
            total += stage.area(span)
            left -= span
        return total

    def fleet_arrivals(self, second: int) -> int:
        """Arrivals of the whole fleet in second `second` of the run (0-based)."""
        return math.floor(self.arrivals_until(second + 1)) - math.floor(self.arrivals_until(second))

    def fleet_counts(self, seconds: int) -> list[int]:
        """The fleet's arrivals in each of the first `seconds` seconds (one pass over the profile)."""
        floors = [math.floor(self.arrivals_until(k)) for k in range(seconds + 1)]
        return [floors[k + 1] - floors[k] for k in range(seconds)]


def split_second(total: int, size: int, first: int) -> list[int]:
    """A second's `total` arrivals across `size` executors: ⌊total/size⌋ each, and one more for the
    total mod size executors from index `first` on (wrapping): the parts sum to `total` exactly."""
    base, extra = divmod(total, size)
    parts = [base] * size
    for step in range(extra):
        parts[(first + step) % size] += 1
    return parts


class ExecutorShare:
    """One executor's arrivals, second by second, of a profile split over a fleet of `size`.

    The remainder of each second goes round the fleet in turn: second k's first extra goes to
    the executor after the one that took second k-1's last, so every executor works out the same
    split alone, from the profile and its index."""

    def __init__(self, profile: RateProfile, index: int, size: int) -> None:
        if not 0 <= index < size:
            raise ValueError(f"index {index} is outside a fleet of {size}")
        self.profile, self.index, self.size = profile, index, size

    def counts(self) -> Iterator[int]:
        """This executor's arrivals in seconds 0, 1, 2, ... (endless: the caller stops at the run's end)."""
        turn = 0
        floor_before = 0
        second = 0
        while True:
            floor_after = math.floor(self.profile.arrivals_until(second + 1))
            total = floor_after - floor_before
            base, extra = divmod(total, self.size)
            mine = base + (1 if (self.index - turn) % self.size < extra else 0)
            yield mine
            turn = (turn + extra) % self.size
            floor_before = floor_after
            second += 1


def arrival_offsets(
    count: int, index: int, size: int, pattern: Pattern, rng: random.Random | None = None
) -> list[float]:
    """Where `count` arrivals fall inside a second, as sorted offsets in [0, 1).

    UNIFORM: an even grid, shifted by the executor's place so the fleet's grids interleave.
    POISSON: independent uniform times (a Poisson process given the count), from `rng`."""
    if count <= 0:
        return []
    if pattern is Pattern.POISSON:
        draw = (rng or random.Random()).random  # noqa: S311 -- a load pattern, not a secret
        return sorted(draw() for _ in range(count))
    phase = (index + 0.5) / size
    return [(j + phase) / count for j in range(count)]


def seeded_rng(run_id: str, index: int) -> random.Random:
    """The Poisson draws of executor `index` in run `run_id`: the same on every re-run of that pairing."""
    return random.Random(f"salvo-arrivals/{run_id}/{index}")  # noqa: S311 -- a load pattern, not a secret


def _number(value: Fraction) -> str:
    if value.denominator == 1:
        return str(value.numerator)
    return f"{float(value):.6f}".rstrip("0").rstrip(".")


@dataclass(frozen=True)
class OpenModel:
    """What a load tool needs to run its share of an open-model load: told on the GO line (`encode`).

    `position` of `members` is its place in the split: the fleet's index and size with SALVO_FLEET_RATE,
    0 of 1 with the executor's own SALVO_RATE."""

    profile: RateProfile
    position: int = 0
    members: int = 1
    pattern: Pattern = Pattern.UNIFORM
    max_users: int = 1_000  # the pool of users grows up to this many
    max_lateness: float = 0.0  # seconds an arrival may wait for a free user (at max_users) before it is dropped

    def __post_init__(self) -> None:
        if not 0 <= self.position < self.members:
            raise ValueError(f"position {self.position} is outside a split of {self.members}")
        if self.max_users < 1 or not (math.isfinite(self.max_lateness) and 0 <= self.max_lateness <= 86_400):
            raise ValueError("max_users must be >= 1 and max_lateness within a day")

    def share(self) -> ExecutorShare:
        return ExecutorShare(self.profile, self.position, self.members)

    def encode(self) -> str:
        """One word: profile;pattern;max_users;max_lateness;position/members."""
        return (
            f"{self.profile.text()};{self.pattern.value};{self.max_users};{self.max_lateness!r};"
            f"{self.position}/{self.members}"
        )

    @classmethod
    def decode(cls, text: str) -> OpenModel:
        """The open model `encode` wrote; ValueError for anything else."""
        parts = text.split(";")
        if len(parts) != 5:
            raise ValueError(f"expected profile;pattern;max_users;max_lateness;position/members, got {text[:80]!r}")
        profile, pattern, max_users, max_lateness, place = parts
        position, slash, members = place.partition("/")
        if not slash:
            raise ValueError(f"expected position/members, got {place[:40]!r}")
        return cls(
            profile=RateProfile.parse(profile),
            position=int(position),
            members=int(members),
            pattern=Pattern(pattern),
            max_users=int(max_users),
            max_lateness=float(max_lateness),
        )
