"""Merging executors' summaries exactly: counts summed, HDR histograms merged.

Percentiles are computed once, on the merged histogram - never averaged across
executors (what DLT reports, and what is wrong whenever executors differ).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Protocol

from salvo.common.histogram import LatencyHistogram
from salvo.common.summary import Tally
from salvo.common.summary_schema import SeriesPoint, Summary, TallyPart
from salvo.controller.criteria import PERCENTILES

# Per-executor series beyond this many executors would be noise on a chart and megabytes in report.json.
MAX_EXECUTOR_SERIES = 24


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
    # executor -> wall-clock second -> (requests, failures): how each executor's load went over time, for the
    # first MAX_EXECUTOR_SERIES executors by id (what the report shows: all of them would be executors x seconds)
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


class ExactSum:
    """A sum of floats exact whatever the order they come in, rounded once when read.

    Summaries are merged as they arrive, in no fixed order; float addition is not associative,
    so a running float would differ from run to run in its last digits. Each float is an exact
    integer multiple of 2**-1074, so their sum is kept as that integer."""

    SCALE = 1074  # the smallest subnormal double is 2**-1074

    def __init__(self) -> None:
        self._units = 0
        self.known = True  # False once a contributor did not say (an older summary): the sum is None

    def add(self, value: float | None) -> None:
        if value is None:
            self.known = False
            return
        numerator, denominator = float(value).as_integer_ratio()  # denominator: a power of 2, at most 2**1074
        self._units += numerator << (self.SCALE - denominator.bit_length() + 1)

    @property
    def value(self) -> float | None:
        return self._units / (1 << self.SCALE) if self.known else None  # int / int rounds correctly


class _FirstSeen:
    """Names (labels, codes, error messages) in the order a merge in executor order would first meet them.

    The rank of a name is (executor id, its place in that executor's list): known however late that
    executor's summary arrives, so the merged order does not depend on the arrival order."""

    def __init__(self) -> None:
        self.rank: dict[str, tuple[str, int]] = {}

    def see(self, name: str, executor: str, place: int) -> None:
        rank = (executor, place)
        known = self.rank.get(name)
        if known is None or rank < known:
            self.rank[name] = rank

    def ordered(self, names):
        return sorted(names, key=self.rank.__getitem__)


class _TallyMerger:
    """One merged tally (the totals, or a label) fed part by part in any order; exact and in executor order."""

    def __init__(self) -> None:
        self.tally = Tally()
        self.latency = ExactSum()
        # Uncapped until the end: which codes a cap keeps depends on the order they were first met in.
        self.codes: dict[str, int] = {}
        self.errors: dict[str, int] = {}
        self.code_order = _FirstSeen()
        self.error_order = _FirstSeen()

    def add(self, executor: str, part: TallyPart, codes: dict[str, int], errors: dict[str, int]) -> None:
        """`part`'s counts and histograms; its codes and errors as given (the totals': as capped per executor)."""
        self.tally.add_counts(part.requests, part.failures, part.user_errors, part.bytes, 0.0, part.histogram)
        if part.intended_histogram:
            self.tally.add_counts(0, 0, intended=part.intended_histogram)
        self.latency.add(part.latency_sum_ms)
        for place, (code, count) in enumerate(codes.items()):
            self.codes[code] = self.codes.get(code, 0) + count
            self.code_order.see(code, executor, place)
        for place, (message, count) in enumerate(errors.items()):
            self.errors[message] = self.errors.get(message, 0) + count
            self.error_order.see(message, executor, place)

    def result(self) -> Tally:
        """The tally a merge in executor order makes: each name added at its first meeting, with its whole count
        (a cap keeps the same names and folds the same rest as adding them one executor at a time would)."""
        tally = self.tally
        tally.add_counts(
            0,
            0,
            codes={code: self.codes[code] for code in self.code_order.ordered(self.codes)},
            errors={message: self.errors[message] for message in self.error_order.ordered(self.errors)},
        )
        tally.latency_sum_ms = self.latency.value
        return tally


class RunMerger:
    """Summaries merged one at a time as they are counted, in any order: `result()` is what merging them all at
    once, in executor order, gives (salvo.controller.merge.merge_summaries).

    It keeps the merged figures (labels x seconds), one stats row per executor and the per-second load of
    the first `series_executors` executors by id (all the report shows): never a whole summary."""

    def __init__(self, series_executors: int = MAX_EXECUTOR_SERIES) -> None:
        self._series_executors = series_executors
        self._contributors: set[str] = set()
        self._totals = _TallyMerger()
        self._labels: dict[str, _TallyMerger] = {}
        self._label_order = _FirstSeen()
        self._series: dict[int, Tally] = {}
        self._first_requests: dict[str, float] = {}
        self._last_request: float | None = None
        self._per_executor: dict[str, dict] = {}
        self._executor_series: dict[str, dict[int, tuple[int, int]]] = {}
        self._arrivals: ArrivalTotals | None = None
        self._result: MergedRun | None = None
        self._own_histograms = (LatencyHistogram(), LatencyHistogram())

    def add(self, summary: Summary) -> None:
        """One summary checked whole (salvo.common.summary_schema.parse_summary): adding cannot fail."""
        executor = summary.executor_id
        if self._result is not None:
            raise ValueError(f"the summary of {executor} came after the merge was read")
        if executor in self._contributors:
            raise ValueError(f"the summary of {executor} was merged already")
        self._contributors.add(executor)
        if summary.arrivals is not None:  # only such a summary has arrivals per second (the schema's check)
            if self._arrivals is None:
                self._arrivals = ArrivalTotals()
            for point in summary.series:
                if point.planned is not None:
                    self._arrivals.add(point.t, point.planned, point.sent, point.dropped)
        row, codes, errors = self._own_row(summary)
        self._per_executor[executor] = row
        self._totals.add(executor, summary.totals, codes, errors)
        for place, (label, part) in enumerate(summary.labels.items()):
            if label not in self._labels:
                self._labels[label] = _TallyMerger()
            self._labels[label].add(executor, part, part.codes, part.errors)
            self._label_order.see(label, executor, place)
        own_series = self._own_series(executor)
        for point in summary.series:
            if point.t not in self._series:
                self._series[point.t] = Tally.for_series()
            _add(self._series[point.t], point)
            if own_series is not None:
                requests, failures = own_series.get(point.t, (0, 0))
                own_series[point.t] = (requests + point.requests, failures + point.failures)
        timings = summary.timings
        if timings.first_request is not None:
            self._first_requests[executor] = timings.first_request
        if timings.last_request is not None:
            self._last_request = max(timings.last_request, self._last_request or timings.last_request)

    def _own_row(self, summary: Summary) -> tuple[dict, dict[str, int], dict[str, int]]:
        """The executor's own stats row, and its codes and errors as adding its totals to a tally caps them.

        Its histograms are this merger's two, emptied for each executor: a new one per executor would be a
        reference cycle left to the garbage collector (salvo.common.histogram.LatencyHistogram.reset), and
        those piled up by the megabyte between collections."""
        histogram, intended = self._own_histograms
        totals = summary.totals
        own = Tally(histogram=histogram.reset(), intended=intended.reset() if totals.intended_histogram else None)
        _add(own, totals)
        timings = summary.timings
        duration = (
            timings.last_request - timings.first_request
            if timings.first_request is not None and timings.last_request is not None
            else None
        )
        arrivals = None
        if summary.arrivals is not None:
            arrivals = ArrivalTotals({0: [summary.arrivals.planned, summary.arrivals.sent, summary.arrivals.dropped]})
        return stats_row(own, duration, arrivals), own.codes, own.errors

    def _own_series(self, executor: str) -> dict[int, tuple[int, int]] | None:
        """Where this executor's per-second load goes, if it is among the first `series_executors` by id so far
        (a later, lower id pushes the highest out)."""
        kept = self._executor_series
        if len(kept) >= self._series_executors:
            highest = max(kept)
            if executor > highest:
                return None
            del kept[highest]
        return kept.setdefault(executor, {})

    def result(self) -> MergedRun:
        """The merged run (read once: the merger is spent, and the same run is returned again)."""
        if self._result is not None:
            return self._result
        contributors = sorted(self._contributors)
        first_requests = {e: self._first_requests[e] for e in contributors if e in self._first_requests}
        arrivals = self._arrivals
        if arrivals is not None:
            arrivals.seconds = dict(sorted(arrivals.seconds.items()))
        self._result = MergedRun(
            contributors=contributors,
            totals=self._totals.result(),
            labels={label: self._labels[label].result() for label in self._label_order.ordered(self._labels)},
            series=dict(sorted(self._series.items())),
            first_requests=first_requests,
            first_request=min(first_requests.values()) if first_requests else None,
            last_request=self._last_request,
            per_executor={e: self._per_executor[e] for e in contributors},
            executor_series={e: dict(sorted(points.items())) for e, points in sorted(self._executor_series.items())},
            arrivals=arrivals,
        )
        return self._result


class FleetMerger:
    """The run's merge and each region's (executors that named a region), fed in one pass as summaries are counted."""

    def __init__(self) -> None:
        self.run = RunMerger()
        self._regions: dict[str, RunMerger] = {}

    def add(self, summary: Summary) -> None:
        self.run.add(summary)
        if summary.region is not None:
            if summary.region not in self._regions:
                self._regions[summary.region] = RunMerger()
            self._regions[summary.region].add(summary)

    def regions(self) -> dict[str, MergedRun]:
        """Each region's merged run, by region name; {} when no executor named one."""
        return {region: merger.result() for region, merger in sorted(self._regions.items())}


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


def merge_summaries(summaries: Iterable[Summary]) -> MergedRun:
    """Summaries already checked whole (salvo.common.summary_schema.parse_summary) merged at once: for callers
    holding them all (tests, benchmarks); the controller feeds a RunMerger as it counts them."""
    merger = RunMerger()
    for summary in summaries:
        merger.add(summary)
    return merger.result()


class _HasTotals(Protocol):
    @property
    def totals(self) -> TallyPart: ...


def averaged_percentile(summaries: Iterable[_HasTotals], percentile: float) -> float | None:
    """What a tool averaging per-executor percentiles would report (shown beside ours, never used)."""
    values = [LatencyHistogram.decode(s.totals.histogram).percentile_ms(percentile) for s in summaries]
    values = [v for v in values if v is not None]
    return sum(values) / len(values) if values else None
