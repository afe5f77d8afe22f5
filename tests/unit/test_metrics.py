"""The controller's Prometheus metrics: fed with IntervalStats, read back through the text format."""

from __future__ import annotations

import socket
import urllib.request

import pytest
from prometheus_client import generate_latest
from prometheus_client.parser import text_string_to_metric_families

from salvo.common.errors import ExitCode
from salvo.common.histogram import SERIES_DIGITS, LatencyHistogram
from salvo.common.protocol import (
    MAX_LIVE_LABELS,
    IntervalStats,
    LabelInterval,
    Start,
    decode_command,
    decode_status,
    encode,
)
from salvo.common.settings import load
from salvo.controller.metrics import LABEL_MERGES_PER_SECOND, LiveMetrics, MetricsPortUnavailable, serving
from salvo.controller.settings import ControllerSettings
from salvo.executor.results.aggregate import IntervalAccumulator
from salvo.executor.tool.samples import Sample, SampleKind
from tests.support.executors import free_port
from tests.unit.test_controller import make, members


def histogram(*values_ms: float, digits: int = SERIES_DIGITS) -> str:
    h = LatencyHistogram(digits=digits)
    for value in values_ms:
        h.record_ms(value)
    return h.encode()


def stats(executor_id: str, users: int = 0, **labels: tuple[int, int, list[float]]) -> IntervalStats:
    parts = {
        name: LabelInterval(requests=r, failures=f, histogram=histogram(*values))
        for name, (r, f, values) in labels.items()
    }
    every = [v for _, _, values in labels.values() for v in values]
    return IntervalStats(
        executor_id=executor_id,
        run_id="run-1",
        interval_start=0,
        interval_end=1,
        users=users,
        requests=sum(r for r, _, _ in labels.values()),
        failures=sum(f for _, f, _ in labels.values()),
        histogram=histogram(*every, digits=3),
        labels=parts,
    )


def samples(metrics: LiveMetrics) -> dict[tuple, float]:
    """{(sample name, (label, value) pairs without run_id): value}, from the text format a scraper reads."""
    found = {}
    for family in text_string_to_metric_families(generate_latest(metrics.registry).decode()):
        for sample in family.samples:
            assert sample.labels.pop("run_id") == "run-1"
            found[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return found


def test_counters_quantiles_users_and_executors_from_interval_stats():
    metrics = LiveMetrics("run-1", states=["discovery", "watch"], current=lambda: "watch")
    metrics.started(start_at=1_700_000_000.5, fleet_size=4)
    metrics.add(stats("node-0", users=5, **{"/": (90, 1, [10.0] * 90)}))
    metrics.add(stats("node-1", users=7, **{"/": (0, 0, []), "/slow": (10, 2, [500.0] * 10)}))
    metrics.executors(active=2, lost=1)
    metrics.interval(rps=50.0, failure_ratio=0.03, latency_ms={50: 10.0, 95: 500.0, 99: 500.0})
    found = samples(metrics)
    assert found[("salvo_requests_total", ())] == 100 and found[("salvo_failures_total", ())] == 3
    assert found[("salvo_label_requests_total", (("label", "/"),))] == 90
    assert found[("salvo_label_failures_total", (("label", "/slow"),))] == 2
    assert found[("salvo_requests_per_second", ())] == 50.0 and found[("salvo_failure_ratio", ())] == 0.03
    assert found[("salvo_latency_seconds", (("quantile", "0.95"),))] == 0.5
    assert found[("salvo_label_latency_seconds", (("label", "/"), ("quantile", "0.99")))] == pytest.approx(
        0.010, rel=0.01
    )
    assert found[("salvo_label_latency_seconds", (("label", "/slow"), ("quantile", "0.5")))] == pytest.approx(
        0.5, rel=0.01
    )
    assert found[("salvo_users", ())] == 12
    assert [found[("salvo_executors", (("state", s),))] for s in ("active", "lost", "finished")] == [2, 1, 1]
    assert (
        found[("salvo_run_state", (("state", "watch"),))] == 1
        and found[("salvo_run_state", (("state", "discovery"),))] == 0
    )
    assert found[("salvo_start_time_seconds", ())] == 1_700_000_000.5


def test_a_label_without_requests_in_an_interval_loses_its_quantiles_but_keeps_its_counters():
    metrics = LiveMetrics("run-1")
    metrics.add(stats("node-0", **{"/a": (5, 0, [1.0] * 5), "/b": (5, 0, [2.0] * 5)}))
    metrics.interval(rps=10, failure_ratio=0, latency_ms={50: 1.0})
    metrics.add(stats("node-0", **{"/a": (5, 0, [1.0] * 5)}))
    metrics.interval(rps=5, failure_ratio=0, latency_ms={})
    found = samples(metrics)
    assert ("salvo_label_latency_seconds", (("label", "/a"), ("quantile", "0.5"))) in found
    assert not [key for key in found if key[0] == "salvo_label_latency_seconds" and ("label", "/b") in key[1]]
    assert found[("salvo_label_requests_total", (("label", "/b"),))] == 5
    assert (
        found[("salvo_latency_seconds", (("quantile", "0.5"),))]
        != found[("salvo_latency_seconds", (("quantile", "0.5"),))]
    )  # NaN: no request


def test_labels_beyond_the_cap_are_counted_in_the_totals_only():
    metrics = LiveMetrics("run-1")
    for n in range(MAX_LIVE_LABELS + 5):
        metrics.add(stats("node-0", **{f"/{n}": (1, 0, [1.0])}))
    metrics.interval(rps=1, failure_ratio=0, latency_ms={})
    found = samples(metrics)
    assert found[("salvo_requests_total", ())] == MAX_LIVE_LABELS + 5
    assert len([key for key in found if key[0] == "salvo_label_requests_total"]) == MAX_LIVE_LABELS


def test_past_the_merge_budget_quantiles_come_from_the_first_messages_and_counters_stay_exact():
    metrics = LiveMetrics("run-1", interval_seconds=2 / LABEL_MERGES_PER_SECOND)  # budget: 2 label merges
    for n, latency in enumerate([10.0, 10.0, 1000.0, 1000.0]):
        metrics.add(stats(f"node-{n}", **{"/": (1, 0, [latency])}))
    metrics.interval(rps=4, failure_ratio=0, latency_ms={})
    found = samples(metrics)
    assert found[("salvo_label_requests_total", (("label", "/"),))] == 4
    assert found[("salvo_label_latency_seconds", (("label", "/"), ("quantile", "0.99")))] == pytest.approx(
        0.010, rel=0.01
    )
    assert found[("salvo_label_latency_coverage_ratio", ())] == 0.5
    metrics.add(stats("node-0", **{"/": (1, 0, [1000.0])}))  # a new interval, a new budget
    metrics.interval(rps=1, failure_ratio=0, latency_ms={})
    found = samples(metrics)
    assert found[("salvo_label_latency_seconds", (("label", "/"), ("quantile", "0.5")))] == pytest.approx(1.0, rel=0.01)
    assert found[("salvo_label_latency_coverage_ratio", ())] == 1


def test_label_data_on_the_wire_is_optional_both_ways():
    old_stats = b'{"v":1,"type":"interval_stats","executor_id":"e","run_id":"r","interval_start":0,"interval_end":1}'
    assert decode_status(old_stats).labels == {}
    old_start = b'{"v":1,"type":"start","run_id":"r","fleet":["e"],"start_at":1.0}'
    assert decode_command(old_start).live_labels is False
    start = Start(run_id="r", fleet=["e"], start_at=1.0, live_labels=True)
    assert decode_command(encode(start)).live_labels is True


def test_executor_accumulates_per_label_only_when_asked():
    def sample(label: str, elapsed_ms: float, success: bool = True) -> Sample:
        return Sample(start=1.0, elapsed_ms=elapsed_ms, label=label, success=success, kind=SampleKind.REQUEST)

    asked, not_asked = IntervalAccumulator(per_label=True), IntervalAccumulator()
    for accumulator in (asked, not_asked):
        accumulator.add(sample("/a", 10))
        accumulator.add(sample("/a", 30, success=False))
        accumulator.add(sample("/b", 20))
    snapshot = asked.drain()
    assert {label: (t.requests, t.failures) for label, t in snapshot.labels.items()} == {"/a": (2, 1), "/b": (1, 0)}
    assert snapshot.labels["/a"].histogram.digits == SERIES_DIGITS
    assert not_asked.drain().labels == {} and asked.drain().labels == {}


def settings(**env) -> ControllerSettings:
    return load(
        ControllerSettings,
        {"SALVO_RESULTS_URI": "s3://results-bucket/results/", **{f"SALVO_{k.upper()}": str(v) for k, v in env.items()}},
    )


def test_the_endpoint_serves_while_open_and_is_gone_after():
    port = free_port()
    with serving(settings(metrics_port=port, metrics_bind="127.0.0.1"), "run-1", ["watch"], lambda: "watch") as metrics:
        metrics.add(stats("node-0", **{"/": (3, 0, [1.0] * 3)}))
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as response:
            text = response.read().decode()
    assert (
        'salvo_requests_total{run_id="run-1"} 3.0' in text
        and 'salvo_run_state{run_id="run-1",state="watch"} 1.0' in text
    )
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(("127.0.0.1", port), timeout=2).close()


def test_no_port_no_endpoint():
    with serving(settings(), "run-1", [], lambda: "") as metrics:
        assert metrics is None


def test_a_taken_port_is_a_one_line_exit_2():
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        with (
            pytest.raises(MetricsPortUnavailable) as caught,
            serving(settings(metrics_port=port, metrics_bind="127.0.0.1"), "run-1", [], lambda: ""),
        ):
            pass
    assert caught.value.exit_code == ExitCode.CONFIG == 2
    assert f"SALVO_METRICS_PORT={port}" in str(caught.value) and "\n" not in str(caught.value)


def test_the_controller_asks_for_labels_and_feeds_the_metrics_through_its_run(tmp_path):
    port = free_port()
    controller, fleet = make(members(3, rate=20), tmp_path, metrics_port=port, metrics_bind="127.0.0.1")
    assert controller.run() == ExitCode.OK
    (start,) = fleet.links[-1].of_type(Start)
    assert start.live_labels is True
    found = samples(controller.metrics)
    # the fake streams one IntervalStats (20 requests) a second and its run's last second in the summary only
    assert found[("salvo_requests_total", ())] == 3 * 2 * 20
    assert found[("salvo_label_requests_total", (("label", "/"),))] == 3 * 2 * 20
    assert found[("salvo_label_latency_seconds", (("label", "/"), ("quantile", "0.95")))] == pytest.approx(
        0.010, rel=0.01
    )
    assert [found[("salvo_executors", (("state", s),))] for s in ("active", "lost", "finished")] == [0, 0, 3]
    assert found[("salvo_run_state", (("state", "conclusion"),))] == 1
    with pytest.raises(ConnectionRefusedError):  # the endpoint ends with the controller
        socket.create_connection(("127.0.0.1", port), timeout=2).close()


def test_without_the_port_the_start_asks_for_no_labels(tmp_path):
    controller, fleet = make(members(1, rate=5), tmp_path)
    assert controller.run() == ExitCode.OK
    (start,) = fleet.links[-1].of_type(Start)
    assert start.live_labels is False and controller.metrics is None
