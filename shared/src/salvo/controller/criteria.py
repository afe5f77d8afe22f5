"""Pass/fail criteria (`SALVO_CRITERIA`) parsed before any load and evaluated on merged data.

    p95<500ms; p99<1s; error_rate<1%; rps>=100; label:GET /login:p95<300ms

Each criterion is `[label:NAME:]METRIC OP VALUE[UNIT]`, separated by `;`.
Latencies take ms or s (default ms); rates take % (or a fraction); counts are plain.
An open-model run (SALVO_FLEET_RATE, SALVO_RATE) adds the latencies from the intended
send time (`p99_intended`, ...) and its arrivals: `dropped<0.1%` (of those planned; a
plain number counts them), `planned`, `sent`.
"""

from __future__ import annotations

import operator
import re
from collections.abc import Callable
from dataclasses import dataclass

PERCENTILES = (50.0, 75.0, 90.0, 95.0, 99.0, 99.9)  # every one a criterion may name is computed by the merge
INTENDED_METRICS = {*(f"p{p:g}_intended" for p in PERCENTILES), "max_intended"}  # open model (merge.stats_row)
LATENCY_METRICS = {"avg", "min", "max", *(f"p{p:g}" for p in PERCENTILES), *INTENDED_METRICS}
RATE_METRICS = {"error_rate", "dropped_rate"}
COUNT_METRICS = {"requests", "failures", "user_errors", "rps", "planned", "sent", "dropped"}
METRICS = LATENCY_METRICS | RATE_METRICS | COUNT_METRICS

OPERATORS: dict[str, Callable[[float, float], bool]] = {
    "<=": operator.le,
    ">=": operator.ge,
    "==": operator.eq,
    "<": operator.lt,
    ">": operator.gt,
}

_CRITERION = re.compile(
    r"^(?P<metric>[a-z_]+[0-9.]*(?:_[a-z]+)?)\s*(?P<op><=|>=|==|<|>)\s*(?P<value>\d+(?:\.\d+)?)\s*(?P<unit>ms|s|%)?$"
)


class CriteriaSyntaxError(ValueError):
    """A criterion could not be parsed; the message names it and the accepted syntax."""


@dataclass(frozen=True)
class Criterion:
    text: str
    metric: str
    op: str
    threshold: float  # ms for latencies, a fraction for rates, plain for counts
    label: str | None = None
    default: bool = False  # applied because SALVO_CRITERIA was not set

    def check(self, value: float | None) -> bool:
        return value is not None and OPERATORS[self.op](value, self.threshold)

    @property
    def name(self) -> str:
        return self.text


@dataclass(frozen=True)
class CriterionResult:
    criterion: Criterion
    value: float | None
    passed: bool

    @property
    def description(self) -> str:
        shown = "no data" if self.value is None else _format(self.criterion.metric, self.value)
        default = (
            " [default: no failed request, as locust; SALVO_CRITERIA=none accepts any outcome]"
            if self.criterion.default
            else ""
        )
        return f"{self.criterion.text}: {'pass' if self.passed else 'FAIL'} (measured {shown}){default}"


# What a run is held to when SALVO_CRITERIA is not set: locust's own rule (exit 1 on any failed request).
DEFAULT_CRITERIA = (Criterion(text="failures==0", metric="failures", op="==", threshold=0.0, default=True),)
NONE = "none"  # SALVO_CRITERIA=none: the explicit way to accept any outcome


def parse(text: str | None | tuple[Criterion, ...]) -> tuple[Criterion, ...]:
    """`p95<500ms; error_rate<1%` -> criteria (`none`: no criterion); CriteriaSyntaxError naming the first bad one."""
    if isinstance(text, tuple):
        return text
    if not text or not text.strip() or text.strip().lower() == NONE:
        return ()
    return tuple(_parse_one(part.strip()) for part in text.split(";") if part.strip())


def _parse_one(text: str) -> Criterion:
    label = None
    body = text
    if body.startswith("label:"):
        name, sep, body = body[len("label:") :].rpartition(":")
        if not sep or not name:
            raise CriteriaSyntaxError(f"{text!r}: expected label:NAME:METRIC<VALUE, e.g. label:GET /login:p95<300ms")
        label = name
    match = _CRITERION.match(body.strip())
    if not match:
        raise CriteriaSyntaxError(f"{text!r}: expected METRIC OP VALUE such as p95<500ms, error_rate<1% or rps>=100")
    metric, op, value, unit = match["metric"], match["op"], float(match["value"]), match["unit"]
    if metric == "dropped" and unit == "%":
        metric = "dropped_rate"  # dropped<0.1%: a share of the arrivals planned, not a count
    if metric not in METRICS:
        raise CriteriaSyntaxError(f"{text!r}: unknown metric {metric!r}; known: {', '.join(sorted(METRICS))}")
    if metric in LATENCY_METRICS:
        if unit == "%":
            raise CriteriaSyntaxError(f"{text!r}: a latency takes ms or s, not %")
        threshold = value * 1000 if unit == "s" else value
    elif metric in RATE_METRICS:
        if unit in ("ms", "s"):
            raise CriteriaSyntaxError(f"{text!r}: a rate takes % or a fraction, not {unit}")
        threshold = value / 100 if unit == "%" else value
    else:
        if unit:
            raise CriteriaSyntaxError(f"{text!r}: {metric} is a plain number, without {unit}")
        threshold = value
    return Criterion(text=text, metric=metric, op=op, threshold=threshold, label=label)


def evaluate(criteria: tuple[Criterion, ...], overall: dict, labels: dict[str, dict]) -> list[CriterionResult]:
    """Check each criterion against stats rows (keys as in merge's stats rows: p95, error_rate, rps ...)."""
    results = []
    for criterion in criteria:
        row = overall if criterion.label is None else labels.get(criterion.label)
        value = None if row is None else row.get(criterion.metric)
        results.append(CriterionResult(criterion, value, criterion.check(value)))
    return results


def _format(metric: str, value: float) -> str:
    if metric in LATENCY_METRICS:
        return f"{value:.1f} ms"
    if metric in RATE_METRICS:
        return f"{value * 100:.2f} %"
    return f"{value:g}"
