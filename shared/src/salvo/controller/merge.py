"""Merging executors' summaries exactly: counts summed, HDR histograms merged.

Percentiles are computed once, on the merged histogram - never averaged across
executors (what DLT reports, and what is wrong whenever executors differ).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from salvo.common.histogram import LatencyHistogram
from salvo.common.summary import Tally
from salvo.controller.criteria import PERCENTILES


def stats_row(tally: Tally, duration_s: float | None) -> dict:
    """The figures a report or a criterion speaks of, for one label or overall."""
    histogram = tally.histogram
    values = histogram.percentiles_ms(list(PERCENTILES))
    return {
        "requests": tally.requests,
        "failures": tally.failures,
        "user_errors": tally.user_errors,
        # a user error is a failed operation that sent no request
        "error_rate": tally.failures / (tally.requests + tally.user_errors) if tally.failures else 0.0,
        "rps": (tally.requests / duration_s) if duration_s else 0.0,
        "avg": tally.mean_ms,
        "min": histogram.min_ms,
        **{f"p{p:g}": values[p] for p in PERCENTILES},
        "max": histogram.max_ms,
    }


@dataclass
class MergedRun:
    contributors: list[str]
    totals: Tally
    labels: dict[str, Tally]
    series: dict[int, Tally]  # wall-clock second -> merged tally
    first_requests: dict[str, float]  # executor -> its first request
    first_request: float | None
    last_request: float | None
    per_executor: dict[str, dict] = field(default_factory=dict)  # executor -> its own stats row
    # executor -> wall-clock second -> (requests, failures): how each executor's load went over time
    executor_series: dict[str, dict[int, tuple[int, int]]] = field(default_factory=dict)

    @property
    def duration_s(self) -> float | None:
        if self.first_request is None or self.last_request is None:
            return None
        return max(self.last_request - self.first_request, 1e-9)

    @property
    def start_skew_ms(self) -> float | None:
        """Spread of the executors' first requests: how together the fleet started."""
        if len(self.first_requests) < 2:
            return 0.0 if self.first_requests else None
        return (max(self.first_requests.values()) - min(self.first_requests.values())) * 1000

    def overall(self) -> dict:
        return stats_row(self.totals, self.duration_s)

    def label_rows(self) -> dict[str, dict]:
        return {label: stats_row(tally, self.duration_s) for label, tally in sorted(self.labels.items())}


def merge_summaries(summaries: list[dict]) -> MergedRun:
    totals = Tally()
    labels: dict[str, Tally] = {}
    series: dict[int, Tally] = {}
    first_requests: dict[str, float] = {}
    last_requests: list[float] = []
    per_executor: dict[str, dict] = {}
    executor_series: dict[str, dict[int, tuple[int, int]]] = {}
    contributors = []
    for summary in summaries:
        executor = str(summary.get("executor_id", f"executor-{len(contributors)}"))
        contributors.append(executor)
        own = Tally.from_dict(summary.get("totals", {}))
        totals.merge(own)
        for label, data in (summary.get("labels") or {}).items():
            if label not in labels:
                labels[label] = Tally()
            labels[label].merge_dict(data)
        own_series = executor_series.setdefault(executor, {})
        for point in summary.get("series") or []:
            second = int(point["t"])
            if second not in series:
                series[second] = Tally.for_series()
            series[second].merge_dict(point)
            requests, failures = own_series.get(second, (0, 0))
            own_series[second] = (requests + int(point.get("requests", 0)), failures + int(point.get("failures", 0)))
        timings = summary.get("timings") or {}
        if timings.get("first_request") is not None:
            first_requests[executor] = float(timings["first_request"])
        if timings.get("last_request") is not None:
            last_requests.append(float(timings["last_request"]))
        own_duration = (
            timings["last_request"] - timings["first_request"]
            if timings.get("first_request") is not None and timings.get("last_request") is not None
            else None
        )
        per_executor[executor] = stats_row(own, own_duration)
    return MergedRun(
        contributors=contributors,
        totals=totals,
        labels=labels,
        series=dict(sorted(series.items())),
        first_requests=first_requests,
        first_request=min(first_requests.values()) if first_requests else None,
        last_request=max(last_requests) if last_requests else None,
        per_executor=per_executor,
        executor_series={executor: dict(sorted(points.items())) for executor, points in executor_series.items()},
    )


def averaged_percentile(summaries: list[dict], percentile: float) -> float | None:
    """What a tool averaging per-executor percentiles would report (shown beside ours, never used)."""
    values = [
        LatencyHistogram.decode((s.get("totals") or {}).get("histogram")).percentile_ms(percentile) for s in summaries
    ]
    values = [v for v in values if v is not None]
    return sum(values) / len(values) if values else None
