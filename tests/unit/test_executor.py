"""The executor's run logic with in-memory parts: a scripted controller, a fake load tool, a fake clock."""

from __future__ import annotations

import json
import signal

import pytest

from salvo.common.errors import ExitCode, ProtocolError
from salvo.common.protocol import (
    START_QUIET_SECONDS,
    Dismiss,
    Finished,
    Start,
    StartAck,
    Status,
    Stop,
    decode_command,
    decode_status,
    encode,
)
from salvo.common.settings import load
from salvo.common.transport import Inbound, Link
from salvo.executor.run.executor import Executor
from salvo.executor.run.pacing import QUIET_LEAD_SECONDS
from salvo.executor.run.workdir import WorkDir, WorkDirInUse
from salvo.executor.settings import ExecutorSettings
from salvo.executor.tool.statsfile import SecondOfLabel
from tests.support.fakes import FakeClock, FakePreparer, FakeRunnerFactory, FakeStore, ScriptedController

RESULTS = "s3://results-bucket/results/"


def make_executor(tmp_path, *, env=None, gated=True, store=None, heartbeat_every=0.5, **runner):
    settings = load(
        ExecutorSettings,
        {
            "SALVO_SCENARIO_URI": "s3://scenarios/locustfile.py",
            "SALVO_RESULTS_URI": RESULTS,
            "SALVO_WAIT_TIMEOUT": "30",
            "SALVO_KILL_SWITCH_TIMEOUT": "5",
            **(env or {}),
        },
    )
    clock = FakeClock()
    store = store or FakeStore()
    controller = ScriptedController(clock, heartbeat_every=heartbeat_every)
    runners = FakeRunnerFactory(clock, **runner)
    executor = Executor(
        settings,
        executor_id="exec-1",
        preparer=FakePreparer(settings, store, gated=gated),
        runner_factory=runners,
        link_factory=lambda: controller,
        store=store,
        clock=clock,
        workdir=WorkDir(tmp_path / "work"),
    )
    return executor, controller, runners, store, clock


def start(clock, in_seconds=0.5, run_id="run-1", fleet=("exec-1",)) -> Start:
    return Start(run_id=run_id, fleet=list(fleet), start_at=clock.time() + in_seconds)


def summary(store, run_id="run-1") -> dict:
    return json.loads(store.objects[f"{RESULTS}{run_id}/executors/exec-1/summary.json"])


def test_executor_runs_at_start_at_and_uploads_an_exact_summary(tmp_path):
    executor, controller, runners, store, clock = make_executor(tmp_path, run_seconds=3, rate=20)
    the_start = start(clock, 1.0)
    controller.at(clock.time() + 0.2, the_start)
    assert executor.run() == ExitCode.OK
    (runner,) = runners.runners
    assert runner.released_at == the_start.start_at and runner.requests_sent == 60
    result = summary(store)
    assert result["totals"]["requests"] == 60 and result["exit_code"] == 0 and result["stop_reason"] == "completed"
    assert result["timings"]["first_request"] == the_start.start_at
    (ack,) = controller.of_type(StartAck)
    assert ack.accepted and ack.run_id == "run-1"
    (finished,) = controller.of_type(Finished)
    assert finished.exit_code == 0 and finished.summary_uri.endswith("run-1/executors/exec-1/summary.json")
    assert f"{RESULTS}_salvo-write-checks/exec-1" in store.objects  # proved writable while arming


@pytest.mark.parametrize(
    ("the_start", "reason"),
    [
        (lambda clock: start(clock, fleet=("someone-else",)), "not in the run's fleet"),
        (lambda clock: start(clock, -1.0), "start_at passed"),
    ],
    ids=["not-in-fleet", "stale"],
)
def test_executor_ignores_a_start_that_is_not_for_it_and_never_loads(tmp_path, caplog, the_start, reason):
    executor, controller, runners, store, clock = make_executor(tmp_path, env={"SALVO_WAIT_TIMEOUT": "5"})
    controller.at(clock.time() + 1, the_start(clock))
    assert executor.run() == ExitCode.NO_LOAD  # then the wait timeout
    (runner,) = runners.runners
    assert runner.released_at is None and runner.aborted and runner.requests_sent == 0
    assert reason in caplog.text
    assert not [k for k in store.objects if "/executors/" in k]


def test_executor_refuses_a_duplicate_start_while_running(tmp_path, caplog):
    executor, controller, runners, _store, clock = make_executor(tmp_path, run_seconds=3)
    first = start(clock, 0.5)
    controller.at(clock.time() + 0.1, first)
    controller.at(clock.time() + 2.0, Start(run_id="run-1", fleet=["exec-1"], start_at=clock.time() + 2.5))
    assert executor.run() == ExitCode.OK
    refusals = [a for a in controller.of_type(StartAck) if not a.accepted]
    assert len(refusals) == 1 and "duplicate start" in refusals[0].reason
    assert runners.runners[0].released_at == first.start_at


def test_executor_in_service_mode_never_runs_the_same_run_twice(tmp_path):
    executor, controller, runners, _store, clock = make_executor(
        tmp_path, env={"SALVO_MODE": "service", "SALVO_WAIT_TIMEOUT": "10"}, run_seconds=1
    )
    controller.at(clock.time() + 0.1, start(clock, 0.5))
    controller.at(clock.time() + 3.0, Start(run_id="run-1", fleet=["exec-1"], start_at=clock.time() + 3.5))
    assert executor.run() == ExitCode.NO_LOAD  # second arm: the repeated start is refused, then the wait times out
    assert [r.released_at is not None for r in runners.runners] == [True, False]


def test_executor_wait_timeout_exits_4_and_never_releases_the_gate(tmp_path, caplog):
    executor, _controller, runners, _store, clock = make_executor(tmp_path, env={"SALVO_WAIT_TIMEOUT": "3"})
    began = clock.time()
    assert executor.run() == ExitCode.NO_LOAD
    assert 3 <= clock.time() - began < 3.5
    assert runners.runners[0].aborted and runners.runners[0].released_at is None
    assert "SALVO_WAIT_TIMEOUT=3s" in caplog.text


def test_executor_kill_switch_stops_the_load_and_uploads_partial_results(tmp_path, caplog):
    executor, controller, runners, store, clock = make_executor(tmp_path, heartbeat_every=None, run_seconds=60)
    accepted_at = clock.time() + 0.1
    controller.at(accepted_at, start(clock, 0.5))
    assert executor.run() == ExitCode.NO_LOAD
    (runner,) = runners.runners
    assert runner.stopped_at - accepted_at == pytest.approx(
        5.0, abs=0.15
    )  # SALVO_KILL_SWITCH_TIMEOUT after the last contact
    result = summary(store)
    assert result["exit_code"] == 4 and "kill switch" in result["stop_reason"]
    assert result["totals"]["requests"] == runner.requests_sent > 0


def test_executor_stop_command_ends_the_run_gracefully(tmp_path):
    executor, controller, runners, store, clock = make_executor(tmp_path, run_seconds=60)
    began = clock.time()
    controller.at(clock.time() + 0.1, start(clock, 0.5))
    controller.at(clock.time() + 3.0, Stop(run_id="another-run"))  # not ours: ignored
    controller.at(clock.time() + 4.0, Stop(run_id="run-1", reason="operator"))
    assert executor.run() == ExitCode.OK
    result = summary(store)
    assert result["stop_reason"] == "stopped by controller: operator"
    assert runners.runners[0].stopped_at - began == pytest.approx(4.0, abs=0.15)
    assert result["totals"]["requests"] == runners.runners[0].requests_sent == 35


def test_executor_sigterm_mid_run_uploads_what_exists_and_exits_143(tmp_path):
    executor, controller, runners, store, clock = make_executor(tmp_path, run_seconds=60, rate=10)
    controller.at(clock.time() + 0.1, start(clock, 0.5))
    controller.at(clock.time() + 2.6, lambda: executor.interrupt(signal.SIGTERM))
    assert executor.run() == ExitCode.SIGTERM
    result = summary(store)
    assert result["exit_code"] == 143 and result["stop_reason"] == "interrupted by SIGTERM"
    assert result["totals"]["requests"] == runners.runners[0].requests_sent == 21


def test_executor_sigterm_while_waiting_exits_143_without_load(tmp_path):
    executor, controller, runners, _store, clock = make_executor(tmp_path)
    controller.at(clock.time() + 1, lambda: executor.interrupt(signal.SIGTERM))
    assert executor.run() == ExitCode.SIGTERM
    assert runners.runners[0].released_at is None and runners.runners[0].aborted


def test_executor_load_tool_crash_mid_run_is_a_failure_with_results(tmp_path):
    executor, controller, _runners, store, clock = make_executor(tmp_path, run_seconds=10, crash_after=2, exit_code=3)
    controller.at(clock.time() + 0.1, start(clock, 0.5))
    assert executor.run() == ExitCode.FAILED
    result = summary(store)
    assert result["exit_code"] == 1 and "load tool failed" in result["stop_reason"]
    assert "You must specify the base host" in result["stop_reason"]
    (finished,) = controller.of_type(Finished)
    assert finished.exit_code == 1


def test_executor_load_tool_dying_at_the_gate_fails_before_armed(tmp_path, caplog):
    executor, controller, _runners, _store, _clock = make_executor(tmp_path, dies_at_gate=True)
    assert executor.run() == ExitCode.SCENARIO  # the scenario could not be armed: nothing ran
    assert executor.state.value == "failed" and "You must specify the base host" in caplog.text
    assert not controller.pushed  # never bound, never said armed


def test_executor_load_tool_exiting_while_held_is_reported_before_the_start(tmp_path, caplog):
    executor, _controller, _runners, _store, _clock = make_executor(tmp_path, exits_while_held=True)
    assert executor.run() == ExitCode.FAILED
    assert "exited while waiting for the start" in caplog.text


def test_executor_refuses_results_it_could_not_upload_while_arming(tmp_path, caplog):
    executor, _controller, runners, _store, _clock = make_executor(tmp_path, store=FakeStore(writable=False))
    assert executor.run() == ExitCode.SCENARIO
    assert "SALVO_RESULTS_URI=s3://results-bucket/results/ is not writable" in caplog.text
    assert "'results-bucket'" in caplog.text and not runners.runners  # refused before the tool was launched


def test_executor_refuses_a_work_dir_held_by_another_process(tmp_path):
    holder = WorkDir(tmp_path / "work")
    holder.acquire()
    try:
        executor, *_ = make_executor(tmp_path)
        with pytest.raises(WorkDirInUse, match=r"in use by executor pid \d+"):
            executor.run()
        assert not (tmp_path / "work" / "state.json").exists()
    finally:
        holder.release()


def test_executor_never_counts_results_left_by_an_earlier_process(tmp_path):
    stale = tmp_path / "work" / "runs" / "1" / "artifacts"
    stale.mkdir(parents=True)
    cell = SecondOfLabel()
    for n in range(500):
        cell.request(1.0 + n / 1000, 5.0, "200", True, 10, "")
    (stale / "salvo-stats-999.jsonl").write_text(cell.line(1, "/", 1) + "\n")
    executor, controller, _runners, store, clock = make_executor(tmp_path, run_seconds=1, rate=10)
    controller.at(clock.time() + 0.1, start(clock, 0.5))
    assert executor.run() == ExitCode.OK
    assert summary(store)["totals"]["requests"] == 10


def test_executor_kills_a_load_tool_that_ignores_the_stop(tmp_path, caplog):
    executor, controller, runners, store, clock = make_executor(tmp_path, run_seconds=600, ignores_stop=True)
    began = clock.time()
    controller.at(clock.time() + 0.1, start(clock, 0.5))
    controller.at(clock.time() + 2.0, Stop(run_id="run-1"))
    assert executor.run() == ExitCode.OK
    (runner,) = runners.runners
    assert runner.killed and 32 <= clock.time() - began < 33  # the stop, then STOP_GRACE_SECONDS
    assert "did not stop within 30 s" in caplog.text
    assert summary(store)["totals"]["requests"] == runner.requests_sent > 0


def test_executor_summary_counts_lines_it_could_not_read(tmp_path):
    executor, controller, runners, store, clock = make_executor(tmp_path, run_seconds=1, rate=10)
    controller.at(clock.time() + 0.1, start(clock, 0.5))
    original = FakeRunnerFactory.__call__

    def torn(self, **kwargs):
        runner = original(self, **kwargs)
        (kwargs["artifacts_dir"]).mkdir(parents=True, exist_ok=True)
        (kwargs["artifacts_dir"] / "salvo-stats-7.jsonl").write_text("{torn\n")
        return runner

    runners.__class__ = type("Torn", (FakeRunnerFactory,), {"__call__": torn})
    assert executor.run() == ExitCode.OK
    assert summary(store)["unreadable_lines"] == 1


def test_service_executor_dismissed_after_its_run_exits_0_instead_of_waiting_for_another(tmp_path, caplog):
    executor, controller, runners, store, clock = make_executor(
        tmp_path, env={"SALVO_MODE": "service", "SALVO_WAIT_TIMEOUT": "60"}, run_seconds=1
    )
    caplog.set_level("INFO")
    controller.at(clock.time() + 0.1, start(clock, 0.5))
    controller.at(clock.time() + 3.0, Dismiss(run_id="run-1"))  # the controller has written its report
    began = clock.time()
    assert executor.run() == ExitCode.OK
    first, second = runners.runners
    assert first.released_at is not None and summary(store)["exit_code"] == 0
    assert second.released_at is None and second.aborted  # re-armed, then let go without load
    assert clock.time() - began < 4 and controller.closed
    assert "dismissed by the controller while armed" in caplog.text
    last_word = controller.pushed[-1]
    assert isinstance(last_word, Status) and last_word.leaving and last_word.executor_id == "exec-1"


def test_dismiss_during_a_run_stops_it_uploads_and_does_not_re_arm(tmp_path):
    executor, controller, runners, store, clock = make_executor(tmp_path, env={"SALVO_MODE": "service"}, run_seconds=60)
    controller.at(clock.time() + 0.1, start(clock, 0.5))
    controller.at(clock.time() + 3.0, Dismiss())
    assert executor.run() == ExitCode.OK
    (runner,) = runners.runners
    assert runner.stopped_at is not None
    result = summary(store)
    assert result["stop_reason"].startswith("stopped by controller") and result["totals"]["requests"] > 0
    assert controller.pushed[-1].leaving and controller.of_type(Finished)


def test_dismiss_is_only_obeyed_on_the_command_link(tmp_path):
    executor, controller, _runners, _store, clock = make_executor(tmp_path, env={"SALVO_WAIT_TIMEOUT": "3"})
    controller.at(clock.time() + 0.5, Inbound(Link.STATUS, Dismiss(), b"peer"))
    assert executor.run() == ExitCode.NO_LOAD  # still waited for a start, until the wait timeout
    assert not any(getattr(m, "leaving", False) for m in controller.pushed)


def test_dismiss_travels_only_as_a_command():
    frame = encode(Dismiss(run_id="run-1"))
    assert decode_command(frame) == Dismiss(run_id="run-1")
    with pytest.raises(ProtocolError):
        decode_status(frame)


def _recorded(controller, clock) -> tuple[list[float], list[float]]:
    """The fake clock's time at each wake of the executor's loop and at each message it sent."""
    wakes: list[float] = []
    sends: list[float] = []
    poll, push = controller.poll, controller.push

    def recording_poll(timeout):
        delivered = poll(timeout)
        wakes.append(clock.time())
        return delivered

    def recording_push(message):
        sends.append(clock.time())
        return push(message)

    controller.poll, controller.push = recording_poll, recording_push
    return wakes, sends


def test_a_gated_executor_neither_wakes_nor_sends_while_its_load_tool_starts(tmp_path):
    executor, controller, runners, _store, clock = make_executor(tmp_path, run_seconds=2, rate=20)
    the_start = start(clock, 1.03)  # its 0.1 s polls would otherwise fall close to start_at
    controller.at(clock.time() + 0.2, the_start)
    wakes, sends = _recorded(controller, clock)
    assert executor.run() == ExitCode.OK
    quiet_from, quiet_to = the_start.start_at - QUIET_LEAD_SECONDS, the_start.start_at + START_QUIET_SECONDS
    assert [t for t in wakes + sends if quiet_from < t < quiet_to] == []
    assert max(t for t in wakes if t <= quiet_from) == pytest.approx(quiet_from, abs=1e-6)  # its last look before
    assert min(t for t in wakes if t >= quiet_to) == pytest.approx(quiet_to, abs=1e-6)  # watching again right after
    assert runners.runners[0].released_at == the_start.start_at  # the gate itself let go on time


def test_an_ungated_executor_wakes_at_start_at_to_launch_its_tool(tmp_path):
    executor, controller, runners, _store, clock = make_executor(tmp_path, gated=False, run_seconds=1, rate=20)
    the_start = start(clock, 1.03)
    controller.at(clock.time() + 0.2, the_start)
    assert executor.run() == ExitCode.OK
    assert runners.runners[0].launched_at == pytest.approx(the_start.start_at, abs=1e-6)
