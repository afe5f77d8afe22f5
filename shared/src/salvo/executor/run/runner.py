"""Runs bzt for one run: launch, hold at the gate, release at start_at, stop, reap.

bzt is started as `python -m bzt.cli` (not the `bzt` console script, which has
no SIGTERM handler and would orphan locust without writing results), in its own
process group, so that a stop is always graceful: SIGTERM to bzt, which stops
locust and writes its final stats. Locust processes that report at the gate are
remembered by pid and reaped if bzt ever leaves them behind.
"""

from __future__ import annotations

import contextlib
import logging
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from enum import Enum
from pathlib import Path

from salvo.common.defaults import STOP_GRACE_SECONDS
from salvo.common.environment import scenario_environment
from salvo.common.errors import LoadToolError, LoadToolNotReady
from salvo.executor.run.failurehint import first_error
from salvo.executor.scenario.bztconfig import RunPlan
from salvo.executor.tool import gate as protocol
from salvo.executor.tool.locust_recorder import SAMPLES_DIR_ENV

log = logging.getLogger(__name__)

LOCUST_DIED = 1  # the exit code reported for a run in which a locust process died or said FAILED
BZT_NICENESS = 10
STOP_RETRY_SECONDS = 2.0
# What bzt prints once it has a stop in hand. It can miss a SIGTERM: its health monitor runs
# `netstat` inside `except BaseException`, which swallows the ManualShutdown bzt's own handler raises.
BZT_STOP_ACK = b"Please wait for graceful shutdown"


class RunnerState(str, Enum):
    IDLE = "idle"
    HELD = "held"  # launched, every gate reported READY
    RELEASED = "released"
    STOPPING = "stopping"
    EXITED = "exited"


@dataclass
class _Gate:
    conn: socket.socket
    pid: int
    released_at: float | None = None
    done_at: float | None = None
    buffer: bytes = b""
    told_to_go: bool = False  # GO sent: from then on only DONE is a normal end (RELEASED may come later, or never)
    failure: str | None = None  # a FAILED line's reason: the scenario ended the run early


@dataclass
class BztRunner:
    plan: RunPlan
    artifacts_dir: Path
    env: dict[str, str] = field(default_factory=dict)
    state: RunnerState = RunnerState.IDLE
    launched_at: float | None = None
    process: subprocess.Popen | None = None
    _listener: socket.socket | None = None
    _gates: list[_Gate] = field(default_factory=list)
    _stop_sent_at: float | None = None
    _socket_dir: Path | None = None

    # --- lifecycle -------------------------------------------------------------------

    def launch(self) -> None:
        """Start bzt now. Gated plans stop at the gate; others start load at once."""
        self.artifacts_dir.mkdir(parents=True, exist_ok=True)
        env = scenario_environment(os.environ, self.env)  # scenario code never sees Salvo's keys
        env[SAMPLES_DIR_ENV] = str(self.artifacts_dir)
        if self.plan.gated:
            address = self._gate_address()
            self._listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            self._listener.bind(protocol.socket_address(address))
            self._listener.listen(self.plan.gates)
            env[protocol.GATE_SOCKET_ENV] = address
        else:
            env.pop(protocol.GATE_SOCKET_ENV, None)
        command = [sys.executable, "-m", "bzt.cli", *map(str, self.plan.configs)]
        log.debug("launching %s (cwd %s)", " ".join(command), self.plan.cwd)
        # open while bzt runs, closed by _finish
        self._output = open(self.artifacts_dir / "bzt.out", "wb")  # noqa: SIM115
        self.launched_at = time.time()
        self.process = subprocess.Popen(
            command,
            cwd=self.plan.cwd,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=self._output,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            preexec_fn=_stop_when_parent_dies,
        )

    def _gate_address(self) -> str:
        """An abstract socket name (no file to clean up), or a short file path for a tool that needs one."""
        if not self.plan.gate_needs_a_path:
            return f"@salvo-gate-{os.getpid()}-{secrets.token_hex(6)}"
        self._socket_dir = Path(tempfile.mkdtemp(prefix="salvo-gate-"))  # short: a socket path has 107 bytes
        return str(self._socket_dir / "gate")

    def wait_at_gate(self, timeout: float) -> None:
        """Block until every gated process reported READY; LoadToolNotReady (exit 3) if bzt fails first."""
        if self._listener is None or self.process is None:
            raise RuntimeError("wait_at_gate before launch")
        deadline = time.monotonic() + timeout
        while len(self._gates) < self.plan.gates:
            if self.process.poll() is not None:
                raise LoadToolNotReady(
                    f"bzt exited with code {self.process.returncode} before the load tool was ready: "
                    f"{self.failure_hint()}"
                )
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise LoadToolNotReady(
                    f"the load tool did not reach its start gate within {timeout:g} s "
                    f"({len(self._gates)} of {self.plan.gates} ready): {self.failure_hint()}"
                )
            self._listener.settimeout(min(0.2, remaining))
            try:
                conn, _ = self._listener.accept()
            except TimeoutError:
                continue
            conn.settimeout(10)
            try:
                pid = protocol.decode_ready(protocol.read_line(conn))
            except (OSError, protocol.GateProtocolError) as exc:
                log.debug("gate connection dropped: %s", exc)
                conn.close()
                continue
            conn.setblocking(False)
            self._gates.append(_Gate(conn=conn, pid=pid))
            log.debug("load tool pid %s is held at the gate", pid)
        self._yield_to_load()
        self.state = RunnerState.HELD

    def _yield_to_load(self) -> None:
        """bzt wakes every second to aggregate; at start_at that must not delay locust for a core.

        Lowering bzt's priority now leaves locust, forked earlier, at normal priority
        (and needs no privilege)."""
        try:
            os.setpriority(os.PRIO_PROCESS, self.process.pid, BZT_NICENESS)
        except OSError as exc:
            log.debug("could not lower bzt's priority: %s", exc)

    def release(self, go: protocol.Go) -> None:
        """Tell every gate when to let go and the executor's place in the fleet (gated), or launch now (not gated)."""
        if self.plan.gated:
            line = protocol.encode_go(go)
            for gate in self._gates:
                try:
                    gate.conn.sendall(line)
                except OSError as exc:
                    raise LoadToolError(f"load tool pid {gate.pid} left its start gate before GO: {exc}") from None
                gate.told_to_go = True
        else:
            self.env.update(go.scenario_environment())
            self.launch()
        self.state = RunnerState.RELEASED

    def released_times(self) -> list[float]:
        """When each gate actually let locust go (filled in as the gates report)."""
        self._read_gates()
        return [g.released_at for g in self._gates if g.released_at is not None]

    def _read_gates(self) -> None:
        for gate in self._gates:
            if gate.done_at is not None or gate.conn.fileno() < 0:
                continue
            while True:
                try:
                    chunk = gate.conn.recv(protocol.MAX_LINE_BYTES)
                except (BlockingIOError, OSError):
                    break
                if not chunk:
                    break
                gate.buffer += chunk
            lines, gate.buffer = protocol.split_lines(gate.buffer)
            for line in lines:
                try:
                    if protocol.is_done(line):
                        gate.done_at = protocol.decode_done(line)
                    elif protocol.is_failed(line):
                        gate.failure = gate.failure or protocol.decode_failed(line)
                    else:
                        gate.released_at = protocol.decode_released(line)
                except protocol.GateProtocolError as exc:
                    log.debug("ignoring a line from the gate: %s", exc)

    @property
    def died(self) -> list[int]:
        """Load-tool processes told to go (or that said RELEASED) which ended without saying DONE: killed, crashed
        or os._exit. JMeter's gate says RELEASED 0.2 s after start_at, so GO, not RELEASED, is what counts."""
        if self.state is not RunnerState.EXITED:
            return []
        return [g.pid for g in self._gates if (g.told_to_go or g.released_at is not None) and g.done_at is None]

    @property
    def failures(self) -> list[str]:
        """The reasons load-tool processes gave for ending the run early (FAILED lines): bzt still exits 0."""
        return [g.failure for g in self._gates if g.failure is not None]

    def poll(self) -> int | None:
        """bzt's exit code once it exited, or LOCUST_DIED when it says 0 but a locust died under it or said the
        run failed."""
        if self.process is None:
            return None
        code = self.process.poll()
        if code is None and self.state is RunnerState.STOPPING:
            self._repeat_unheard_stop()
        if code is not None and self.state is not RunnerState.EXITED:
            self._finish()
        return code if code or not (self.died or self.failures) else LOCUST_DIED

    def stop(self) -> None:
        """Graceful stop: bzt stops locust and writes its results. Repeated by poll() until bzt hears it."""
        if self.process is None or self.process.poll() is not None:
            return
        self.state = RunnerState.STOPPING
        log.info("stopping the load tool (SIGTERM to bzt)")
        self._send_stop()

    def _send_stop(self) -> None:
        self._stop_sent_at = time.monotonic()
        _signal(self.process.pid, signal.SIGTERM, group=False)

    def _repeat_unheard_stop(self) -> None:
        """Once bzt says it is shutting down, another signal would cut its results short: only resend before."""
        if time.monotonic() - self._stop_sent_at < STOP_RETRY_SECONDS:
            return
        try:
            heard = BZT_STOP_ACK in (self.artifacts_dir / "bzt.out").read_bytes()
        except OSError:
            heard = False
        if not heard:
            log.warning("bzt has not acknowledged the stop after %g s; sending SIGTERM again", STOP_RETRY_SECONDS)
            self._send_stop()

    def abort(self) -> None:
        """Before release: the gates close, so locust exits without ever producing load."""
        self._close_gates()
        if self.process is not None and self.process.poll() is None:
            _signal(self.process.pid, signal.SIGTERM, group=False)
            self.wait(STOP_GRACE_SECONDS)

    def wait(self, timeout: float) -> int:
        if self.process is None:
            raise RuntimeError("wait before launch")
        try:
            code = self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            log.warning("bzt did not stop within %g s; killing it", timeout)
            os.killpg(self.process.pid, signal.SIGKILL)
            code = self.process.wait()
        self._finish()
        return code if code or not (self.died or self.failures) else LOCUST_DIED

    # --- helpers ---------------------------------------------------------------------

    def _finish(self) -> None:
        self.state = RunnerState.EXITED
        self._close_gates()
        for gate in self._gates:  # locust runs in its own process group: never leave it behind
            _signal(gate.pid, signal.SIGKILL, group=False)
        if getattr(self, "_output", None):
            self._output.close()

    def _close_gates(self) -> None:
        self.released_times()  # RELEASED lines still unread would be lost with their sockets
        if self._listener is not None:
            self._listener.close()
            self._listener = None
        if self._socket_dir is not None:
            shutil.rmtree(self._socket_dir, ignore_errors=True)
            self._socket_dir = None
        for gate in self._gates:
            with contextlib.suppress(OSError):
                gate.conn.close()

    def failure_reason(self, code: int) -> str:
        """The one line a failed run ends with. A FAILED line is the scenario's own reason (a rate shape that
        raised): bzt exited 0 then, so no bzt exit code is named."""
        if self.failures and self.process is not None and self.process.returncode == 0:  # bzt's own code
            return f"the scenario ended the run: {self.failures[0]}"
        return f"load tool failed (bzt exit code {code}): {self.failure_hint()}"

    def failure_hint(self) -> str:
        """The tool's own first meaningful error line, for a one-line error (see salvo.executor.run.failurehint)."""
        if self.failures:
            return self.failures[0]
        if self.died:
            return (
                f"load tool process {', '.join(map(str, self.died))} ended without finishing its run "
                "(killed, crashed or exited on its own): its last requests are not counted"
            )
        return first_error(self.artifacts_dir) or f"see {self.artifacts_dir}/bzt.log"


def _stop_when_parent_dies() -> None:
    """Runs in the bzt child before exec: if the executor dies (even by SIGKILL), the kernel sends
    bzt SIGTERM, which it handles gracefully, stopping locust. No orphaned load, ever."""
    import ctypes

    PR_SET_PDEATHSIG = 1
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)


def _signal(pid: int, signum: int, group: bool = True) -> None:
    try:
        if group:
            os.killpg(pid, signum)
        else:
            os.kill(pid, signum)
    except (ProcessLookupError, PermissionError):
        pass
