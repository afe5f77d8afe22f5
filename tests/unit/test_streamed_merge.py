"""Summaries merged as they are counted: the same run as merging them all at once, in any arrival order, in memory
that does not grow with executors x seconds (salvo.controller.merge.RunMerger, salvo.controller.ledger.Ledger)."""

from __future__ import annotations

import functools
import gc
import json
import operator
import random
import tracemalloc
import weakref
from fractions import Fraction

import pytest

from salvo.common.summary import MAX_CODES, MAX_ERROR_MESSAGES, OTHER_CODES, OTHER_ERRORS, Tally
from salvo.common.summary_schema import Summary, parse_summary
from salvo.controller.ledger import Counted, Ledger, Liveness, Member
from salvo.controller.merge import (
    MAX_EXECUTOR_SERIES,
    ArrivalTotals,
    ExactSum,
    MergedRun,
    RunMerger,
    _add,
    merge_summaries,
    stats_row,
)
from salvo.executor.results.aggregate import SummaryBuilder
from salvo.executor.tool.samples import Sample
from salvo.executor.tool.statsfile import SecondOfLabel
from tests.support.reports import RUN_ID, START_AT, Shape, executor_summary

T0 = int(START_AT)


# --- the oracle: the merge as it was before it streamed (every summary held, added in executor order) -----------
# It adds a summary's parts with the merge's own `_add` (which fields a part carries, unchanged by the streaming):
# what it checks is the order and the holding.


def held_merge(summaries: list[Summary]) -> MergedRun:
    """salvo.controller.merge.merge_summaries as it was until summaries were merged as counted."""
    totals, labels, series = Tally(), {}, {}
    first_requests, last_requests, per_executor, executor_series, contributors = {}, [], {}, {}, []
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
            _add(labels.setdefault(label, Tally()), part)
        own_series = executor_series.setdefault(executor, {})
        for point in summary.series:
            _add(series.setdefault(point.t, Tally.for_series()), point)
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
            counts = summary.arrivals
            own_arrivals = ArrivalTotals({0: [counts.planned, counts.sent, counts.dropped]})
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


def tally_view(tally: Tally, latency: bool) -> tuple:
    return (
        tally.requests,
        tally.failures,
        tally.user_errors,
        tally.bytes,
        tally.latency_sum_ms if latency else None,
        tally.histogram.encode(),
        list(tally.codes.items()),  # in order: the report lists them as merged
        list(tally.errors.items()),
        tally.intended.encode() if tally.intended is not None else None,
    )


def view(run: MergedRun, *, latency: bool = True, series_executors: int | None = None) -> dict:
    """Everything a merged run holds, orders included (dicts as lists of items)."""
    executor_series = list(run.executor_series.items())
    return {
        "contributors": run.contributors,
        "totals": tally_view(run.totals, latency),
        "labels": [(label, tally_view(tally, latency)) for label, tally in run.labels.items()],
        "series": [(t, tally_view(tally, latency)) for t, tally in run.series.items()],
        "first_requests": list(run.first_requests.items()),
        "span": (run.first_request, run.last_request),
        "per_executor": list(run.per_executor.items()),
        "executor_series": [(e, list(points.items())) for e, points in executor_series[:series_executors]],
        "arrivals": None if run.arrivals is None else sorted(run.arrivals.seconds.items()),
        "label_rows": run.label_rows() if latency else list(run.label_rows()),
    }


# --- summaries of every kind -------------------------------------------------------------------------------------


def parsed(data: dict) -> Summary:
    return parse_summary(json.dumps(data).encode(), data["run_id"], data["executor_id"])


def realistic(count: int, regions: tuple[str, ...] = ("eu-west-1", "us-east-1")) -> list[Summary]:
    """Closed-model executors as the executor writes them: 5 labels, codes, errors, user errors, 12 s of series."""
    shape = Shape(executors=count, seconds=12, rps_per_executor=30.0, regions=regions)
    rng = random.Random(5)
    return [parsed(executor_summary(f"node-{index:02d}", index, shape, rng)) for index in range(count)]


def open_model(executor: str, lateness_ms: float, dropped: int, seconds: int) -> Summary:
    """An open-model executor: intended-time histograms and arrivals per second (as the locust recorder writes)."""
    builder = SummaryBuilder()
    for k in range(seconds):
        cell = SecondOfLabel()
        for n in range(10):
            cell.request(T0 + k + n * 0.001, 2.0 + n * 0.37 + k, "200", True, 10, "")
            cell.intended(2.0 + n * 0.37 + k + (lateness_ms if k % 2 else 0.0))
        builder.add_record(json.loads(cell.line(T0 + k, f"/open/{k % 3}", users=3)))
        builder.add_record({"t": T0 + k, "arrivals": {"planned": 10 + dropped, "sent": 10, "dropped": dropped}})
    timings = {"start_at": float(T0), "ended_at": float(T0 + seconds + 1)}
    return parsed(builder.to_dict(run_id=RUN_ID, executor_id=executor, region="ap-south-1", timings=timings))


def crowded(executor: str, first_code: int, codes: int) -> Summary:
    """Many distinct codes and error messages: together they overflow the merged caps, so the order they were first
    met in decides which are named and which are folded into '(other)'."""
    builder = SummaryBuilder()
    for n in range(codes):
        code = first_code + n
        builder.add(
            Sample(
                start=T0 + n * 0.01,
                elapsed_ms=1.0 + code % 17,
                label=f"/c/{code % 2}",
                code=str(code),
                success=code % 3 != 0,
                message=f"error {code}",
            )
        )
    timings = {"start_at": float(T0), "ended_at": float(T0 + 5)}
    return parsed(builder.to_dict(run_id=RUN_ID, executor_id=executor, timings=timings))


def idle(executor: str) -> Summary:
    """An executor that sent nothing: no first or last request, no series."""
    timings = {"start_at": float(T0), "ended_at": float(T0 + 5)}
    return parsed(SummaryBuilder().to_dict(run_id=RUN_ID, executor_id=executor, timings=timings))


@pytest.fixture(scope="module")
def fleet() -> list[Summary]:
    return [
        *realistic(28),  # more than MAX_EXECUTOR_SERIES
        open_model("open-a", 0.0, 0, 6),
        open_model("open-b", 1500.0, 2, 9),
        crowded("crowd-a", 0, 150),
        crowded("crowd-b", 100, 150),
        crowded("crowd-c", 400, 120),
        idle("idle-z"),
    ]


def streamed(summaries: list[Summary]) -> MergedRun:
    merger = RunMerger()
    for summary in summaries:
        merger.add(summary)
    return merger.result()


# --- the same run, in any order --------------------------------------------------------------------------------


def test_the_fleet_used_here_reaches_every_case(fleet):
    run = held_merge(sorted(fleet, key=lambda s: s.executor_id))
    assert OTHER_CODES in run.totals.codes and len(run.totals.codes) == MAX_CODES + 1  # the code cap is reached
    assert OTHER_ERRORS in run.totals.errors and len(run.totals.errors) == MAX_ERROR_MESSAGES + 1
    assert run.totals.intended is not None and run.arrivals is not None and run.arrivals.dropped == 2 * 9
    assert len(run.executor_series) > MAX_EXECUTOR_SERIES and "idle-z" not in run.first_requests
    assert {s.region for s in fleet} == {"eu-west-1", "us-east-1", "ap-south-1", None}


def test_merged_as_counted_in_any_order_is_the_held_merge_in_executor_order(fleet):
    in_order = sorted(fleet, key=lambda s: s.executor_id)
    held = held_merge(in_order)
    expected = view(held, latency=False, series_executors=MAX_EXECUTOR_SERIES)
    once = view(merge_summaries(in_order))
    for seed in range(6):
        arrival = list(fleet)
        random.Random(seed).shuffle(arrival)
        run = streamed(arrival)
        assert view(run, latency=False) == expected  # counts, histograms, names and their order, series, rows
        assert view(run) == once  # latency sums too: the same bits whatever the arrival order
        assert list(run.executor_series) == sorted(held.executor_series)[:MAX_EXECUTOR_SERIES]


def test_latency_sums_are_the_exact_sum_rounded_once(fleet):
    run = streamed(list(reversed(fleet)))
    exact = sum(Fraction(s.totals.latency_sum_ms) for s in fleet)
    assert run.totals.latency_sum_ms == float(exact)
    for label, tally in run.labels.items():
        parts = [s.labels[label].latency_sum_ms for s in fleet if label in s.labels]
        assert tally.latency_sum_ms == float(sum(Fraction(part) for part in parts))
    held = held_merge(sorted(fleet, key=lambda s: s.executor_id)).totals.latency_sum_ms
    assert run.totals.latency_sum_ms == pytest.approx(held, rel=1e-12)  # today's figure, to its last digits


def test_an_exact_sum_does_not_depend_on_the_order_where_a_float_sum_does():
    values = [0.1, 0.2, 0.3, 1e16, 1.0, 1.0]
    orders = [values, list(reversed(values)), sorted(values)]
    # one float added to the next, as a merge adds: the order shows in the result
    assert len({functools.reduce(operator.add, order, 0.0) for order in orders}) > 1
    sums = []
    for order in orders:
        exact = ExactSum()
        for value in order:
            exact.add(value)
        sums.append(exact.value)
    assert sums == [float(sum(map(Fraction, values)))] * 3
    unknown = ExactSum()
    unknown.add(1.0)
    unknown.add(None)  # a contributor that did not sum its latencies
    assert unknown.value is None


def test_each_regions_merge_is_fed_in_the_same_pass_and_equals_its_held_merge(fleet):
    arrival = list(fleet)
    random.Random(9).shuffle(arrival)
    ledger = counted_ledger(arrival)
    regions = ledger.regions()
    assert list(regions) == ["ap-south-1", "eu-west-1", "us-east-1"]  # executors without a region: overall only
    for region, run in regions.items():
        own = sorted((s for s in fleet if s.region == region), key=lambda s: s.executor_id)
        assert view(run, latency=False) == view(held_merge(own), latency=False, series_executors=MAX_EXECUTOR_SERIES)
        assert view(run) == view(merge_summaries(own))
    assert view(ledger.merged()) == view(merge_summaries(fleet))


# --- what the ledger keeps ------------------------------------------------------------------------------------


def counted_ledger(summaries: list[Summary]) -> Ledger:
    ledger = Ledger()
    for summary in sorted(summaries, key=lambda s: s.executor_id):
        ledger.add(Member(host="h-" + summary.executor_id, executor_id=summary.executor_id, last_seen=0.0))
    for summary in summaries:
        ledger.count(summary.executor_id, summary)
    return ledger


def test_once_counted_an_executors_labels_and_series_are_let_go():
    (summary,) = realistic(1)
    label = next(iter(summary.labels.values()))
    gone = [weakref.ref(summary), weakref.ref(summary.series[0]), weakref.ref(label)]
    ledger = counted_ledger([summary])
    totals, meta = summary.totals, (summary.region, summary.version, summary.share, summary.timings)
    del summary, label
    gc.collect()
    assert [ref() for ref in gone] == [None, None, None]  # nothing holds the parsed summary, its series or labels
    kept = ledger.counted["node-00"]
    assert isinstance(kept, Counted) and not hasattr(kept, "series") and not hasattr(kept, "labels")
    assert kept.totals is totals and (kept.region, kept.version, kept.share, kept.timings) == meta
    assert ledger.merged().totals.requests == totals.requests


def test_a_summary_is_counted_and_merged_once_and_never_after_the_merge_was_read():
    first, second = realistic(2)
    ledger = counted_ledger([first])
    with pytest.raises(ValueError, match="counted already"):
        ledger.count("node-00", first)
    assert ledger.merged().contributors == ["node-00"]
    with pytest.raises(ValueError, match="after the merge was read"):
        ledger.count("node-01", second)
    assert ledger.merged().contributors == ["node-00"] and "node-01" not in ledger.counted


# --- memory --------------------------------------------------------------------------------------------------------

EXECUTORS, SECONDS = 100, 90


def long_summary(seconds: int) -> bytes:
    """One executor's summary over `seconds` s, 3 labels: its per-second series is what grows with the run."""
    builder = SummaryBuilder()
    rng = random.Random(3)
    for second in range(seconds):
        for n in range(12):
            latency = rng.lognormvariate(3, 0.7)
            builder.add(Sample(start=T0 + second + n / 12, elapsed_ms=latency, label=f"/l/{n % 3}", code="200"))
    timings = {"start_at": float(T0), "ended_at": float(T0 + seconds + 1)}
    return json.dumps(builder.to_dict(run_id=RUN_ID, executor_id="e0000", timings=timings)).encode()


def conclusion_peak(template: bytes, executors: int, hold: bool) -> tuple[int, MergedRun]:
    """Peak traced bytes while `executors` summaries are read one at a time (as the collection hands them over),
    parsed and merged: counted as read, or (`hold`) all held until merged, as before."""
    ids = [f"e{n:04d}" for n in range(executors)]
    ledger = Ledger()
    for executor in ids:
        ledger.add(Member(host=executor, executor_id=executor, last_seen=0.0, liveness=Liveness.ENDED))

    def read(executor: str) -> Summary:
        return parse_summary(template.replace(b'"e0000"', f'"{executor}"'.encode()), RUN_ID, executor)

    gc.collect()
    tracemalloc.start()
    try:
        if hold:
            held = [read(executor) for executor in ids]
            run = merge_summaries(held)
        else:
            for executor in ids:
                ledger.count(executor, read(executor))
            run = ledger.merged()
        return tracemalloc.get_traced_memory()[1], run
    finally:
        tracemalloc.stop()


def test_the_conclusions_memory_grows_with_seconds_not_with_executors_times_seconds():
    template = long_summary(SECONDS)
    one, _ = conclusion_peak(template, 1, hold=False)  # the merged figures of one run's seconds, and one summary
    fleet, run = conclusion_peak(template, EXECUTORS, hold=False)
    held, held_run = conclusion_peak(template, EXECUTORS, hold=True)
    assert run.totals.requests == held_run.totals.requests == EXECUTORS * 12 * SECONDS
    # What stays per executor (its totals, meta and stats row) is small beside a summary; all summaries held are
    # far beyond it. The bound: one executor's peak, twice over.
    bound = 2 * one
    assert fleet < bound, f"merged as counted: {fleet / 1e6:.1f} MB for {EXECUTORS} executors, over {bound / 1e6:.1f}"
    assert held > bound, f"held until merged: {held / 1e6:.1f} MB, within {bound / 1e6:.1f}: the bound tests nothing"


def test_only_summaries_the_ledger_counted_are_merged_as_they_are_read():
    """A forged, a malformed and a missing summary: none reaches the merge; the others are merged as read."""
    from salvo.common.clock import SystemClock
    from salvo.common.layout import summary_location
    from salvo.common.s3 import S3Location
    from salvo.controller.collect import read_summaries
    from salvo.controller.ledger import Outcome
    from tests.support.fakes import FakeStore

    results = S3Location("bucket", "results/")
    shape = Shape(executors=2, seconds=12, rps_per_executor=30.0)
    rng = random.Random(5)
    data = {e: json.dumps(executor_summary(e, n, shape, rng)).encode() for n, e in enumerate(("node-00", "node-01"))}
    objects = {str(summary_location(results, RUN_ID, executor)): body for executor, body in data.items()}
    objects[str(summary_location(results, RUN_ID, "node-02"))] = data["node-01"]  # claims another executor
    objects[str(summary_location(results, RUN_ID, "node-03"))] = data["node-00"][:-40]  # cut short
    fleet = ["node-00", "node-01", "node-02", "node-03", "node-04"]  # node-04 wrote none
    ledger = Ledger()
    for executor in fleet:
        ledger.add(Member(host=executor, executor_id=executor, last_seen=0.0, liveness=Liveness.ENDED))
    collected = read_summaries(
        FakeStore(objects),
        results,
        RUN_ID,
        fleet,
        budget_seconds=5,
        clock=SystemClock(),
        max_bytes=10**8,
        count=ledger.count,
    )
    ledger.settle(collected.unreadable, collected.rejected)
    run = ledger.merged()
    assert run.contributors == sorted(collected.counted) == sorted(ledger.counted) == ["node-00", "node-01"]
    assert view(run) == view(merge_summaries(parsed(json.loads(data[e])) for e in ("node-00", "node-01")))
    outcomes = {member.executor_id: member.outcome for member in ledger.members.values()}
    assert outcomes == {
        "node-00": Outcome.FINISHED,
        "node-01": Outcome.FINISHED,
        "node-02": Outcome.REJECTED,
        "node-03": Outcome.REJECTED,
        "node-04": Outcome.MISSING,
    }
