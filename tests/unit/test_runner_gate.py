"""The executor's end of the gate: release times survive bzt's exit, and gated locusts are reaped."""

from __future__ import annotations

import socket
import subprocess
import sys

from salvo.executor import gate
from salvo.executor.bztconfig import RunPlan
from salvo.executor.runner import BztRunner, RunnerState, _Gate


def test_release_times_are_read_before_the_gates_close_and_locust_is_reaped(tmp_path):
    runner = BztRunner(plan=RunPlan(configs=[], cwd=tmp_path, gates=2), artifacts_dir=tmp_path)
    locusts = [subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)"]) for _ in range(2)]
    pairs = [socket.socketpair() for _ in locusts]
    try:
        for (ours, _), locust in zip(pairs, locusts):
            ours.setblocking(False)
            runner._gates.append(_Gate(conn=ours, pid=locust.pid))
        pairs[0][1].sendall(gate.encode_released(1_700_000_000.25))
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
