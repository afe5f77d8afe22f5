"""A stop reaches bzt even when bzt misses the first SIGTERM, and is never repeated once bzt has it in hand."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

from salvo.executor.run import runner as runner_module
from salvo.executor.run.runner import BztRunner, RunnerState
from salvo.executor.scenario.bztconfig import RunPlan

# Stands in for bzt: counts SIGTERMs in a file, ignores the first `deaf` of them (as bzt does when
# its health monitor swallows the ManualShutdown), then prints bzt's acknowledgement and exits
# after `linger` seconds.
FAKE_BZT = r"""
import signal, sys, time
deaf, linger, count_file = int(sys.argv[1]), float(sys.argv[2]), sys.argv[3]
count = 0
def on_term(*_):
    global count
    count += 1
    open(count_file, "w").write(str(count))
    if count > deaf:
        print("12:00:00 WARNING: Please wait for graceful shutdown...", flush=True)
        time.sleep(linger)
        sys.exit(0)
signal.signal(signal.SIGTERM, on_term)
print("12:00:00 INFO: Waiting for results...", flush=True)
while True:
    time.sleep(0.01)
"""


def stopped(tmp_path: Path, *, deaf: int, linger: float) -> tuple[int, float]:
    """Run the fake, stop it through the runner, poll as the executor does: SIGTERMs received, seconds taken."""
    artifacts = tmp_path / "artifacts"
    artifacts.mkdir()
    count_file = tmp_path / "sigterms"
    runner = BztRunner(plan=RunPlan(configs=[], cwd=tmp_path, gates=0), artifacts_dir=artifacts)
    with open(artifacts / "bzt.out", "wb") as output:
        runner.process = subprocess.Popen(
            [sys.executable, "-c", FAKE_BZT, str(deaf), str(linger), str(count_file)],
            stdout=output,
            stderr=subprocess.STDOUT,
        )
    try:
        deadline = time.monotonic() + 30
        while b"Waiting for results" not in (artifacts / "bzt.out").read_bytes():  # its handler is set
            assert time.monotonic() < deadline, "the fake bzt never started"
            time.sleep(0.01)
        started = time.monotonic()
        runner.stop()
        while runner.poll() is None:
            assert time.monotonic() < deadline, "bzt was never stopped"
            time.sleep(0.05)
        assert runner.process.returncode == 0 and runner.state is RunnerState.EXITED
        return int(count_file.read_text()), time.monotonic() - started
    finally:
        if runner.process.poll() is None:
            runner.process.kill()


def test_a_missed_sigterm_is_sent_again(tmp_path, monkeypatch):
    monkeypatch.setattr(runner_module, "STOP_RETRY_SECONDS", 0.3)
    sigterms, _ = stopped(tmp_path, deaf=1, linger=0)
    assert sigterms == 2


def test_an_acknowledged_stop_is_not_repeated_while_bzt_writes_its_results(tmp_path, monkeypatch):
    monkeypatch.setattr(runner_module, "STOP_RETRY_SECONDS", 0.2)
    sigterms, seconds = stopped(tmp_path, deaf=0, linger=1.0)
    assert seconds >= 1.0  # five retry periods passed while bzt wound down ...
    assert sigterms == 1  # ... and none brought another signal
