"""The executor's end of the gate: release times survive bzt's exit, and gated locusts are reaped."""

from __future__ import annotations

import socket
import subprocess
import sys

from salvo.common.fleetload import LoadMode
from salvo.executor.run.runner import BztRunner, RunnerState, _Gate
from salvo.executor.scenario.bztconfig import RunPlan
from salvo.executor.tool import gate


def test_release_times_are_read_before_the_gates_close_and_locust_is_reaped(tmp_path):
    runner = BztRunner(plan=RunPlan(configs=[], cwd=tmp_path, gates=2), artifacts_dir=tmp_path)
    locusts = [subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)"]) for _ in range(2)]
    pairs = [socket.socketpair() for _ in locusts]
    try:
        for (ours, _), locust in zip(pairs, locusts, strict=True):
            ours.setblocking(False)
            runner._gates.append(_Gate(conn=ours, pid=locust.pid))
        pairs[0][1].sendall(gate.encode_released(1_700_000_000.25) + gate.encode_done(1_700_000_010.0))
        pairs[1][1].sendall(b"RELEASED soon\n")  # malformed: ignored, not fatal
        runner.process = subprocess.Popen([sys.executable, "-c", "pass"])
        runner.process.wait(30)

        assert runner.poll() == 0  # bzt is gone: the runner closes the gates and reaps locust
        assert runner.state is RunnerState.EXITED
        assert runner.released_times() == [1_700_000_000.25]
        assert [locust.wait(30) for locust in locusts] == [-9, -9]
    finally:
        for locust in locusts:
            if locust.poll() is None:
                locust.kill()
        for ours, theirs in pairs:
            ours.close()
            theirs.close()


def _finished_run(tmp_path, lines_from_locust: bytes) -> BztRunner:
    """A runner whose bzt exited 0 after its one locust said `lines_from_locust` and closed the gate."""
    runner = BztRunner(plan=RunPlan(configs=[], cwd=tmp_path, gates=1), artifacts_dir=tmp_path)
    ours, theirs = socket.socketpair()
    ours.setblocking(False)
    locust = subprocess.Popen([sys.executable, "-c", "pass"])
    locust.wait(30)
    runner._gates.append(_Gate(conn=ours, pid=locust.pid))
    theirs.sendall(lines_from_locust)
    theirs.close()
    runner.process = subprocess.Popen([sys.executable, "-c", "pass"])
    runner.process.wait(30)
    return runner


def test_a_locust_that_died_after_release_fails_the_run_even_when_bzt_says_0(tmp_path):
    runner = _finished_run(tmp_path, gate.encode_released(1_700_000_000.0))  # no DONE: os._exit, SIGKILL, OOM
    assert runner.poll() == 1 and runner.wait(1) == 1
    assert "ended without finishing its run" in runner.failure_hint()


def test_a_tool_told_to_go_that_died_before_saying_released_fails_the_run(tmp_path):
    runner = _finished_run(tmp_path, b"")  # JMeter's gate says RELEASED only 0.2 s after start_at
    runner._gates[0].told_to_go = True  # as release() marks every gate it sent GO
    assert runner.poll() == 1 and "ended without finishing its run" in runner.failure_hint()
    assert runner.failure_reason(1).startswith("load tool failed (bzt exit code 1): load tool process")


def test_release_marks_every_gate_told_to_go(tmp_path):
    runner = BztRunner(plan=RunPlan(configs=[], cwd=tmp_path, gates=2), artifacts_dir=tmp_path)
    pairs = [socket.socketpair() for _ in range(2)]
    try:
        runner._gates.extend(_Gate(conn=ours, pid=0) for ours, _ in pairs)
        runner.release(gate.Go(start_at=1_700_000_000.0, index=0, size=1, run_id="r", mode=LoadMode.PER_EXECUTOR))
        assert [g.told_to_go for g in runner._gates] == [True, True]
        assert all(theirs.recv(1024).startswith(b"GO ") for _, theirs in pairs)
    finally:
        for ours, theirs in pairs:
            ours.close()
            theirs.close()


def test_a_locust_that_said_done_is_a_normal_end(tmp_path):
    runner = _finished_run(tmp_path, gate.encode_released(1_700_000_000.0) + gate.encode_done(1_700_000_005.0))
    assert runner.poll() == 0 and runner.died == []


def test_a_locust_never_released_is_no_failure_of_the_run(tmp_path):
    runner = _finished_run(tmp_path, b"")  # aborted at the gate: it never sent load
    assert runner.poll() == 0


def test_a_locust_that_said_failed_fails_the_run_with_its_reason_though_bzt_says_0(tmp_path):
    reason = "rate shape Steps: rate(2) raised RuntimeError: gone"
    said = gate.encode_released(1_700_000_000.0) + gate.encode_failed(reason) + gate.encode_done(1_700_000_005.0)
    runner = _finished_run(tmp_path, said)
    assert runner.poll() == 1 and runner.wait(1) == 1
    assert runner.died == [] and runner.failure_hint() == reason
    # the scenario's own reason, not bzt's exit code: bzt said 0
    assert runner.failure_reason(1) == f"the scenario ended the run: {reason}"


def test_a_failed_line_is_one_printable_line_that_fits():
    line = gate.encode_failed("first\nsecond\tthird " + "x" * 2000)
    assert len(line) <= gate.MAX_LINE_BYTES and line.count(b"\n") == 1 and line.endswith(b"\n")
    assert gate.decode_failed(line.decode().removesuffix("\n")).startswith("first second third xx")
    assert gate.is_failed("FAILED why") and not gate.is_failed("DONE 1.0")
