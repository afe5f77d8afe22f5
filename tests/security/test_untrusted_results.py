"""Executor data is untrusted at the controller: hostile summaries rejected by name, hostile live messages dropped."""

from __future__ import annotations

import copy
import json
import math
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from salvo.common import summary_schema
from salvo.common.errors import ExitCode, ProtocolError
from salvo.common.histogram import SERIES_DIGITS, LatencyHistogram
from salvo.common.layout import summary_location
from salvo.common.protocol import MAX_LIVE_LABELS, IntervalStats, LabelInterval, decode_status, encode
from salvo.common.s3location import S3Location
from salvo.common.settings import load
from salvo.common.summary_schema import RejectedSummary, Summary, parse_summary
from salvo.controller.ledger import Ledger, Liveness, Member
from salvo.controller.live import LiveView
from salvo.controller.merge import merge_summaries
from salvo.controller.metrics import LiveMetrics
from salvo.controller.report import Report
from salvo.controller.report_data import series_points
from salvo.controller.rereport import rereport
from salvo.controller.settings import ControllerSettings, LostExecutorPolicy
from salvo.controller.verdict import judge
from salvo.executor.results.aggregate import SummaryBuilder
from salvo.executor.tool.samples import Sample, SampleKind
from tests.support.fake_fleet import FakeMember
from tests.support.fakes import FakeClock, FakeStore
from tests.unit.test_controller import make

START = 1_800_000_000.0
RUN, EXECUTOR = "run-1", "node-1"


def valid_summary() -> dict:
    """What an executor writes: 30 requests on /a and /b over 3 s (5 failed), one user error."""
    builder = SummaryBuilder()
    for n in range(30):
        failed = n % 7 == 0
        builder.add(
            Sample(
                start=START + n / 10,
                elapsed_ms=5 + n,
                label="/a" if n % 3 else "/b",
                code="500" if failed else "200",
                success=not failed,
                message="HTTP 500" if failed else "",
            )
        )
    builder.add(
        Sample(start=START + 1.5, elapsed_ms=0, label="flow", kind=SampleKind.USER_ERROR, message="KeyError: 'x'")
    )
    return builder.to_dict(
        run_id=RUN,
        executor_id=EXECUTOR,
        version="1.0",
        exit_code=0,
        stop_reason="completed",
        gated=True,
        timings={
            "armed_at": START - 20,
            "start_at": START,
            "ended_at": START + 3.5,
            "launched_at": START - 10,
            "gate_released": [START + 0.001],
        },
        scenario={"uri": "s3://b/s.py", "sha256": "a" * 64},
        tools={"locust": "2.47.0"},
        unreadable_lines=0,
        share={"index": 0, "size": 2, "mode": "per-executor", "users": None, "spawn_rate": None, "rows": None},
    )


def series_histogram(count: int) -> str:
    histogram = LatencyHistogram(digits=SERIES_DIGITS)
    histogram.record_ms(7.0, count)
    return histogram.encode()


def full_histogram(count: int) -> str:
    histogram = LatencyHistogram()
    histogram.record_ms(7.0, count)
    return histogram.encode()


def setting(path: str, value: Any) -> Callable[[dict], None]:
    def mutate(summary: dict) -> None:
        *parents, last = path.split("|")
        node = summary
        for part in parents:
            node = node[int(part)] if isinstance(node, list) else node[part]
        node[int(last) if isinstance(node, list) else last] = value

    return mutate


def dropping(path: str) -> Callable[[dict], None]:
    def mutate(summary: dict) -> None:
        *parents, last = path.split("|")
        node = summary
        for part in parents:
            node = node[int(part)] if isinstance(node, list) else node[part]
        del node[int(last) if isinstance(node, list) else last]

    return mutate


def many_labels(summary: dict) -> None:
    summary["labels"].update({f"/x/{n}": {"requests": 0, "failures": 0} for n in range(10_001)})


def many_errors(summary: dict) -> None:
    summary["totals"]["errors"] = {f"error {n}": 0 for n in range(102)}


def long_label(summary: dict) -> None:
    summary["labels"]["/" + "y" * 3000] = summary["labels"].pop("/b")


def late_point(summary: dict) -> None:
    summary["series"][-1]["t"] = int(START) + 3600


def early_point(summary: dict) -> None:
    summary["series"][0]["t"] = int(START) - 600


def repeated_point(summary: dict) -> None:
    summary["series"][1]["t"] = summary["series"][0]["t"]


def one_label_less(summary: dict) -> None:
    del summary["labels"]["/b"]


def one_point_less(summary: dict) -> None:
    del summary["series"][1]


def inflated_label(summary: dict) -> None:
    summary["labels"]["/a"]["requests"] += 5


def negative_everywhere(summary: dict) -> None:
    for tally in (summary["totals"], *summary["labels"].values()):
        tally["failures"] = -tally["failures"]


WINDOW = f"({START - 120:.0f}-{START + 3.5 + 120:.0f}: start_at - 120 s to ended_at + 120 s)"

# (case, mutation, the exact reason); every one is a summary a hostile or broken executor could upload.
HOSTILE_SUMMARIES: list[tuple[str, Callable[[dict], None], str]] = [
    ("requests-is-a-word", setting("totals|requests", "lots"), "totals.requests: expected an integer"),
    ("requests-is-true", setting("totals|requests", True), "totals.requests: expected an integer"),
    ("requests-is-a-float", setting("totals|requests", 30.5), "totals.requests: expected an integer"),
    ("labels-is-a-list", setting("labels", []), "labels: expected an object"),
    ("series-is-an-object", setting("series", {}), "series: expected a list"),
    ("point-without-t", dropping("series|1|t"), "series.1.t: missing"),
    ("totals-missing", dropping("totals"), "totals: missing"),
    ("timings-without-ended_at", dropping("timings|ended_at"), "timings.ended_at: missing"),
    ("histogram-AAAA", setting("totals|histogram", "AAAA"), "totals: histogram: too short for a histogram"),
    ("histogram-not-base64", setting("labels|/a|histogram", "%%%"), "labels./a: histogram: not base64 text"),
    (
        "histogram-of-another-shape",
        setting("totals|histogram", series_histogram(30)),
        "totals: histogram: its shape is 2 digits, 1-3600000000 us; expected 3 digits, 1-3600000000 us",
    ),
    (
        "histogram-count-not-requests",
        setting("series|0|histogram", series_histogram(11)),
        "series.0: histogram: 11 latencies recorded for 10 requests",
    ),
    ("negative-failures", negative_everywhere, "totals.failures: expected a number >= 0"),
    (
        "failures-beyond-requests",
        setting("totals|failures", 10**6),
        "totals: failures 1000000 exceed requests 30 + user_errors 1",
    ),
    (
        "user-errors-beyond-failures",
        setting("labels|flow|user_errors", 5),
        "labels.flow: user_errors 5 exceed failures 1 (user errors are failures)",
    ),
    (
        "errors-not-failures",
        setting("totals|errors", {"HTTP 500": 1}),
        "totals: errors: 1 error messages counted for 6 failures",
    ),
    (
        "codes-beyond-requests",
        setting("totals|codes", {"200": 31}),
        "totals: codes: 31 responses counted for 30 requests",
    ),
    ("labels-not-totals", one_label_less, "labels: their requests add up to 20, totals.requests is 30"),
    ("series-not-totals", one_point_less, "series: its requests add up to 20, totals.requests is 30"),
    ("label-inflated", inflated_label, "labels./a: histogram: 20 latencies recorded for 25 requests"),
    ("point-after-the-run", late_point, f"series.2.t: {int(START) + 3600} is outside the run's window {WINDOW}"),
    ("point-before-the-run", early_point, f"series.0.t: {int(START) - 600} is outside the run's window {WINDOW}"),
    (
        "point-repeated",
        repeated_point,
        f"series.1.t: {int(START)} does not follow {int(START)} (one point a second, in order)",
    ),
    (
        "first-request-long-before",
        setting("timings|first_request", START - 86400),
        f"timings.first_request: {START - 86400:.3f} is outside the run's window "
        f"({START - 120:.0f}-{START + 3.5 + 120:.0f})",
    ),
    (
        "latency-sum-infinite",
        setting("totals|latency_sum_ms", math.inf),
        "totals.latency_sum_ms: expected a finite number",
    ),
    ("unknown-schema", setting("schema", "salvo.summary/2"), "schema: expected 'salvo.summary/1'"),
    ("share-outside-the-fleet", setting("share|index", 2), "share: index 2 is outside a fleet of 2"),
    (
        "executor-id-path",
        setting("executor_id", "../node-2"),
        "executor_id: expected a letter or digit, then letters, digits, '.', '_' or '-' (at most 128)",
    ),
    (
        "run-id-too-long",
        setting("run_id", "r" * 129),
        "run_id: expected a letter or digit, then letters, digits, '.', '_' or '-' (at most 128)",
    ),
    (
        "another-executor",
        setting("executor_id", "node-2"),
        "executor_id: it claims executor 'node-2', but is stored as 'node-1'",
    ),
    ("another-run", setting("run_id", "run-0"), "run_id: it names run 'run-0', not 'run-1'"),
    ("too-many-labels", many_labels, "labels: more than 10001 entries"),
    ("too-many-errors", many_errors, "totals.errors: more than 101 entries"),
    ("label-name-too-long", long_label, f"labels.'/{'y' * 39}...'.[key]: longer than 2048 characters"),
    ("nested-garbage", setting("totals|codes", {"200": {"a": [[[{}]]]}}), "totals.codes.200: expected an integer"),
    ("exit-code-a-word", setting("exit_code", "0"), "exit_code: expected an integer"),
    (
        "newline-in-a-key",
        setting("labels|/a\nFAKE", {"requests": "x"}),
        "labels.'/a\\nFAKE'.requests: expected an integer",
    ),
]


def rejection(summary: dict | bytes, run_id: str = RUN, executor_id: str = EXECUTOR) -> str:
    data = summary if isinstance(summary, bytes) else json.dumps(summary).encode()
    with pytest.raises(RejectedSummary) as caught:
        parse_summary(data, run_id, executor_id)
    return str(caught.value)


def test_the_valid_summary_parses_and_keeps_its_figures():
    summary = parse_summary(json.dumps(valid_summary()).encode(), RUN, EXECUTOR)
    assert (summary.totals.requests, summary.totals.failures, summary.totals.user_errors) == (30, 6, 1)
    assert sorted(summary.labels) == ["/a", "/b", "flow"] and len(summary.series) == 3


@pytest.mark.parametrize(
    ("mutate", "reason"), [(m, r) for _, m, r in HOSTILE_SUMMARIES], ids=[case for case, _, _ in HOSTILE_SUMMARIES]
)
def test_a_hostile_summary_is_rejected_naming_the_field(mutate, reason):
    summary = valid_summary()
    mutate(summary)
    found = rejection(summary)
    assert found == reason
    assert "\n" not in found


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (b"{not json", "not valid JSON (key must be a string at line 1 column 2)"),
        (b"[1, 2]", "expected an object"),
        (b"", "not valid JSON (EOF while parsing a value at line 1 column 0)"),
        (
            b'{"schema": "salvo.summary/1", "totals": ' + b"[" * 100_000 + b"]" * 100_000 + b"}",
            "not valid JSON (recursion limit exceeded at line 1 column 241)",
        ),
    ],
    ids=["not-json", "a-list", "empty", "deep-nesting"],
)
def test_bytes_that_are_no_summary_are_rejected(data, reason):
    assert rejection(data) == reason


def test_a_summary_larger_than_the_cap_is_rejected_unread(monkeypatch):
    monkeypatch.setattr(summary_schema, "MAX_SUMMARY_BYTES", 1000)
    data = json.dumps(valid_summary()).encode()
    assert rejection(data) == f"{len(data)} bytes, more than 1000"


# --- fuzz: any mutation parses whole or is rejected, and what parses merges and reports -------------------------


def _paths(node: Any, prefix: tuple = ()) -> list[tuple]:
    found = [prefix] if prefix else []
    if isinstance(node, dict):
        for key, value in node.items():
            found += _paths(value, prefix + (key,))
    elif isinstance(node, list):
        for index, value in enumerate(node):
            found += _paths(value, prefix + (index,))
    return found


PATHS = _paths(valid_summary())
garbage = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=True)
    | st.text(max_size=30)
    | st.sampled_from(["", "AAAA", "HISTFAAAA", series_histogram(10), "salvo.summary/1"]),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=12,
)


@st.composite
def mutated_summaries(draw) -> bytes:
    summary = valid_summary()
    for _ in range(draw(st.integers(min_value=1, max_value=3))):
        path = draw(st.sampled_from(PATHS))
        parent = summary
        try:
            for part in path[:-1]:
                parent = parent[part]
            current = parent[path[-1]]
        except (KeyError, IndexError, TypeError):
            continue  # an earlier mutation took this path away
        action = draw(st.sampled_from(["drop", "replace", "negate", "double", "histogram", "nest"]))
        if action == "drop":
            del parent[path[-1]]
        elif action == "replace":
            parent[path[-1]] = draw(garbage)
        elif action == "negate" and isinstance(current, (int, float)) and not isinstance(current, bool):
            parent[path[-1]] = -current - 1
        elif action == "double" and isinstance(current, (int, float)) and not isinstance(current, bool):
            parent[path[-1]] = current * 2 + 1
        elif action == "histogram":
            parent[path[-1]] = draw(
                st.sampled_from(
                    [
                        "AAAA",
                        series_histogram(3),
                        valid_summary()["totals"]["histogram"],
                        "HISTFAAAACJ4nJNpmSzMwMDAzAABMJoRRFybvITB/gNEYLs6EwBhUAVq",
                    ]
                )
            )
        elif action == "nest":
            parent[path[-1]] = {"nested": copy.deepcopy(current), "more": [current]}
    return json.dumps(summary).encode()


@settings(max_examples=1000, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(mutated_summaries())
def test_a_mutated_summary_parses_whole_or_is_rejected_and_never_breaks_the_merge(data):
    try:
        summary = parse_summary(data, RUN, EXECUTOR)
    except RejectedSummary as exc:
        reason = str(exc)
        assert reason and "\n" not in reason and len(reason) <= 300
        return
    merged = merge_summaries([summary])
    assert merged.totals.requests == summary.totals.requests
    assert 0 <= merged.overall()["error_rate"] <= max(1.0, summary.totals.failures)
    series_points(merged)
    merged.label_rows()


# --- the controller and `salvo report` with a hostile summary among good ones ------------------------------------


def _members(count: int) -> list[FakeMember]:
    return [FakeMember(host=f"10.9.0.{10 + n}", executor_id=f"node-{n}", run_seconds=3.0) for n in range(count)]


def _controller(members: list[FakeMember], tmp_path: Path):
    return make(members, tmp_path)


def _patched(member: FakeMember, mutate: Callable[[dict], None]) -> FakeMember:
    """The member uploads what a good one would, then `mutate`s it: compromised, or broken."""
    original = member._upload

    def upload(store: FakeStore, results: S3Location) -> None:
        original(store, results)
        location = summary_location(results, member.start.run_id, member.executor_id)
        summary = json.loads(store.read_bytes(location))
        mutate(summary)
        store.upload_bytes(json.dumps(summary).encode(), location)

    member._upload = upload
    return member


def _report(tmp_path: Path) -> dict:
    return json.loads((tmp_path / "report" / "report.json").read_text())


@pytest.mark.parametrize(
    ("mutate", "reason"),
    [
        (setting("labels", []), "labels: expected an object"),
        (setting("totals|histogram", "AAAA"), "totals: histogram: too short for a histogram"),
        (dropping("series|0|t"), "series.0.t: missing"),
        (setting("totals|requests", "lots"), "totals.requests: expected an integer"),
    ],
    ids=["labels-list", "histogram-AAAA", "point-without-t", "requests-lots"],
)
def test_the_controller_rejects_that_executor_and_reports_the_rest(tmp_path, capsys, mutate, reason):
    members = _members(3)
    _patched(members[1], mutate)
    controller, _ = _controller(members, tmp_path)
    assert controller.run() == ExitCode.FAILED
    data = _report(tmp_path)
    assert data["verdict"] == "fail" and data["rejected"] == {"node-1": f"rejected: {reason}"}
    assert data["executors"]["node-1"]["outcome"] == "rejected"
    assert f"results of executor node-1 (10.9.0.11) rejected: {reason}" in data["verdict_reasons"]
    assert data["contributors"] == ["node-0", "node-2"]
    assert data["overall"]["requests"] == members[0].requests_sent + members[2].requests_sent
    junit = (tmp_path / "report" / "junit.xml").read_text()
    html = (tmp_path / "report" / "report.html").read_text()
    assert f"rejected: {reason}" in junit and "rejected results: node-1" in html
    assert "Traceback" not in capsys.readouterr().out


def test_negative_counts_never_reach_the_error_rate(tmp_path):
    members = _members(2)
    _patched(members[0], setting("totals|failures", -5))
    controller, _ = _controller(members, tmp_path)
    assert controller.run() == ExitCode.FAILED
    data = _report(tmp_path)
    assert data["rejected"] == {"node-0": "rejected: totals.failures: expected a number >= 0"}
    assert 0 <= data["overall"]["error_rate"] <= 1


def _stored_run(mutate: Callable[[dict], None] | None) -> FakeStore:
    store = FakeStore()
    for n in range(2):
        summary = valid_summary()
        summary["executor_id"] = f"node-{n}"
        if n == 1 and mutate is not None:
            mutate(summary)
        store.upload_bytes(
            json.dumps(summary).encode(), summary_location(S3Location("results-bucket", "results/"), RUN, f"node-{n}")
        )
    return store


@pytest.mark.parametrize(
    ("mutate", "reason"),
    [
        (m, r)
        for case, m, r in HOSTILE_SUMMARIES
        if case in ("labels-is-a-list", "histogram-AAAA", "point-without-t", "requests-is-a-word", "negative-failures")
    ],
    ids=["labels-list", "histogram-AAAA", "point-without-t", "requests-lots", "negative"],
)
def test_salvo_report_rejects_that_executor_and_prints_the_rest(capsys, mutate, reason):
    assert rereport(f"s3://results-bucket/results/{RUN}/", store=_stored_run(mutate)) == ExitCode.FAILED
    out = capsys.readouterr().out
    assert f"because results of executor node-1 (-) rejected: {reason}\n" in out
    assert "| OVERALL      |       30 |" in out and "rejected results: node-1" in out and "Traceback" not in out


def test_salvo_report_passes_the_same_run_untouched(capsys):
    # the run has failed requests: it passes only when no criterion is asked for (the default wants none failed)
    assert rereport(f"s3://results-bucket/results/{RUN}/", criteria="none", store=_stored_run(None)) == ExitCode.OK
    assert "| OVERALL      |       60 |" in capsys.readouterr().out


# --- live messages -----------------------------------------------------------------------------------------------


def _stats_frame(**changes: Any) -> bytes:
    message = json.loads(
        encode(
            IntervalStats(
                executor_id="node-1",
                run_id=RUN,
                interval_start=START,
                interval_end=START + 1,
                requests=10,
                failures=1,
                histogram=full_histogram(10),
                labels={"/a": LabelInterval(requests=10, failures=1, histogram=series_histogram(10))},
            )
        )
    )
    message.update(changes)
    return json.dumps(message).encode()


def _labels(count: int) -> dict:
    return {f"/{n}": {"requests": 1, "failures": 0, "histogram": series_histogram(1)} for n in range(count)}


HOSTILE_FRAMES = [
    (
        "histogram-AAAA",
        _stats_frame(histogram="AAAA"),
        "interval_stats.histogram: undecodable histogram: too short for a histogram",
    ),
    (
        "label-histogram-of-another-shape",
        _stats_frame(labels={"/a": {"requests": 1, "histogram": "AAAA"}}),
        "interval_stats.labels./a.histogram: undecodable histogram: too short for a histogram",
    ),
    (
        "negative-requests",
        _stats_frame(requests=-10),
        "interval_stats.requests: Input should be greater than or equal to 0",
    ),
    (
        "failures-beyond-requests",
        _stats_frame(failures=11),
        "interval_stats: failures 11 exceed requests 10 + user_errors 0",
    ),
    ("requests-lots", _stats_frame(requests="lots"), "interval_stats.requests: Input should be a valid integer"),
    (
        "too-many-labels",
        _stats_frame(labels=_labels(MAX_LIVE_LABELS + 1)),
        f"interval_stats.labels: Dictionary should have at most {MAX_LIVE_LABELS} items after validation, not more",
    ),
    (
        "executor-id-path",
        _stats_frame(executor_id="../x"),
        "interval_stats.executor_id: expected a letter or digit, then letters, digits, '.', '_' or '-' (at most 128)",
    ),
    (
        "interval-nan",
        _stats_frame(interval_start=math.nan),
        "interval_stats.interval_start: Input should be a finite number",
    ),
    (
        "status-bad-id",
        json.dumps({"v": 1, "type": "status", "executor_id": "", "version": "1", "state": "armed"}).encode(),
        "status.executor_id: expected a letter or digit, then letters, digits, '.', '_' or '-' (at most 128)",
    ),
    (
        "finished-exit-code-word",
        json.dumps({"v": 1, "type": "finished", "executor_id": "node-1", "run_id": RUN, "exit_code": "zero"}).encode(),
        "finished.exit_code: Input should be a valid integer",
    ),
    (
        "start-ack-run-id-space",
        json.dumps({"v": 1, "type": "start_ack", "executor_id": "node-1", "run_id": "a b", "accepted": True}).encode(),
        "start_ack.run_id: expected a letter or digit, then letters, digits, '.', '_' or '-' (at most 128)",
    ),
]


@pytest.mark.parametrize(
    ("frame", "where"), [(f, w) for _, f, w in HOSTILE_FRAMES], ids=[c for c, _, _ in HOSTILE_FRAMES]
)
def test_a_hostile_status_frame_does_not_decode(frame, where):
    with pytest.raises(ProtocolError) as caught:
        decode_status(frame)
    assert f"({where})" in str(caught.value)


def test_an_honest_interval_with_user_errors_only_decodes():
    stats = decode_status(_stats_frame(requests=0, failures=3, user_errors=3, histogram="", labels={}))
    assert (stats.requests, stats.failures, stats.user_errors) == (0, 3, 3)


@settings(max_examples=300, deadline=None)
@given(st.data())
def test_a_mutated_interval_decodes_to_something_safe_or_not_at_all(data):
    message = json.loads(_stats_frame())
    key = data.draw(st.sampled_from(sorted(message) + ["labels./a.requests", "labels./a.histogram"]))
    value = data.draw(garbage)
    if key.startswith("labels./a."):
        message["labels"]["/a"][key.rsplit(".", 1)[1]] = value
    else:
        message[key] = value
    try:
        stats = decode_status(json.dumps(message).encode())
    except ProtocolError:
        return
    if isinstance(stats, IntervalStats):  # what the controller does with one it accepted
        metrics = LiveMetrics(RUN)
        live_settings = load(
            ControllerSettings, {"SALVO_RESULTS_URI": "s3://results-bucket/results/", "SALVO_LIVE_INTERVAL": "1"}
        )
        view = LiveView(live_settings, RUN, START, FakeClock(), metrics, 1)
        view.add(stats)
        view.tick(active=1, lost=0, force=True)


def test_the_controller_drops_hostile_live_messages_counts_them_and_completes(tmp_path, capsys):
    members = _members(3)
    members[1].inject = [frame for _, frame, _ in HOSTILE_FRAMES] + [
        IntervalStats(executor_id="node-2", run_id=RUN, interval_start=0, interval_end=1, requests=10**6)
    ]
    controller, _ = _controller(members, tmp_path)
    assert controller.run() == ExitCode.OK
    data = _report(tmp_path)
    assert data["verdict"] == "pass" and data["contributors"] == ["node-0", "node-1", "node-2"]
    assert data["dropped_live_messages"] == {"node-1": len(HOSTILE_FRAMES) + 1}
    assert data["dropped_live_messages_total"] == len(HOSTILE_FRAMES) + 1
    out = capsys.readouterr().out
    assert f"dropped live messages: {len(HOSTILE_FRAMES) + 1} malformed (node-1: {len(HOSTILE_FRAMES) + 1})" in out
    assert "dropped live messages" in (tmp_path / "report" / "report.html").read_text()


def test_a_report_without_rejections_or_drops_says_none():
    ledger = Ledger()
    ledger.add(Member(host="h", executor_id=EXECUTOR, last_seen=0.0, liveness=Liveness.ENDED))
    ledger.count(EXECUTOR, Summary.model_validate(valid_summary()))
    ledger.settle({})
    merged = ledger.merged()
    verdict = judge(ledger, merged.totals.requests, [], LostExecutorPolicy.CONTINUE)
    data = Report(run_id=RUN, merged=merged, ledger=ledger, verdict=verdict).to_dict()
    assert (data["rejected"], data["dropped_live_messages"], data["dropped_live_messages_total"]) == ({}, {}, 0)
    assert data["verdict"] == "pass"


# --- real processes: `salvo controller` against simulated executors on the real protocol, `salvo report` ---------


def _sim_fleet(tmp_path: Path, aws_env: dict, bucket: str, first: str, count: int, *hostile: str):
    import os
    import subprocess
    import sys

    from salvo.common.keys import generate_fleet_key
    from tests.support.executors import REPO, free_port

    command_port, status_port = free_port(), free_port()
    fleet_key = generate_fleet_key()  # the hostile executors hold the fleet's keys: authenticated, still distrusted
    env = {**os.environ, **aws_env, "PYTHONUNBUFFERED": "1"}
    sims = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "tests.support.simexecutor",
            "--first",
            first,
            "--count",
            str(count),
            f"--fleet-key={fleet_key}",  # a key may start with "-"
            "--command-port",
            str(command_port),
            "--status-port",
            str(status_port),
            "--run-seconds",
            "3",
            "--results-uri",
            f"s3://{bucket}/results/",
            "--lifetime",
            "120",
            *hostile,
        ],
        cwd=REPO,
        env=env,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert sims.stdout.readline().strip() == f"ready {count}"
    controller_env = {k: v for k, v in env.items() if not k.startswith("SALVO_")}
    controller_env.update(
        {
            "SALVO_EXECUTOR_CIDRS": f"{first}/29",
            "SALVO_COMMAND_PORT": str(command_port),
            "SALVO_STATUS_PORT": str(status_port),
            "SALVO_RESULTS_URI": f"s3://{bucket}/results/",
            "SALVO_EXPECTED_EXECUTORS": str(count),
            "SALVO_DISCOVERY_TIMEOUT": "30",
            "SALVO_REPORT_DIR": str(tmp_path / "report"),
            "SALVO_PROBE_TIMEOUT": "0.2",
            "SALVO_LIVE_INTERVAL": "1s",
            "SALVO_FLEET_KEY": fleet_key,
        }
    )
    return sims, controller_env


def _run(args: list[str], env: dict, timeout: float = 120):
    import subprocess
    import sys

    from tests.support.executors import REPO

    return subprocess.run(
        [sys.executable, "-m", "salvo.cli", *args], cwd=REPO, env=env, capture_output=True, text=True, timeout=timeout
    )


@pytest.mark.integration
def test_a_real_controller_rejects_a_malformed_summary_and_salvo_report_agrees(tmp_path, aws_env, s3_bucket):
    sims, env = _sim_fleet(
        tmp_path, aws_env, s3_bucket, "127.3.2.1", 3, "--hostile", "1", "--summary-patch", json.dumps({"labels": []})
    )
    try:
        controller = _run(["controller"], {**env, "SALVO_RUN_ID": "hostile-summary"})
    finally:
        sims.terminate()
        sims.wait(30)
    output = controller.stdout + controller.stderr
    assert controller.returncode == ExitCode.FAILED, output[-4000:]
    assert "Traceback" not in output
    data = json.loads((tmp_path / "report" / "report.json").read_text())
    reason = "rejected: labels: expected an object"
    assert data["verdict"] == "fail" and data["rejected"] == {"sim-127.3.2.1": reason}
    assert data["executors"]["sim-127.3.2.1"]["outcome"] == "rejected"
    assert data["contributors"] == ["sim-127.3.2.2", "sim-127.3.2.3"] and data["overall"]["requests"] == 60
    assert f"results of executor sim-127.3.2.1 (127.3.2.1) {reason}" in data["verdict_reasons"]
    assert reason in (tmp_path / "report" / "junit.xml").read_text()
    assert "rejected results: sim-127.3.2.1" in (tmp_path / "report" / "report.html").read_text()

    again = _run(["report", f"s3://{s3_bucket}/results/hostile-summary/"], env)
    assert again.returncode == ExitCode.FAILED, again.stderr[-4000:]
    assert "Traceback" not in again.stdout + again.stderr
    (because,) = [line for line in again.stdout.splitlines() if "rejected:" in line and "because" in line]
    assert because == f"  because results of executor sim-127.3.2.1 (-) {reason}"
    assert "|       60 |" in again.stdout


@pytest.mark.integration
def test_a_real_controller_survives_a_malformed_interval_and_counts_it(tmp_path, aws_env, s3_bucket):
    garbage = json.dumps(
        {
            "v": 1,
            "type": "interval_stats",
            "executor_id": "sim-127.3.3.1",
            "run_id": "hostile-live",
            "interval_start": START,
            "interval_end": START + 1,
            "requests": 5,
            "histogram": "AAAA",
        }
    )
    sims, env = _sim_fleet(tmp_path, aws_env, s3_bucket, "127.3.3.1", 3, "--hostile", "1", "--garbage-stats", garbage)
    try:
        controller = _run(["controller"], {**env, "SALVO_RUN_ID": "hostile-live"})
    finally:
        sims.terminate()
        sims.wait(30)
    output = controller.stdout + controller.stderr
    assert controller.returncode == ExitCode.OK, output[-4000:]
    assert "Traceback" not in output and "ignored from 127.3.3.1: undecodable frame" in output
    data = json.loads((tmp_path / "report" / "report.json").read_text())
    assert data["verdict"] == "pass" and len(data["contributors"]) == 3 and data["overall"]["requests"] == 90
    assert data["dropped_live_messages"] == {"sim-127.3.3.1": 1} and data["dropped_live_messages_total"] == 1
    assert "dropped live messages: 1 malformed (sim-127.3.3.1: 1)" in controller.stdout


# A property test against a real controller process: whatever an authenticated executor sends on the status link,
# the controller neither crashes nor prints a traceback, and writes its report.
_IDS = st.sampled_from(["sim-127.3.4.1", "sim-127.3.4.2", "../x", "", "x y", "a" * 200])
_status_frames = st.builds(
    lambda kind, fields: json.dumps({"v": 1, "type": kind, **fields}).encode(),
    st.sampled_from(["status", "start_ack", "interval_stats", "finished", "time_echo", "clock_ack", "hello", "start"]),
    st.dictionaries(
        st.sampled_from(
            [
                "executor_id",
                "run_id",
                "state",
                "requests",
                "failures",
                "histogram",
                "labels",
                "interval_start",
                "interval_end",
                "exit_code",
                "accepted",
                "reason",
                "offset",
                "probe_sent_at",
                "received_at",
                "sent_at",
                "version",
                "users",
                "leaving",
            ]
        ),
        garbage | _IDS | st.just("hostile-live-fuzz"),
        max_size=8,
    ),
)
_any_frames = st.lists(
    _status_frames | st.binary(max_size=64) | st.text(max_size=40).map(str.encode), min_size=10, max_size=30
)


@pytest.mark.integration
@settings(max_examples=2, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True)
@given(frames=_any_frames)
def test_a_real_controller_survives_whatever_an_executor_sends(tmp_path_factory, aws_env, s3_bucket, frames):
    tmp_path = tmp_path_factory.mktemp("fuzz")
    garbage_file = tmp_path / "frames.json"
    garbage_file.write_text(json.dumps([frame.decode("latin-1") for frame in frames]))
    sims, env = _sim_fleet(
        tmp_path, aws_env, s3_bucket, "127.3.4.1", 2, "--hostile", "1", "--garbage-file", str(garbage_file)
    )
    try:
        controller = _run(
            ["controller"], {**env, "SALVO_RUN_ID": "hostile-live-fuzz", "SALVO_RUN_ID_REUSE": "overwrite"}
        )
    finally:
        sims.terminate()
        sims.wait(30)
    output = controller.stdout + controller.stderr
    assert controller.returncode in (ExitCode.OK, ExitCode.FAILED), output[-4000:]
    assert "Traceback" not in output and "internal error" not in output, output[-4000:]
    data = json.loads((tmp_path / "report" / "report.json").read_text())
    assert data["run_id"] == "hostile-live-fuzz" and sorted(data["fleet"]) == ["sim-127.3.4.1", "sim-127.3.4.2"]
