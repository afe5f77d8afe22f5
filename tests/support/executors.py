"""Real executor processes and a stand-in controller for integration tests (loopback only)."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from salvo.common.protocol import Heartbeat, Start

REPO = Path(__file__).resolve().parents[2]


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as s:
        s.bind((host, 0))
        return s.getsockname()[1]


def wait_for(predicate, timeout: float, what: str, interval: float = 0.05):
    """Poll `predicate` until it returns something truthy; fail the test after `timeout`."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:g}s waiting for {what}")
        time.sleep(interval)


@dataclass
class ExecutorProcess:
    executor_id: str
    host: str
    command_port: int
    status_port: int
    work_dir: Path
    log_path: Path
    process: subprocess.Popen
    env: dict = field(default_factory=dict)

    def state(self) -> str | None:
        try:
            return json.loads((self.work_dir / "state.json").read_text()).get("state")
        except (OSError, ValueError):
            return None

    def wait_state(self, *states: str, timeout: float = 90) -> str:
        def reached():
            if self.process.poll() is not None:
                raise AssertionError(
                    f"executor {self.executor_id} exited with {self.process.returncode} "
                    f"before reaching {states}:\n{self.log()[-3000:]}"
                )
            return self.state() in states and self.state()

        return wait_for(reached, timeout, f"executor {self.executor_id} to be {'/'.join(states)}")

    def wait_exit(self, timeout: float = 120) -> int:
        try:
            return self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            raise AssertionError(f"executor {self.executor_id} did not exit:\n{self.log()[-3000:]}") from None

    def wait_log(self, text: str, timeout: float = 30) -> str:
        return wait_for(lambda: text in self.log() and self.log(), timeout, f"log line {text!r}")

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def signal(self, signum: int = signal.SIGTERM) -> None:
        self.process.send_signal(signum)

    def kill(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait(10)


def start_executor(
    tmp_path: Path,
    aws_env: dict,
    *,
    executor_id: str,
    host: str,
    scenario_uri: str,
    results_uri: str,
    command_port: int | None = None,
    status_port: int | None = None,
    extra_env: dict | None = None,
) -> ExecutorProcess:
    work_dir = tmp_path / f"executor-{executor_id}"
    work_dir.mkdir(parents=True, exist_ok=True)
    command_port = command_port or free_port()
    status_port = status_port or free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("SALVO_")}
    env.update(aws_env)
    env.update(
        {
            "SALVO_EXECUTOR_ID": executor_id,
            "SALVO_SCENARIO_URI": scenario_uri,
            "SALVO_RESULTS_URI": results_uri,
            "SALVO_BIND_HOST": host,
            "SALVO_COMMAND_PORT": str(command_port),
            "SALVO_STATUS_PORT": str(status_port),
            "SALVO_WORK_DIR": str(work_dir),
            "SALVO_LOG_LEVEL": "DEBUG",
            "SALVO_S3_RETRY_SECONDS": "30",
            "PYTHONUNBUFFERED": "1",
        }
    )
    env.update(extra_env or {})
    log_path = work_dir / "executor.log"
    process = subprocess.Popen(
        [sys.executable, "-m", "salvo.cli", "executor"],
        env=env,
        cwd=REPO,
        stdout=open(log_path, "wb"),
        stderr=subprocess.STDOUT,
    )
    return ExecutorProcess(executor_id, host, command_port, status_port, work_dir, log_path, process, env)


def drive_run(link, executors: list[ExecutorProcess], start: Start, *, heartbeat_every: float | None = 0.5, timeout: float = 120) -> list[int]:
    """Publish `start`, keep the controller's heartbeat going, return the executors' exit codes."""
    link.publish(start)
    deadline = time.monotonic() + timeout
    next_beat = 0.0
    while any(e.process.poll() is None for e in executors):
        if time.monotonic() > deadline:
            raise AssertionError("executors did not finish:\n" + "\n".join(e.log()[-2000:] for e in executors))
        if heartbeat_every is not None and time.monotonic() >= next_beat:
            link.publish(Heartbeat(run_id=start.run_id))
            next_beat = time.monotonic() + heartbeat_every
        link.receive(0.05)
    return [e.process.returncode for e in executors]


def run_single(executor: ExecutorProcess, run_id: str, start_in: float = 0.5, fleet_key: str | None = None) -> int:
    """Act as the controller for one armed executor: subscribe, start, heartbeat; its exit code."""
    from salvo.controller.link import ControllerLink

    link = ControllerLink(fleet_key, command_port=executor.command_port, status_port=executor.status_port)
    try:
        link.add_executor(executor.host)
        assert link.wait_subscribed(1, timeout=10) >= 1, "the executor never subscribed"
        start = Start(run_id=run_id, fleet=[executor.executor_id], start_at=time.time() + start_in)
        (code,) = drive_run(link, [executor], start)
        return code
    finally:
        link.close()
