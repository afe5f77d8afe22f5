"""Regression thresholds against a baseline run (`SALVO_REGRESSION`), parsed once, before any load.

    p95+10%; p99+200ms; error_rate+0.5pp; rps-20%; label:GET /login:p99+15%

Each threshold is `[label:NAME:]METRIC SIGN VALUE UNIT`, separated by `;`; without
`label:` it applies to the run's overall figures. The sign is the direction in
which the metric gets worse, so it is fixed per metric:

- latencies (avg min max p50 p75 p90 p95 p99 p99.9, and an open-model run's
  p50_intended ... p99.9_intended max_intended, timed from the intended send time)
  rise: `+VALUE%` (relative to the baseline) or `+VALUE ms` / `+VALUE s` (absolute);
- `error_rate` rises: `+VALUE pp` only (percentage points: 0.2 % -> 0.7 % is +0.5 pp);
- `dropped` (an open-model run's arrivals dropped, as a share of those planned)
  rises: `+VALUE pp` only;
- `rps` falls: `-VALUE%` only (relative to the baseline).

A threshold is crossed when the change is strictly beyond VALUE; one that cannot
be evaluated (its label or metric absent from either run) fails, like a criterion
without data.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from enum import Enum

from salvo.controller.criteria import LATENCY_METRICS
from salvo.controller.figures import RunFigures


class Unit(str, Enum):
    PERCENT = "%"  # relative change: 100 * (new - base) / base
    POINTS = "pp"  # absolute change of a rate, in percentage points: 100 * (new - base)
    MS = "ms"  # absolute change of a latency, in milliseconds


RISING = {
    **dict.fromkeys(LATENCY_METRICS, (Unit.PERCENT, Unit.MS)),
    "error_rate": (Unit.POINTS,),
    "dropped": (Unit.POINTS,),
}
FALLING = {"rps": (Unit.PERCENT,)}
METRICS = {**RISING, **FALLING}
# a threshold's metric read as another figure of the report's row: `dropped` is a share there, as in criteria
FIGURE = {"dropped": "dropped_rate"}
SHARES = {"error_rate", "dropped", "dropped_rate"}  # fractions, shown as percentages

_THRESHOLD = re.compile(
    r"^(?P<metric>[a-z_]+[0-9.]*(?:_intended)?)\s*(?P<sign>[+-])\s*(?P<value>\d+(?:\.\d+)?)\s*(?P<unit>%|pp|ms|s)?$"
)
_EXAMPLES = "p95+10%, p99+200ms, error_rate+0.5pp or rps-20%"


class RegressionSyntaxError(ValueError):
    """A regression threshold could not be parsed; the message names it and the accepted syntax."""


@dataclass(frozen=True)
class Threshold:
    text: str
    metric: str
    unit: Unit
    limit: float  # how far the metric may move in its worse direction, in `unit` (ms for s)
    label: str | None = None

    @property
    def rising(self) -> bool:
        return self.metric in RISING


def change(base: float | None, new: float | None, unit: Unit) -> float | None:
    """The change from base to new in `unit`; None when either is unknown.

    A relative change from 0 is 0 when the value stayed 0, else infinite in its direction."""
    if base is None or new is None:
        return None
    if unit is Unit.PERCENT:
        if base == 0:
            return 0.0 if new == 0 else math.copysign(math.inf, new)
        return 100 * (new - base) / base
    if unit is Unit.POINTS:
        return 100 * (new - base)
    return new - base


@dataclass(frozen=True)
class ThresholdResult:
    threshold: Threshold
    base: float | None
    new: float | None
    change: float | None
    passed: bool

    @property
    def description(self) -> str:
        t = self.threshold
        if self.base is None or self.new is None:
            missing = " and ".join(
                side for side, v in (("the baseline", self.base), ("this run", self.new)) if v is None
            )
            return f"{t.text}: FAIL (no data in {missing})"
        return (
            f"{t.text}: {'pass' if self.passed else 'FAIL'} (base {format_value(t.metric, self.base)}, "
            f"new {format_value(t.metric, self.new)}, {format_change(self.change, t.unit)})"
        )


def parse(text: str | None | tuple[Threshold, ...]) -> tuple[Threshold, ...]:
    """`p95+10%; error_rate+0.5pp` -> thresholds; RegressionSyntaxError naming the first bad one."""
    if isinstance(text, tuple):
        return text
    if not text or not text.strip():
        return ()
    return tuple(_parse_one(part.strip()) for part in text.split(";") if part.strip())


def _parse_one(text: str) -> Threshold:
    label, body = None, text
    if body.startswith("label:"):
        name, sep, body = body[len("label:") :].rpartition(":")
        if not sep or not name:
            raise RegressionSyntaxError(f"{text!r}: expected label:NAME:METRIC+VALUE, e.g. label:GET /login:p99+15%")
        label = name
    match = _THRESHOLD.match(body.strip())
    if not match:
        raise RegressionSyntaxError(f"{text!r}: expected METRIC SIGN VALUE UNIT such as {_EXAMPLES}")
    metric, sign, value, unit = match["metric"], match["sign"], float(match["value"]), match["unit"]
    if metric not in METRICS:
        raise RegressionSyntaxError(f"{text!r}: unknown metric {metric!r}; known: {', '.join(sorted(METRICS))}")
    worse = "+" if metric in RISING else "-"
    allowed = METRICS[metric]
    spelled = {Unit.PERCENT: "%", Unit.POINTS: "pp (percentage points)", Unit.MS: "ms or s"}
    example = f"{metric}{worse}{'0.5pp' if allowed == (Unit.POINTS,) else '10%'}"
    if sign != worse:
        raise RegressionSyntaxError(
            f"{text!r}: {metric} gets worse as it {'rises' if worse == '+' else 'falls'}: write e.g. {example}"
        )
    parsed_unit = Unit.MS if unit in ("ms", "s") else Unit(unit) if unit else None
    if parsed_unit not in allowed:
        raise RegressionSyntaxError(
            f"{text!r}: {metric} takes {' or '.join(spelled[u] for u in allowed)}"
            f"{'' if unit else ' (a unit is required)'}, e.g. {example}"
        )
    limit = value * 1000 if unit == "s" else value
    return Threshold(text=text, metric=metric, unit=parsed_unit, limit=limit, label=label)


def evaluate(thresholds: tuple[Threshold, ...], base: RunFigures, new: RunFigures) -> list[ThresholdResult]:
    """Check each threshold on the figures of the baseline and of the new run."""
    results = []
    for threshold in thresholds:
        figure = FIGURE.get(threshold.metric, threshold.metric)
        before, after = base.value(threshold.label, figure), new.value(threshold.label, figure)
        moved = change(before, after, threshold.unit)
        if moved is None:
            passed = False
        elif threshold.rising:
            passed = moved <= threshold.limit
        else:
            passed = moved >= -threshold.limit
        results.append(ThresholdResult(threshold, before, after, moved, passed))
    return results


def format_value(metric: str, value: float | None) -> str:
    if value is None:
        return "-"
    if metric in SHARES:
        return f"{value * 100:.2f} %"
    if metric == "rps":
        return f"{value:.1f}/s"
    return f"{value:.1f} ms"


def format_change(value: float | None, unit: Unit) -> str:
    if value is None:
        return "-"
    if math.isinf(value):
        return "+inf %" if value > 0 else "-inf %"
    return f"{value:+.1f} {unit.value}" if unit is not Unit.POINTS else f"{value:+.2f} pp"
