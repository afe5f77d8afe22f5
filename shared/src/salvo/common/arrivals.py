"""Open-model load: a rate profile, its exact split across the fleet second by second, and arrival times.

A profile is task iterations per second over time, given as text (SALVO_FLEET_RATE,
SALVO_RATE) and parsed once into `RateProfile`:

    300                      300/s for as long as the run lasts
    100:30s,400:60s,0:10s    steps: 100/s for 30 s, then 400/s for 60 s, then none for 10 s
    100..400:60s,400         a ramp from 100/s to 400/s over 60 s, then 400/s until the run ends
    shape                    the locustfile's rate shape (salvo.rate.RateShape) says each second's rate

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

With `shape`, the fleet's counts come from a hook evaluated at whole seconds since start_at
(`shape_counts`): the rate it returns for second k is that second's, and the same floors of
the running sum give each second's count, so a hook is split exactly as a profile is.

Inside a second an executor's arrivals lie on an evenly spaced grid, offset by its
index so that the fleet's arrivals interleave (`Pattern.UNIFORM`), or at times drawn
uniformly at random with a generator seeded by run and index: a Poisson process given
the second's count (`Pattern.POISSON`). Above one arrival per BATCH_SECONDS, the
scheduler wakes on a BATCH_SECONDS grid and sends every arrival due by then
(`wake_offset`): each is at most that late, always inside its own second.

Stdlib only: this module is imported inside the locust process.
"""

from __future__ import annotations

import math
import numbers
import random
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from enum import Enum
from fractions import Fraction
from typing import Any

__all__ = [
    "BATCH_SECONDS",
    "MAX_PROFILE_CHARS",
    "MAX_RATE",
    "MAX_STAGES",
    "MAX_STAGE_SECONDS",
    "SHAPE",
    "ExecutorShare",
    "OpenModel",
    "Pattern",
    "RateProfile",
    "RateShape",
    "RateShapeError",
    "Stage",
    "arrival_offsets",
    "rate_shapes",
    "rate_value",
    "seeded_rng",
    "shape_counts",
    "split_second",
    "wake_offset",
]

MAX_STAGES = 20  # a profile travels on the GO line (at most 1,024 bytes with everything else)
MAX_PROFILE_CHARS = 400
MAX_RATE = 10_000_000  # arrivals per second of the whole fleet
MAX_STAGE_SECONDS = 7 * 86_400
SHAPE = "shape"  # the profile that says: the locustfile's rate shape gives each second's rate
# Above one arrival per BATCH_SECONDS, an executor's scheduler wakes once per BATCH_SECONDS and sends every
# arrival whose time came: its event loop serves a batch per wake-up instead of one arrival (the CPU this saves
# is in docs/open-model.md). Each arrival is then at most this late, and that lateness is in its corrected latency.
BATCH_SECONDS = 0.002
RATE_DIGITS = 6  # a hook's rate counts to the millionth, as a profile's: 0.1 is 1/10, not the float nearest it

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
    shaped: bool = False  # `shape`: no stages, the locustfile's rate shape says each second's rate

    @classmethod
    def parse(cls, text: str) -> RateProfile:
        """The profile `text` describes; ValueError with a one-line reason otherwise."""
        if not isinstance(text, str):
            raise ValueError("expected a rate profile such as 300 or 100:30s,400:60s")
        compact = text.replace(" ", "")
        if not compact:
            raise ValueError("expected a rate profile such as 300 or 100:30s,400:60s (got nothing)")
        if compact == SHAPE:
            return cls((), shaped=True)
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
        if self.shaped:
            return SHAPE
        return ",".join(stage.text() for stage in self.stages)

    def __str__(self) -> str:
        return self.text()

    @property
    def seconds(self) -> Fraction | None:
        """How long the profile lasts; None when its last stage holds until the run ends (or a shape ends it)."""
        if self.shaped or self.stages[-1].seconds is None:
            return None
        return sum((stage.seconds for stage in self.stages), Fraction(0))

    @property
    def peak(self) -> Fraction:
        self._staged()
        return max(max(stage.start, stage.end) for stage in self.stages)

    def _staged(self) -> None:
        if self.shaped:
            raise ValueError("a rate shape's arrivals come from the locustfile's hook, not from stages")

    def rate_at(self, t: float) -> float:
        """The rate at `t` seconds after the start (the chart's planned line)."""
        self._staged()
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
        self._staged()
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

    def counts(self) -> Iterator[int]:
        """The fleet's arrivals in seconds 0, 1, 2, ... (endless: the caller stops at the run's end)."""
        self._staged()
        floor_before, second = 0, 0
        while True:
            floor_after = math.floor(self.arrivals_until(second + 1))
            yield floor_after - floor_before
            floor_before = floor_after
            second += 1


class RateShapeError(ValueError):
    """A rate shape's hook raised, or returned something that is no rate (one line, naming the second)."""


def rate_value(value: object, run_time: float) -> Fraction | None:
    """A hook's answer for second `run_time` as an exact rate (to the millionth), or None (arrivals end).

    RateShapeError for anything else: a bool, a non-number, NaN, infinity, a negative rate, or one past MAX_RATE."""
    at = f"rate({run_time:g})"
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise RateShapeError(f"{at} returned {_shown(value)}: expected arrivals per second (a number >= 0) or None")
    if not math.isfinite(value):
        raise RateShapeError(f"{at} returned {value!r}: expected a finite number of arrivals per second")
    if value < 0:
        raise RateShapeError(f"{at} returned {value!r}: a rate cannot be negative")
    if value > MAX_RATE:
        raise RateShapeError(f"{at} returned {value!r}: more than {MAX_RATE} arrivals per second")
    scale = 10**RATE_DIGITS
    return Fraction(round(Fraction(value) * scale), scale)


def shape_counts(rate: Callable[[float], object]) -> Iterator[int]:
    """The fleet's arrivals in seconds 0, 1, 2, ... of a rate shape: `rate(k)` (seconds since start_at) is
    second k's rate, and second k has ⌊A(k+1)⌋ - ⌊A(k)⌋ arrivals, A the running sum of the rates (exact).

    Ends when the hook returns None; RateShapeError when it raises or returns no rate (the hook's own
    exception as one line, never its traceback)."""
    total, floor_before, second = Fraction(0), 0, 0
    while True:
        try:
            value = rate(float(second))
        except Exception as exc:  # whatever the hook does wrong is the scenario's error, said in one line
            detail = str(exc).splitlines()[0][:200] if str(exc) else ""
            raise RateShapeError(
                f"rate({second}) raised {type(exc).__name__}{': ' + detail if detail else ''}"
            ) from None
        per_second = rate_value(value, second)
        if per_second is None:
            return
        total += per_second
        floor_after = math.floor(total)
        yield floor_after - floor_before
        floor_before = floor_after
        second += 1


def _shown(value: object) -> str:
    text = repr(value)
    return text if len(text) <= 40 else f"a {type(value).__name__}"


def split_second(total: int, size: int, first: int) -> list[int]:
    """A second's `total` arrivals across `size` executors: ⌊total/size⌋ each, and one more for the
    total mod size executors from index `first` on (wrapping): the parts sum to `total` exactly."""
    base, extra = divmod(total, size)
    parts = [base] * size
    for step in range(extra):
        parts[(first + step) % size] += 1
    return parts


class ExecutorShare:
    """One executor's arrivals, second by second, of the fleet's counts split over a fleet of `size`.

    The remainder of each second goes round the fleet in turn: second k's first extra goes to
    the executor after the one that took second k-1's last, so every executor works out the same
    split alone, from the fleet's counts (the profile's, or a rate shape's) and its index."""

    def __init__(self, profile: RateProfile, index: int, size: int, fleet_counts: Iterator[int] | None = None) -> None:
        """`fleet_counts`: the fleet's count of each second (default: the profile's; a rate shape's
        `shape_counts` for a `shape` profile)."""
        if not 0 <= index < size:
            raise ValueError(f"index {index} is outside a fleet of {size}")
        self.profile, self.index, self.size = profile, index, size
        self.fleet_counts = fleet_counts

    def counts(self) -> Iterator[int]:
        """This executor's arrivals in seconds 0, 1, 2, ... (endless for a profile: the caller stops at the
        run's end; a rate shape's end when its hook returns None)."""
        turn = 0
        for total in self.fleet_counts if self.fleet_counts is not None else self.profile.counts():
            base, extra = divmod(total, self.size)
            yield base + (1 if (self.index - turn) % self.size < extra else 0)
            turn = (turn + extra) % self.size


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


def wake_offset(offset: float, count: int) -> float:
    """When, in its second, the scheduler wakes to send the arrival at `offset` of that second's `count`.

    At `offset` itself when the arrivals are sparse; above one per BATCH_SECONDS, at the next point of a
    BATCH_SECONDS grid, unless that point is the next second's start: no arrival leaves its own second."""
    if count * BATCH_SECONDS <= 1:
        return offset
    wake = math.ceil(offset / BATCH_SECONDS) * BATCH_SECONDS
    return wake if wake < 1 else offset


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

    def share(self, fleet_counts: Iterator[int] | None = None) -> ExecutorShare:
        """This executor's share; `fleet_counts` are a rate shape's (`shape_counts`) for a `shape` profile."""
        if self.profile.shaped and fleet_counts is None:
            raise ValueError("a `shape` profile is split from its rate shape's counts")
        return ExecutorShare(self.profile, self.position, self.members, fleet_counts)

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


class RateShape:
    """Subclass it in a locustfile (as salvo.rate.RateShape) and define `rate`; Salvo finds the subclass as locust
    finds a LoadTestShape.

    Checked while the executor arms: `rate` is called for the run's first seconds, and a shape that
    raises or answers something else than a number >= 0 or None is refused then, in one line."""

    abstract = True  # the base, and any subclass that sets it, is not a shape of its own

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if "abstract" not in cls.__dict__:
            cls.abstract = False

    def rate(self, run_time: float) -> float | None:
        """The fleet's arrivals per second during the second that starts `run_time` seconds after start_at
        (a whole number); None ends the arrivals."""
        raise NotImplementedError(f"{type(self).__name__} must define rate(self, run_time)")


def rate_shapes(namespace: dict[str, Any]) -> list[type[RateShape]]:
    """The rate shapes a locustfile defines (its module-level RateShape subclasses that are not abstract)."""
    found = []
    for value in namespace.values():
        if isinstance(value, type) and issubclass(value, RateShape) and not value.abstract and value not in found:
            found.append(value)
    return found
