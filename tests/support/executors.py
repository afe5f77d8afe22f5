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

from salvo.common.keys import ControllerKeys
from salvo.common.protocol import Heartbeat, Start
from tests.support.keys import INSECURE, has_key_material

REPO = Path(__file__).resolve().parents[2]


def _ephemeral_range() -> tuple[int, int]:
    try:
        low, high = Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()
        return int(low), int(high)
    except (OSError, ValueError):
        return 32768, 60999


_handed_out: set[int] = set()


def free_port(host: str = "127.0.0.1") -> int:
    """A port for a server a test starts, never one the kernel hands out on its own.

    Asking the kernel for port 0 and passing the number on races with every outgoing
    connection (boto3, HTTP probes), which take ports from the ephemeral range. Ports
    below that range are only ever taken by an explicit bind, so the only way to lose
    one is another bind to the same number: none is handed out twice per session,
    and each is checked free (on every address) first.
    """
    low, _ = _ephemeral_range()
    start = 20000 + (os.getpid() * 7919) % max(1, low - 20000 - 2000)
    for port in range(start, low):
        if port in _handed_out:
            continue
        with socket.socket() as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                probe.bind(("0.0.0.0", port))
            except OSError:
                continue
        _handed_out.add(port)
        return port
    raise AssertionError(f"no free port between {start} and {low}")


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
    prefix: list[str] | None = None,
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
    # Open links unless the test brings keys: these executors face a stand-in controller link (run_single)
    if not has_key_material(extra_env or {}):
        env.update(INSECURE)
    env.update(extra_env or {})
    log_path = work_dir / "executor.log"
    with open(log_path, "wb") as output:  # the child keeps its own descriptor
        process = subprocess.Popen(
            [*(prefix or []), sys.executable, "-m", "salvo.cli", "executor"],
            env=env,
            cwd=REPO,
            stdout=output,
            stderr=subprocess.STDOUT,
        )
    return ExecutorProcess(executor_id, host, command_port, status_port, work_dir, log_path, process, env)


def drive_run(
    link, executors: list[ExecutorProcess], start: Start, *, heartbeat_every: float | None = 0.5, timeout: float = 120
) -> list[int]:
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


def run_single(
    executor: ExecutorProcess, run_id: str, start_in: float = 0.5, keys: ControllerKeys | None = None
) -> int:
    """Act as the controller for one armed executor: subscribe, start, heartbeat; its exit code."""
    from salvo.controller.link import ControllerLink

    link = ControllerLink(keys, command_port=executor.command_port, status_port=executor.status_port)
    try:
        link.add_executor(executor.host)
        assert link.wait_subscribed(1, timeout=10) >= 1, "the executor never subscribed"
        start = Start(run_id=run_id, fleet=[executor.executor_id], start_at=time.time() + start_in)
        (code,) = drive_run(link, [executor], start)
        return code
    finally:
        link.close()
