"""A run against a baseline: the per-label diff, the SALVO_REGRESSION thresholds, and `salvo compare BASE NEW`.

Changes are relative (%) for latencies and rps, and in percentage points (pp)
for the error rate, as `salvo.controller.regression` defines them. Against a
baseline made in rate mode (SALVO_FLEET_RATE, SALVO_RATE) the diff also holds the
latencies from the intended send time and the share of arrivals dropped: the
figures an open-model run is judged by. A closed-model baseline's diff is as before.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field

from salvo.common.errors import ExitCode
from salvo.common.store import Store
from salvo.controller.baseline import Baseline, read_run
from salvo.controller.figures import RunFigures, utc
from salvo.controller.regression import (
    SHARES,
    Threshold,
    ThresholdResult,
    Unit,
    change,
    evaluate,
    format_change,
)

TABLE_METRICS = {
    "p50": Unit.PERCENT,
    "p95": Unit.PERCENT,
    "p99": Unit.PERCENT,
    "rps": Unit.PERCENT,
    "error_rate": Unit.POINTS,
}
OPEN_MODEL_METRICS = {
    "p50_intended": Unit.PERCENT,
    "p95_intended": Unit.PERCENT,
    "p99_intended": Unit.PERCENT,
    "dropped_rate": Unit.POINTS,  # overall only: arrivals are counted for the fleet, not per label
}
HEADINGS = {
    "p50": "p50 ms",
    "p95": "p95 ms",
    "p99": "p99 ms",
    "rps": "rps",
    "error_rate": "error rate",
    "p50_intended": "p50 int ms",
    "p95_intended": "p95 int ms",
    "p99_intended": "p99 int ms",
    "dropped_rate": "dropped",
}
OVERALL = "OVERALL"
_CELL = (7, 7, 8)  # base, new, change


@dataclass
class Comparison:
    base: RunFigures
    new: RunFigures
    results: list[ThresholdResult] = field(default_factory=list)
    source: str | None = None  # where the baseline's report was read

    @property
    def regressions(self) -> list[ThresholdResult]:
        return [result for result in self.results if not result.passed]

    def labels(self) -> list[str]:
        return sorted(set(self.base.labels) | set(self.new.labels))

    @property
    def metrics(self) -> dict[str, Unit]:
        """The figures compared: an open-model baseline's also from the intended send time, and dropped."""
        return {**TABLE_METRICS, **OPEN_MODEL_METRICS} if self.base.open_model else TABLE_METRICS

    def diff(self, label: str | None) -> dict[str, dict]:
        """metric -> base, new, change and its unit, for one label (None: overall)."""
        return {
            metric: {
                "base": (b := self.base.value(label, metric)),
                "new": (n := self.new.value(label, metric)),
                "change": change(b, n, unit),
                "unit": unit.value,
            }
            for metric, unit in self.metrics.items()
        }

    def to_dict(self) -> dict:
        def for_json(diff: dict[str, dict]) -> dict[str, dict]:
            return {metric: {**values, "change": _finite(values["change"])} for metric, values in diff.items()}

        return {
            "run_id": self.base.run_id,
            "source": self.source,
            "start_at": self.base.start_at,
            "overall": for_json(self.diff(None)),
            "labels": {label: for_json(self.diff(label)) for label in self.labels()},
            "thresholds": [
                {
                    "threshold": r.threshold.text,
                    "label": r.threshold.label,
                    "metric": r.threshold.metric,
                    "limit": r.threshold.limit,
                    "unit": r.threshold.unit.value,
                    "base": r.base,
                    "new": r.new,
                    "change": _finite(r.change),
                    "passed": r.passed,
                }
                for r in self.results
            ],
            "regressed": bool(self.regressions),
        }

    def table(self) -> str:
        width = max(12, *(len(label) for label in self.labels()), 0)
        group = sum(_CELL) + len(_CELL) - 1
        metrics = self.metrics
        line = "+" + "-" * (width + 2) + ("+" + "-" * (group + 2)) * len(metrics) + "+"
        heads = "".join(f"| {HEADINGS[m]:^{group}} " for m in metrics)
        subheads = "".join(
            "| " + " ".join(f"{h:>{w}}" for h, w in zip(("base", "new", "change"), _CELL, strict=True)) + " "
            for _ in metrics
        )
        out = [
            f"comparison: base {_describe(self.base)} -> new {_describe(self.new)}",
            line,
            f"| {'label':<{width}} {heads}|",
            f"| {'':<{width}} {subheads}|",
            line,
        ]
        for name, label in [(OVERALL, None)] + [(label, label) for label in self.labels()]:
            cells = "".join(
                "| " + " ".join(f"{c:>{w}}" for c, w in zip(_cells(metric, d), _CELL, strict=True)) + " "
                for metric, d in self.diff(label).items()
            )
            out.append(f"| {name[:width]:<{width}} {cells}|")
        out.append(line)
        out += [f"  regression {result.description}" for result in self.results]
        return "\n".join(out)


def compare(
    base: RunFigures, new: RunFigures, thresholds: tuple[Threshold, ...], source: str | None = None
) -> Comparison:
    return Comparison(base, new, evaluate(thresholds, base, new), source)


def compare_to_baseline(
    baseline: Baseline | None, run_id: str, merged, start_at: float | None, thresholds: tuple[Threshold, ...]
) -> Comparison | None:
    """The controller's run (a MergedRun) against SALVO_BASELINE_RUN; None without a baseline."""
    if baseline is None:
        return None
    new = RunFigures(run_id, merged.overall(), merged.label_rows(), start_at=start_at)
    return compare(baseline.figures, new, thresholds, baseline.source)


def compare_runs(base: str, new: str, thresholds: tuple[Threshold, ...], store_factory: Callable[[], Store]) -> int:
    """`salvo compare BASE NEW`: print the diff; exit 1 past a threshold, 0 otherwise (2: unreadable report)."""
    comparison = compare(read_run(base, store_factory, "BASE"), read_run(new, store_factory, "NEW"), thresholds, base)
    print(comparison.table())
    crossed = comparison.regressions
    if not thresholds:
        print("no SALVO_REGRESSION thresholds set: nothing to judge")
    elif crossed:
        print(f"REGRESSION: {len(crossed)} of {len(thresholds)} threshold(s) crossed")
    else:
        print(f"no regression: {len(thresholds)} threshold(s) within bounds")
    return int(ExitCode.FAILED if crossed else ExitCode.OK)


def _finite(change: float | None) -> float | None:
    """JSON has no infinity: a relative change from 0 is left to base and new."""
    return None if change is None or math.isinf(change) else change


def _cells(metric: str, diff: dict) -> tuple[str, str, str]:
    return (
        _format(metric, diff["base"]),
        _format(metric, diff["new"]),
        _compact(format_change(diff["change"], Unit(diff["unit"]))),
    )


def _format(metric: str, value: float | None) -> str:
    if value is None:
        return "-"
    if metric in SHARES:
        return f"{value * 100:.2f}%"
    return f"{value:.1f}" if value < 100_000 else f"{value:.0f}"


def _compact(text: str) -> str:
    return text.replace(" ", "")


def _describe(run: RunFigures) -> str:
    return run.run_id if run.start_at is None else f"{run.run_id} ({utc(run.start_at)})"
