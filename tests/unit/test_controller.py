"""The controller's logic with a fleet of scripted executors joined in memory, on a fake clock."""

from __future__ import annotations

import json
import signal

import pytest

from salvo.common.errors import ConfigError, ExitCode
from salvo.common.protocol import START_QUIET_SECONDS, Dismiss, Heartbeat, Start, Stop
from salvo.common.settings import load
from salvo.controller.controller import DISMISS_WAIT_SECONDS, Controller
from salvo.controller.discovery import DuplicateExecutorIds, TooFewExecutors
from salvo.controller.preflight import ReportNotWritable, RunIdTaken
from salvo.controller.settings import ControllerSettings
from tests.support.fake_fleet import FakeFleet, FakeMember
from tests.support.fakes import FakeStore

RESULTS = "s3://results-bucket/results/"


def members(count: int, **behaviour) -> list[FakeMember]:
    return [FakeMember(host=f"10.9.0.{10 + n}", executor_id=f"node-{n}", **behaviour) for n in range(count)]


def make(fleet_members, tmp_path, store=None, **env) -> tuple[Controller, FakeFleet]:
    settings = load(
        ControllerSettings,
        {
            "SALVO_RESULTS_URI": RESULTS,
            "SALVO_RUN_ID": "run-1",
            "SALVO_EXPECTED_EXPECTORS": "",
            "SALVO_EXPECTED_EXECUTORS": str(len(fleet_members)),
            "SALVO_DISCOVERY_TIMEOUT": "20",
            "SALVO_REPORT_DIR": str(tmp_path / "report"),
            "SALVO_LIVE_INTERVAL": "1",
            **{f"SALVO_{k.upper()}": str(v) for k, v in env.items()},
        },
    )
    fleet = FakeFleet(fleet_members, RESULTS, store=store)
    controller = Controller(
        settings,
        link_factory=fleet.link,
        prober=fleet.probe,
        targets=lambda: sorted(fleet.members) + ["10.9.0.99"],
        store=fleet.store,
        clock=fleet.clock,
    )
    return controller, fleet


def report(tmp_path) -> dict:
    return json.loads((tmp_path / "report" / "report.json").read_text())


def test_controller_passes_when_every_member_finished_and_counts_each_once(tmp_path):
    controller, fleet = make(members(3, rate=20), tmp_path, criteria="p99<1s; error_rate<1%; p75<20ms; p99.9<1s")
    assert controller.run() == ExitCode.OK
    data = report(tmp_path)
    assert data["overall"]["requests"] == sum(m.requests_sent for m in fleet.members.values()) == 180
    assert data["verdict"] == "pass" and data["exit_code"] == 0 and data["verdict_reasons"] == []
    assert {e["outcome"] for e in data["executors"].values()} == {"finished"}
    assert all(c["passed"] for c in data["criteria"])  # p75 and p99.9 are computed, not "no data"
    (start,) = fleet.links[-1].of_type(Start)
    assert start.fleet == ["node-0", "node-1", "node-2"] and start.start_at - start.sent_at == pytest.approx(3.0)


def test_controller_fails_when_a_members_load_tool_failed(tmp_path):
    fleet_members = members(2)
    fleet_members[1].exit_code = 1
    controller, _fleet = make(fleet_members, tmp_path, criteria="error_rate<1%")
    assert controller.run() == ExitCode.FAILED
    data = report(tmp_path)
    assert data["verdict"] == "fail" and data["exit_code"] == 1 and data["failed"] == ["node-1"]
    assert any("node-1" in reason and "failed" in reason for reason in data["verdict_reasons"])
    assert "<failure" in (tmp_path / "report" / "junit.xml").read_text()


def test_controller_never_passes_a_run_without_requests(tmp_path):
    controller, _ = make(members(2, rate=0), tmp_path)
    assert controller.run() == ExitCode.FAILED
    assert "no request was recorded" in " ".join(report(tmp_path)["verdict_reasons"])


@pytest.mark.parametrize(
    ("policy", "short_fleet", "code"),
    [
        ("continue", "pass", ExitCode.OK),  # the operator accepts a short fleet's results
        ("continue", "fail", ExitCode.FAILED),  # the default: PARTIAL is not PASS
        ("fail", "fail", ExitCode.NO_LOAD),
    ],
)
def test_controller_lost_member_under_each_policy(tmp_path, policy, short_fleet, code):
    fleet_members = members(3, run_seconds=10)
    fleet_members[0].silent_after = 2
    fleet_members[0].upload = "none"
    controller, fleet = make(fleet_members, tmp_path, lost_executor_policy=policy, short_fleet=short_fleet)
    assert controller.run() == code
    data = report(tmp_path)
    assert data["lost"] == ["node-0"] and data["status"] == "partial"
    if code is ExitCode.FAILED:
        assert any("the run is PARTIAL" in reason for reason in data["verdict_reasons"])
    assert data["exit_code"] == int(code) and data["verdict"] == ("pass" if code is ExitCode.OK else "fail")
    stops = fleet.links[-1].of_type(Stop)
    assert bool(stops) is (policy == "fail")
    if policy == "continue":
        assert data["overall"]["requests"] == 200  # the two survivors ran their 10 s


@pytest.mark.parametrize(
    ("upload", "outcome", "why"),
    [
        ("none", "missing results", "not found (NoSuchKey)"),
        ("corrupt", "rejected", "rejected: not valid JSON"),
        ("wrong-schema", "rejected", "rejected: schema: expected 'salvo.summary/1'"),
        ("forged:node-0", "rejected", "rejected: executor_id: it claims executor 'node-0'"),
    ],
)
def test_controller_fails_when_a_summary_is_missing_or_not_its_own(tmp_path, upload, outcome, why):
    fleet_members = members(2)
    fleet_members[1].upload = upload
    controller, _fleet = make(fleet_members, tmp_path)
    assert controller.run() == ExitCode.FAILED
    data = report(tmp_path)
    entry = data["executors"]["node-1"]
    assert entry["outcome"] == outcome and why in entry["reason"]
    assert (data["missing"], list(data["rejected"])) == (
        (["node-1"], []) if outcome != "rejected" else ([], ["node-1"])
    )
    assert any("node-1" in reason and why in reason for reason in data["verdict_reasons"])
    assert data["overall"]["requests"] == fleet_members[0].requests_sent  # node-0 counted once, never twice


def test_controller_fails_when_a_member_refused_the_start(tmp_path):
    fleet_members = members(2)
    fleet_members[0].refuses_start = "not armed (state running)"
    controller, _ = make(fleet_members, tmp_path)
    assert controller.run() == ExitCode.FAILED
    assert report(tmp_path)["executors"]["node-0"]["outcome"] == "failed"


def test_controller_fails_when_the_start_never_reached_a_member(tmp_path):
    fleet_members = members(2)
    fleet_members[0].never_gets_start = True
    controller, _ = make(fleet_members, tmp_path)
    assert controller.run() == ExitCode.FAILED
    assert "start never reached it" in report(tmp_path)["executors"]["node-0"]["reason"]


def test_controller_refuses_a_fleet_with_duplicate_ids(tmp_path):
    fleet_members = members(3)
    fleet_members[2].executor_id = "node-0"
    controller, fleet = make(fleet_members, tmp_path)
    with pytest.raises(DuplicateExecutorIds, match=r"node-0 at 10\.9\.0\.10, 10\.9\.0\.12"):
        controller.run()
    assert not any(link.of_type(Start) for link in fleet.links)


def test_the_expected_fleet_is_the_quorum_unless_told_otherwise(tmp_path):
    controller, fleet = make(members(2), tmp_path, expected_executors=3)
    with pytest.raises(TooFewExecutors) as raised:
        controller.run()
    message = str(raised.value)
    assert message.startswith("2 of 3 expected executor(s) armed after 20 s, fewer than SALVO_EXPECTED_EXECUTORS=3")
    assert "no load was started" in message and "missing: 1 never answered" in message
    assert not any(link.of_type(Start) for link in fleet.links)


@pytest.mark.parametrize(
    ("mode", "short_fleet", "code"),
    [
        ("per-executor", "fail", ExitCode.FAILED),  # the total load shrank with the fleet
        ("per-executor", "pass", ExitCode.OK),
        ("fleet", "fail", ExitCode.OK),  # the totals were split over the started fleet
    ],
)
def test_a_short_start_says_so_and_passes_only_when_allowed(tmp_path, mode, short_fleet, code):
    controller, _ = make(
        members(2), tmp_path, expected_executors=3, min_executors=2, load_mode=mode, short_fleet=short_fleet
    )
    assert controller.run() == code
    data = report(tmp_path)
    note = "started with 2 of 3 expected executors" + (
        "; fleet load split over the 2 started" if mode == "fleet" else ""
    )
    assert data["verdict_notes"] == [note]
    junit = (tmp_path / "report" / "junit.xml").read_text()
    assert note in junit
    if code is ExitCode.FAILED:
        assert any(reason.startswith(note) for reason in data["verdict_reasons"])


@pytest.mark.parametrize(
    ("criteria", "failing_every", "code", "reason"),
    [
        (None, 10, ExitCode.FAILED, "criterion failures==0: FAIL"),  # the default: no failed request
        (None, 0, ExitCode.OK, None),
        ("none", 10, ExitCode.OK, None),  # the explicit way to accept any outcome
        ("none", 1, ExitCode.FAILED, "no request succeeded"),  # ... but never a run where every request failed
        ("p95<1s", 1, ExitCode.FAILED, "no request succeeded"),  # instant failures meet latency criteria: still FAIL
    ],
)
def test_failed_requests_fail_by_default_and_all_failed_never_passes(tmp_path, criteria, failing_every, code, reason):
    extra = {} if criteria is None else {"criteria": criteria}
    controller, _ = make(members(2, failing_every=failing_every), tmp_path, **extra)
    assert controller.run() == code
    data = report(tmp_path)
    if reason:
        assert any(r.startswith(reason) for r in data["verdict_reasons"]), data["verdict_reasons"]
    if criteria is None:
        assert [c["criterion"] for c in data["criteria"]] == ["failures==0"]


def test_controller_too_few_executors_exit_3(tmp_path):
    controller, _fleet = make(members(1), tmp_path, expected_executors=3, min_executors=2)
    with pytest.raises(TooFewExecutors) as raised:
        controller.run()
    assert raised.value.exit_code == ExitCode.SCENARIO and "10.9.0.10: node-0 armed" in str(raised.value)


def test_controller_refuses_to_reuse_a_run_id_unless_told(tmp_path):
    store = FakeStore({f"{RESULTS}run-1/report.json": b"{}"})
    controller, fleet = make(members(1), tmp_path, store=store)
    with pytest.raises(RunIdTaken, match="SALVO_RUN_ID=run-1 already has a report"):
        controller.run()
    assert not fleet.links  # refused before discovery
    controller, _ = make(members(1), tmp_path, store=store, run_id_reuse="overwrite")
    assert controller.run() == ExitCode.OK


def test_controller_checks_it_can_write_reports_before_discovery(tmp_path):
    controller, fleet = make(members(1), tmp_path, store=FakeStore(writable=False))
    with pytest.raises(ReportNotWritable, match="bucket 'results-bucket'"):
        controller.run()
    assert not fleet.links


def test_controller_sigterm_while_discovering_exits_143_without_a_start(tmp_path):
    controller, fleet = make(members(1), tmp_path, expected_executors=4)
    fleet.clock.call_at(fleet.clock.time() + 3, lambda: controller.interrupt(signal.SIGTERM))
    assert controller.run() == ExitCode.SIGTERM
    assert not any(link.of_type(Start) for link in fleet.links)


def test_controller_sigterm_mid_run_stops_the_fleet_and_writes_a_partial_report(tmp_path):
    controller, fleet = make(members(2, run_seconds=60), tmp_path)
    fleet.clock.call_at(fleet.clock.time() + 5, lambda: controller.interrupt(signal.SIGTERM))
    assert controller.run() == ExitCode.SIGTERM
    (stop,) = fleet.links[-1].of_type(Stop)
    assert "SIGTERM" in stop.reason
    data = report(tmp_path)
    assert data["status"] == "partial" and data["verdict"] == "fail" and data["exit_code"] == 143
    assert data["overall"]["requests"] == sum(m.requests_sent for m in fleet.members.values()) > 0


def test_controller_second_signal_while_reading_summaries_ends_the_phase(tmp_path):
    class SlowStore(FakeStore):
        def read_bytes(self, location, **options):
            if location.key.endswith("summary.json"):
                controller.interrupt(signal.SIGINT)
                raise AssertionError("unreachable")  # the read fails; the signal ends the phase
            return super().read_bytes(location, **options)

    controller, _fleet = make(members(2), tmp_path, store=SlowStore())
    assert controller.run() == ExitCode.SIGINT
    assert report(tmp_path)["exit_code"] == 130


def test_controller_live_line_and_heartbeats_during_the_run(tmp_path, capsys):
    controller, fleet = make(members(2, run_seconds=5), tmp_path)
    assert controller.run() == ExitCode.OK
    output = capsys.readouterr().out
    assert "executors 2 active, 0 lost" in output and "| OVERALL" in output and "verdict: PASS" in output
    assert fleet.heartbeats() >= 5


def test_controller_sigterm_in_the_start_phase_publishes_no_start(tmp_path):
    controller, fleet = make(members(2), tmp_path)
    link = fleet.link()
    calls = []
    original = link.handshake_many

    def handshake_many(hosts, timeout, watch=True):
        calls.append(hosts)
        if len(calls) == 2:  # the start phase's handshake: a signal arrives now
            controller.interrupt(signal.SIGTERM)
        return original(hosts, timeout, watch)

    link.handshake_many = handshake_many
    controller.link_factory = lambda: link
    assert controller.run() == ExitCode.SIGTERM
    assert len(calls) == 2 and not link.of_type(Start)


def test_controller_refuses_more_executors_than_it_may_handle(tmp_path):
    controller, fleet = make(members(3), tmp_path, max_executors=2, expected_executors="")
    with pytest.raises(ConfigError, match="3 executors are armed, more than SALVO_MAX_EXECUTORS=2"):
        controller.run()
    assert not any(link.of_type(Start) for link in fleet.links)


def test_controller_never_passes_a_summary_that_says_results_were_unreadable(tmp_path):
    from salvo.common.summary_schema import Summary
    from salvo.controller.ledger import Ledger, Member, Outcome
    from salvo.executor.results.aggregate import SummaryBuilder

    ledger = Ledger()
    ledger.add(Member(host="h", executor_id="e", last_seen=0.0))
    written = SummaryBuilder().to_dict(
        run_id="r", executor_id="e", exit_code=0, unreadable_lines=3, timings={"start_at": 100.0, "ended_at": 110.0}
    )
    ledger.count("e", Summary.model_validate(written))
    ledger.settle({})
    (member,) = ledger.members.values()
    assert member.outcome is Outcome.FAILED and "3 of its result lines" in member.reason


def test_controller_dismisses_the_fleet_after_writing_its_report_when_asked(tmp_path):
    controller, fleet = make(members(2), tmp_path, dismiss_fleet="true")
    published_when_report_existed = []
    link = fleet.link

    def recording_link():
        made = link()
        publish = made.publish
        made.publish = lambda message: (
            published_when_report_existed.append(
                (type(message).__name__, (tmp_path / "report" / "report.json").exists(), made.closed)
            ),
            publish(message),
        )
        return made

    controller.link_factory = recording_link
    assert controller.run() == ExitCode.OK
    assert published_when_report_existed[-1] == ("Dismiss", True, False)  # after the report, before closing
    assert all(m.dismissed_at is not None for m in fleet.members.values()) and fleet.links[-1].closed


def test_controller_keeps_the_fleet_by_default(tmp_path):
    controller, fleet = make(members(2), tmp_path)
    assert controller.run() == ExitCode.OK
    assert not fleet.links[-1].of_type(Dismiss) and all(m.dismissed_at is None for m in fleet.members.values())


def test_controller_that_gives_up_still_dismisses_the_executors_it_found(tmp_path):
    controller, fleet = make(members(1), tmp_path, expected_executors=3, min_executors=2, dismiss_fleet="true")
    with pytest.raises(TooFewExecutors):
        controller.run()
    assert fleet.links[-1].of_type(Dismiss) and fleet.links[-1].closed


def test_controller_waits_for_dismissed_executors_to_leave_but_not_forever(tmp_path, caplog):
    fleet_members = members(2)
    fleet_members[1].leaves = False  # e.g. stuck re-arming
    controller, fleet = make(fleet_members, tmp_path, dismiss_fleet="true")
    assert controller.run() == ExitCode.OK
    assert fleet.clock.time() - fleet_members[0].dismissed_at == pytest.approx(DISMISS_WAIT_SECONDS, abs=0.2)
    assert "no word of leaving from 1 dismissed executor(s): 10.9.0.11" in caplog.text


def test_controller_ends_as_soon_as_every_dismissed_executor_left(tmp_path):
    controller, fleet = make(members(3), tmp_path, dismiss_fleet="true")
    assert controller.run() == ExitCode.OK
    assert fleet.clock.time() - fleet.members["10.9.0.10"].dismissed_at < 0.5


def test_controller_neither_wakes_nor_sends_while_the_load_tools_start(tmp_path):
    controller, fleet = make(members(2, rate=20), tmp_path)
    wakes: list[float] = []
    heartbeats: list[float] = []
    made = fleet.link

    def recording_link():
        link = made()
        receive, publish = link.receive, link.publish

        def recording_receive(timeout):
            received = receive(timeout)
            wakes.append(fleet.clock.time())
            return received

        def recording_publish(message):
            if isinstance(message, Heartbeat):
                heartbeats.append(fleet.clock.time())
            publish(message)

        link.receive, link.publish = recording_receive, recording_publish
        return link

    controller.link_factory = recording_link
    assert controller.run() == ExitCode.OK
    (start,) = fleet.links[-1].of_type(Start)
    quiet_to = start.start_at + START_QUIET_SECONDS
    assert [t for t in wakes if start.start_at < t < quiet_to] == []
    assert min(heartbeats) == pytest.approx(quiet_to, abs=1e-3)  # the first one right after the window


def test_an_oversize_summary_is_not_read_and_its_reason_names_uri_size_and_limit():
    from salvo.common.clock import SystemClock
    from salvo.common.s3 import S3Location
    from salvo.controller.collect import read_summaries

    base = "s3://bucket/results/r1/executors"
    store = FakeStore({f"{base}/small/summary.json": b"{}", f"{base}/big/summary.json": b"x" * 101})
    collected = read_summaries(
        store,
        S3Location("bucket", "results/"),
        "r1",
        ["big", "small"],
        budget_seconds=5,
        clock=SystemClock(),
        max_bytes=100,
        count=lambda executor_id, summary: pytest.fail(f"{executor_id} counted"),
    )
    assert collected.counted == []
    assert collected.rejected.keys() == {"small"}  # read, then refused by the schema: "{}" is no summary
    assert collected.unreadable == {
        "big": f"summary {base}/big/summary.json is 101 bytes, over SALVO_MAX_SUMMARY_BYTES=100"
    }


def test_summaries_are_parsed_as_read_and_readers_wait_while_the_parser_is_behind(monkeypatch):
    """2,000 summaries are not held as bytes all at once: each is parsed when read; a slow parser holds the readers."""
    import threading

    from salvo.common.clock import SystemClock
    from salvo.common.s3 import S3Location
    from salvo.controller import collect

    base = "s3://bucket/results/r1/executors"
    ids = [f"e{n:03d}" for n in range(300)]
    reads = []
    lock = threading.Lock()

    class CountingStore(FakeStore):
        def read_bytes(self, location, **kwargs):
            data = super().read_bytes(location, **kwargs)
            with lock:
                reads.append(str(location))
            return data

    waiting = []  # read but not yet parsed, seen at each parse

    def slow_parse(data, run_id, executor_id):
        with lock:
            waiting.append(len(reads) - len(waiting))
        threading.Event().wait(0.001)  # a parser slower than the readers
        return executor_id

    monkeypatch.setattr(collect, "parse_summary", slow_parse)
    store = CountingStore({f"{base}/{e}/summary.json": e.encode() for e in ids})
    counted = {}
    idle = []  # the controller reads its link there: what executors send meanwhile must not pile up
    collected = collect.read_summaries(
        store,
        S3Location("bucket", "results/"),
        "r1",
        ids,
        budget_seconds=30,
        clock=SystemClock(),
        max_bytes=100,
        count=counted.__setitem__,
        idle=lambda: idle.append(threading.current_thread()),
    )
    assert counted == {e: e for e in ids}  # every one parsed and counted, none lost to the back-pressure
    assert sorted(collected.counted) == ids
    assert len(idle) >= len(ids) and set(idle) == {threading.main_thread()}  # between answers, in the caller
    assert max(waiting) <= 2 * collect.READERS + 1  # the queue plus one summary in each reader's hands
