"""The open model's results: the GO line, the Start, the summary's intended-time histograms and arrival counts
(as the locust recorder writes them, as the controller checks, merges, judges and reports them)."""

from __future__ import annotations

import json
import re
import time

import pytest

from salvo.common.arrivals import OpenModel, Pattern, RateProfile
from salvo.common.errors import ProtocolError
from salvo.common.fleetload import LoadMode
from salvo.common.protocol import FleetLoad, IntervalStats, Start, decode_command, decode_status, encode
from salvo.common.settings import load
from salvo.common.summary_schema import RejectedSummary, parse_summary
from salvo.controller.criteria import evaluate, parse
from salvo.controller.ledger import Ledger, Liveness, Member
from salvo.controller.merge import merge_summaries
from salvo.controller.openmodel import RateCheck
from salvo.controller.report import Report
from salvo.controller.settings import LostExecutorPolicy
from salvo.controller.verdict import judge
from salvo.executor.results.aggregate import SummaryBuilder
from salvo.executor.run.fleetplace import take_place
from salvo.executor.scenario.bztconfig import RunPlan
from salvo.executor.settings import ExecutorSettings
from salvo.executor.tool.gate import GateProtocolError, Go, check_go, decode_go, encode_go
from salvo.executor.tool.statsfile import SecondOfLabel

T0 = 1_800_000_000


def test_the_open_model_travels_on_the_go_line_and_back():
    model = OpenModel(RateProfile.parse("100..400:10s,400"), 2, 3, Pattern.POISSON, max_users=50, max_lateness=1.25)
    go = Go(start_at=T0 + 0.5, index=2, size=3, run_id="r1", mode=LoadMode.FLEET, open_model=model)
    check_go(go)  # a gated locust would read it as sent
    assert decode_go(encode_go(go).decode().strip()).open_model == model


@pytest.mark.parametrize(
    "word",
    [
        "open=300",
        "open=300;uniform;10;0;3/3",
        "open=300;sometimes;10;0;0/1",
        "open=x;uniform;10;0;0/1",
        "open=300;uniform;0;0;0/1",
        "open=300;uniform;10;nan;0/1",
    ],
)
def test_a_go_line_with_a_broken_open_model_is_refused(word):
    with pytest.raises(GateProtocolError):
        decode_go(f"GO {T0} index=0 size=1 mode=fleet {word}")


def _start(**load) -> bytes:
    start = Start(run_id="r1", fleet=["a", "b"], start_at=T0, load=FleetLoad(mode=LoadMode.FLEET))
    frame = json.loads(encode(start))
    frame["load"].update(load)
    return json.dumps(frame).encode()


def test_a_start_carries_the_fleet_rate_checked_on_arrival():
    assert decode_command(_start(rate="100:30s, 400")).load.rate == RateProfile.parse("100:30s,400")
    for hostile in (300, ["300"], "300:0s", ",".join(["1:1s"] * 21), "9" * 9, "1e9"):
        with pytest.raises(ProtocolError, match=r"load\.rate"):
            decode_command(_start(rate=hostile))
    with pytest.raises(ProtocolError, match="regions split users"):
        decode_command(_start(rate="300", users=2, regions={"us-east-1": 1}))


def _records(label: str, second: int, services_ms: list[float], lateness_ms: float) -> dict:
    cell = SecondOfLabel()
    for n, service in enumerate(services_ms):
        cell.request(second + n * 0.001, service, "200", True, 10, "")
        cell.intended(service + lateness_ms)
    return json.loads(cell.line(second, label, users=3))


def _summary(executor: str, lateness_ms: float, dropped: int) -> object:
    builder = SummaryBuilder()
    for k in range(3):
        builder.add_record(_records("/a", T0 + k, [2.0] * 10, lateness_ms if k == 1 else 0.0))
        builder.add_record({"t": T0 + k, "arrivals": {"planned": 10 + dropped, "sent": 10, "dropped": dropped}})
    data = builder.to_dict(run_id="r1", executor_id=executor, timings={"start_at": T0, "ended_at": T0 + 4})
    return parse_summary(json.dumps(data).encode(), "r1", executor)


def test_intended_latencies_and_arrivals_merge_exactly_and_feed_criteria():
    merged = merge_summaries([_summary("a", lateness_ms=0.0, dropped=0), _summary("b", lateness_ms=1500.0, dropped=1)])
    overall = merged.overall()
    assert overall["requests"] == 60
    assert overall["p99"] == pytest.approx(2.0, rel=0.001)  # service time: the stall is not in it
    assert overall["p99_intended"] == pytest.approx(1502.0, rel=0.001)  # 10 of 60 requests were 1.5 s late
    assert overall["p50_intended"] == pytest.approx(2.0, rel=0.001)
    assert (overall["planned"], overall["sent"], overall["dropped"]) == (63, 60, 3)
    assert merged.arrivals.columns()["planned"] == [21, 21, 21]
    assert merged.label_rows()["/a"]["p99_intended"] == overall["p99_intended"]
    results = evaluate(parse("p99_intended<1s; dropped<0.1%; dropped<=3; p99<10ms"), overall, merged.label_rows())
    assert [r.passed for r in results] == [False, False, True, True]
    assert results[1].description == "dropped<0.1%: FAIL (measured 4.76 %)"


def test_a_shortfall_is_said_and_fails_only_beyond_the_tolerance():
    merged = merge_summaries([_summary("a", lateness_ms=0.0, dropped=1)])
    said = RateCheck.of(merged.arrivals, None)
    assert not said.failing and "30 of 33 planned arrivals sent, 9.09 % short, 3 dropped" in said.note()
    assert RateCheck.of(merged.arrivals, 10).note() is None
    assert RateCheck.of(merged.arrivals, 5).failing
    assert RateCheck.of(merge_summaries([_summary("a", 0.0, 0)]).arrivals, None).note() is None
    assert RateCheck.of(None, 5) is None  # a closed-model run


def _summary_data() -> dict:
    builder = SummaryBuilder()
    builder.add_record(_records("/a", T0, [2.0, 3.0], 5.0))
    builder.add_record({"t": T0, "arrivals": {"planned": 3, "sent": 2, "dropped": 1}})
    return builder.to_dict(run_id="r1", executor_id="a", timings={"start_at": T0, "ended_at": T0 + 2})


@pytest.mark.parametrize(
    ("damage", "reason"),
    [
        (lambda d: d["arrivals"].update(planned=4), "4 arrivals planned, but 2 sent + 1 dropped"),
        (lambda d: d["series"][0].update(dropped=2, planned=4), "series: its planned arrivals add up to 4"),
        (lambda d: d["series"][0].pop("sent"), "planned, sent and dropped go together"),
        (lambda d: d.pop("arrivals"), "arrivals counted per second, but no arrivals in total"),
        (lambda d: d["totals"].update(intended_histogram="AAAA"), "intended_histogram: too short"),
        (lambda d: d["labels"]["/a"].pop("intended_histogram"), "intended_histogram missing"),
        (lambda d: d["arrivals"].update(sent=-1, planned=0), "expected a number >= 0"),
        (lambda d: d["arrivals"].update(sent="2"), "expected an integer"),
    ],
)
def test_hostile_arrival_counts_and_intended_histograms_are_rejected(damage, reason):
    data = _summary_data()
    assert parse_summary(json.dumps(data).encode(), "r1", "a").arrivals.dropped == 1
    damage(data)
    with pytest.raises(RejectedSummary, match=re.escape(reason)):
        parse_summary(json.dumps(data).encode(), "r1", "a")


def test_interval_stats_arrivals_must_add_up():
    frame = {"type": "interval_stats", "executor_id": "a", "run_id": "r1", "interval_start": 1.0, "interval_end": 2.0}
    assert decode_status(json.dumps({**frame, "planned": 5, "sent": 4, "dropped": 1}).encode()).sent == 4
    with pytest.raises(ProtocolError, match="5 arrivals planned"):
        decode_status(json.dumps({**frame, "planned": 5, "sent": 4, "dropped": 0}).encode())
    assert isinstance(decode_status(json.dumps(frame).encode()), IntervalStats)  # a closed-model run's


def test_the_report_shows_both_latencies_the_arrivals_and_the_shortfall():
    summaries = [_summary("a", lateness_ms=0.0, dropped=0), _summary("b", lateness_ms=1500.0, dropped=1)]
    ledger = Ledger()
    for summary in summaries:
        ledger.add(Member(host="h", executor_id=summary.executor_id, last_seen=0.0, liveness=Liveness.ENDED))
        ledger.count(summary.executor_id, summary)
    ledger.settle({})
    merged = ledger.merged()
    rate = RateCheck.of(merged.arrivals, 2)
    verdict = judge(ledger, merged.totals.requests, [], LostExecutorPolicy.CONTINUE, rate=rate)
    fleet_load = {"mode": "fleet", "users": None, "spawn_rate": None, "executors": 2, "rate": "100:30s,400"}
    report = Report(run_id="r1", merged=merged, ledger=ledger, verdict=verdict, start_at=T0, fleet_load=fleet_load)
    console = report.console_table()
    assert "p99_int" in console and "arrivals: 63 planned, 60 sent, 3 dropped (4.76 %) over 3 s" in console
    assert "verdict: FAIL (exit 1); achieved rate short of plan: 60 of 63 planned arrivals sent" in console
    data = report.to_dict()
    assert data["arrivals"]["per_second"] == {
        "t": [T0, T0 + 1, T0 + 2],
        "planned": [21, 21, 21],
        "sent": [20, 20, 20],
        "dropped": [1, 1, 1],
    }
    assert data["per_executor"]["b"]["dropped"] == 3 and data["per_executor"]["a"]["dropped"] == 0
    page = report.html()
    assert 'id="chart-arrivals"' in page and "p99 from intended ms" in page and "100:30s,400" in page


@pytest.mark.parametrize(
    ("executors", "gates", "refusal"),
    [
        (["jmeter"], 1, None),
        (["locust"], 1, None),
        (["jmeter", "jmeter"], 2, "runs one JMeter execution; this scenario has 2"),
        (["apiritif"], 0, "runs a gated locust or JMeter scenario only; this scenario runs apiritif"),
    ],
)
def test_an_open_model_runs_one_gated_jmeter_or_gated_locust(tmp_path, executors, gates, refusal):
    settings = load(
        ExecutorSettings,
        {"SALVO_SCENARIO_URI": "s3://bucket/s/test.json", "SALVO_RESULTS_URI": "s3://bucket/r/", "SALVO_RATE": "40"},
    )
    plan = RunPlan(configs=[], cwd=tmp_path, gates=gates, executors=executors, concurrencies=[5] * len(executors))
    start = Start(run_id="r", fleet=["a", "b"], start_at=time.time() + 5)
    if refusal is None:
        assert take_place(start, "a", settings, plan, None).open_model.profile.text() == "40"
    else:
        with pytest.raises(ValueError, match=refusal):
            take_place(start, "a", settings, plan, None)
