"""Merged percentiles equal those of all raw samples; averaged percentiles do not."""

from __future__ import annotations

import json
import math
import random

from hypothesis import given, settings
from hypothesis import strategies as st

from salvo.common.histogram import SERIES_DIGITS, SIGNIFICANT_DIGITS, LatencyHistogram
from salvo.common.summary_schema import Summary, parse_summary
from salvo.controller.merge import averaged_percentile, merge_summaries
from salvo.executor.results.aggregate import SummaryBuilder
from salvo.executor.tool.samples import Sample, SampleKind

PERCENTILES = (50.0, 90.0, 95.0, 99.0)


def exact_percentile(values: list[float], p: float) -> float:
    """HDR's definition: the value at rank max(1, round(p/100 * n))."""
    ordered = sorted(values)
    rank = max(1, int(p * len(ordered) / 100 + 0.5))
    return ordered[rank - 1]


def checked(builder: SummaryBuilder, executor: str, start_at: float, ended_at: float) -> Summary:
    """The builder's summary as the controller reads it: written, then parsed whole."""
    data = builder.to_dict(run_id="run", executor_id=executor, timings={"start_at": start_at, "ended_at": ended_at})
    return parse_summary(json.dumps(data).encode(), "run", executor)


def summary_of(executor: str, latencies_ms: list[float], start: float = 1_800_000_000.0) -> Summary:
    builder = SummaryBuilder()
    for n, latency in enumerate(latencies_ms):
        builder.add(Sample(start=start + n * 0.01, elapsed_ms=latency, label="/", success=latency < 900))
    longest = max(latencies_ms, default=0.0) / 1000  # the last request may end long after the last one began
    return checked(builder, executor, start, start + len(latencies_ms) * 0.01 + longest + 2)


def within_hdr_precision(merged: float, exact: float) -> bool:
    return abs(merged - exact) <= exact * 0.001 + 0.001  # 3 significant digits, plus 1 µs


executor_shapes = st.lists(
    st.tuples(
        st.integers(min_value=1, max_value=400),  # samples
        st.floats(min_value=0.5, max_value=500.0),  # typical latency (ms)
        st.floats(min_value=0.05, max_value=1.5),  # spread (lognormal sigma)
        st.integers(min_value=0, max_value=2**32 - 1),  # seed
    ),
    min_size=2,
    max_size=6,
)


@settings(max_examples=60, deadline=None)
@given(executor_shapes)
def test_merged_percentiles_equal_percentiles_of_all_samples(shapes):
    raw_by_executor = []
    for count, scale, sigma, seed in shapes:
        rng = random.Random(seed)
        raw_by_executor.append([round(scale * math.exp(rng.gauss(0, sigma)), 3) + 0.001 for _ in range(count)])
    summaries = [summary_of(f"e{i}", raw) for i, raw in enumerate(raw_by_executor)]
    merged = merge_summaries(summaries)
    everything = [v for raw in raw_by_executor for v in raw]
    assert merged.totals.requests == len(everything)
    row = merged.overall()
    for p in PERCENTILES:
        exact = exact_percentile(everything, p)
        ours = row[f"p{p:g}"]
        assert within_hdr_precision(ours, exact), (
            f"p{p:g}: merged {ours:.3f} ms, exact {exact:.3f} ms, "
            f"DLT-style average of per-executor percentiles {averaged_percentile(summaries, p):.3f} ms"
        )


def test_averaging_percentiles_is_visibly_wrong_where_merging_is_right():
    rng = random.Random(7)
    fast = [rng.uniform(5, 15) for _ in range(9000)]  # one busy, fast executor
    slow = [rng.uniform(800, 1200) for _ in range(1000)]  # one starved, slow executor
    summaries = [summary_of("fast", fast), summary_of("slow", slow)]
    exact_p99 = exact_percentile(fast + slow, 99)
    merged_p99 = merge_summaries(summaries).overall()["p99"]
    averaged_p99 = averaged_percentile(summaries, 99)
    assert within_hdr_precision(merged_p99, exact_p99)
    assert abs(averaged_p99 - exact_p99) / exact_p99 > 0.2, (averaged_p99, exact_p99)


def test_counts_series_errors_and_skew_are_summed_and_aligned():
    first = SummaryBuilder()
    second = SummaryBuilder()
    for builder, offset in ((first, 0.0), (second, 0.004)):
        builder.add(Sample(start=100.0 + offset, elapsed_ms=10, label="/a", code="200"))
        builder.add(Sample(start=100.5, elapsed_ms=20, label="/b", code="500", success=False, message="HTTP 500"))
        builder.add(Sample(start=101.2, elapsed_ms=0, label="U", kind=SampleKind.USER_ERROR, message="ValueError: x"))
    merged = merge_summaries([checked(first, "one", 100.0, 102.0), checked(second, "two", 100.0, 102.0)])
    assert (merged.totals.requests, merged.totals.failures, merged.totals.user_errors) == (4, 4, 2)
    assert merged.overall()["error_rate"] == 4 / 6
    assert merged.totals.codes == {"200": 2, "500": 2}
    assert merged.totals.errors == {"HTTP 500": 2, "ValueError: x": 2}
    assert {t: tally.requests for t, tally in merged.series.items()} == {100: 4, 101: 0}
    assert merged.contributors == ["one", "two"]
    assert abs(merged.start_skew_ms - 4.0) < 1e-6
    assert merged.label_rows()["/b"]["error_rate"] == 1.0


def test_empty_and_idle_executors():
    merged = merge_summaries([checked(SummaryBuilder(), "idle", 100.0, 110.0)])
    assert merged.totals.requests == 0 and merged.overall()["p95"] is None and merged.start_skew_ms is None
    assert merge_summaries([]).contributors == []


@settings(max_examples=60, deadline=None)
@given(
    st.lists(
        st.tuples(st.floats(min_value=0.0005, max_value=5_000_000, allow_nan=False), st.integers(1, 5)),
        min_size=1,
        max_size=60,
    ),
    st.sampled_from([SIGNIFICANT_DIGITS, SERIES_DIGITS]),
)
def test_percentiles_read_between_the_extremes_are_hdrh_s_however_the_histogram_was_made(values, digits):
    recorded = LatencyHistogram(digits=digits)
    for value_ms, count in values:
        recorded.record_ms(value_ms, count)
    from_wire = LatencyHistogram(digits=digits).merge_encoded(recorded.encode())
    merged = LatencyHistogram(digits=digits).merge(recorded).merge(from_wire)
    for histogram in (recorded, from_wire, merged):
        hdr = histogram._hdr
        found = histogram.percentiles_ms([1, 50, 90, 99, 99.9, 100])
        assert found == {p: hdr.get_value_at_percentile(p) / 1000 for p in found}
