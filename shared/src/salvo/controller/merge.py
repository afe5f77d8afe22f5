"""Merging executors' summaries exactly: counts summed, HDR histograms merged.

Percentiles are computed once, on the merged histogram - never averaged across
executors (what DLT reports, and what is wrong whenever executors differ).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from salvo.common.histogram import LatencyHistogram
from salvo.common.summary import Tally
from salvo.common.summary_schema import SeriesPoint, Summary, TallyPart
from salvo.controller.criteria import PERCENTILES


def stats_row(tally: Tally, duration_s: float | None, arrivals: ArrivalTotals | None = None) -> dict:
    """The figures a report or a criterion speaks of, for one label or overall (with an open model's
    latencies from the intended send time, `p99_intended`, and overall its arrivals)."""
    histogram = tally.histogram
    values = histogram.percentiles_ms(list(PERCENTILES))
    intended = {}
    if tally.intended is not None:
        timed = tally.intended.percentiles_ms(list(PERCENTILES))
        intended = {f"p{p:g}_intended": timed[p] for p in PERCENTILES}
        intended["max_intended"] = tally.intended.max_ms
    if arrivals is not None:
        intended.update(arrivals.row())
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
        **intended,
    }


@dataclass
class ArrivalTotals:
    """An open model's arrivals, fleet-wide: in total and per wall-clock second of their planned time."""

    seconds: dict[int, list[int]] = field(default_factory=dict)  # second -> [planned, sent, dropped]

    def add(self, second: int, planned: int, sent: int, dropped: int) -> None:
        cell = self.seconds.setdefault(second, [0, 0, 0])
        cell[0] += planned
        cell[1] += sent
        cell[2] += dropped

    def total(self, index: int) -> int:
        return sum(cell[index] for cell in self.seconds.values())

    @property
    def planned(self) -> int:
        return self.total(0)

    @property
    def sent(self) -> int:
        return self.total(1)

    @property
    def dropped(self) -> int:
        return self.total(2)

    def row(self) -> dict:
        """What criteria and the report read: counts, and dropped as a fraction of the planned arrivals."""
        planned = self.planned
        return {
            "planned": planned,
            "sent": self.sent,
            "dropped": self.dropped,
            "dropped_rate": self.dropped / planned if planned else 0.0,
        }

    def columns(self) -> dict:
        """Per second, as columns (report.json stays small)."""
        ordered = sorted(self.seconds.items())
        return {
            "t": [t for t, _ in ordered],
            "planned": [cell[0] for _, cell in ordered],
            "sent": [cell[1] for _, cell in ordered],
            "dropped": [cell[2] for _, cell in ordered],
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
    arrivals: ArrivalTotals | None = None  # an open-model run's (salvo.common.arrivals)

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
        return stats_row(self.totals, self.duration_s, self.arrivals)

    def label_rows(self) -> dict[str, dict]:
        return {label: stats_row(tally, self.duration_s) for label, tally in sorted(self.labels.items())}


def _add(tally: Tally, part: TallyPart | SeriesPoint) -> Tally:
    if isinstance(part, SeriesPoint):
        return tally.add_counts(part.requests, part.failures, part.user_errors, histogram=part.histogram)
    return tally.add_counts(
        part.requests,
        part.failures,
        part.user_errors,
        part.bytes,
        part.latency_sum_ms,
        part.histogram,
        part.codes,
        part.errors,
        part.intended_histogram,
    )


def merge_summaries(summaries: list[Summary]) -> MergedRun:
    """Summaries already checked whole (salvo.common.summary_schema.parse_summary): adding cannot fail."""
    totals = Tally()
    labels: dict[str, Tally] = {}
    series: dict[int, Tally] = {}
    first_requests: dict[str, float] = {}
    last_requests: list[float] = []
    per_executor: dict[str, dict] = {}
    executor_series: dict[str, dict[int, tuple[int, int]]] = {}
    contributors = []
    arrivals = ArrivalTotals() if any(summary.arrivals is not None for summary in summaries) else None
    for summary in summaries:
        executor = summary.executor_id
        contributors.append(executor)
        if arrivals is not None:
            for point in summary.series:
                if point.planned is not None:
                    arrivals.add(point.t, point.planned, point.sent, point.dropped)
        own = _add(Tally(), summary.totals)
        totals.merge(own)
        for label, part in summary.labels.items():
            if label not in labels:
                labels[label] = Tally()
            _add(labels[label], part)
        own_series = executor_series.setdefault(executor, {})
        for point in summary.series:
            if point.t not in series:
                series[point.t] = Tally.for_series()
            _add(series[point.t], point)
            requests, failures = own_series.get(point.t, (0, 0))
            own_series[point.t] = (requests + point.requests, failures + point.failures)
        timings = summary.timings
        if timings.first_request is not None:
            first_requests[executor] = timings.first_request
        if timings.last_request is not None:
            last_requests.append(timings.last_request)
        own_duration = (
            timings.last_request - timings.first_request
            if timings.first_request is not None and timings.last_request is not None
            else None
        )
        own_arrivals = None
        if summary.arrivals is not None:
            own_arrivals = ArrivalTotals(
                {0: [summary.arrivals.planned, summary.arrivals.sent, summary.arrivals.dropped]}
            )
        per_executor[executor] = stats_row(own, own_duration, own_arrivals)
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
        arrivals=arrivals,
    )


def averaged_percentile(summaries: list[Summary], percentile: float) -> float | None:
    """What a tool averaging per-executor percentiles would report (shown beside ours, never used)."""
    values = [LatencyHistogram.decode(s.totals.histogram).percentile_ms(percentile) for s in summaries]
    values = [v for v in values if v is not None]
    return sum(values) / len(values) if values else None
