"""Salvo's start gate inside a real JMeter (scripts/install-jmeter.sh): held at READY, released at start_at.

The test plays the executor's end of the gate socket; the plan's thread count is
`${__P(salvo.share.of.5,5)}`, as Salvo's bzt config writes a fleet-split concurrency,
so the target's request count shows the share the gate set.
"""

from __future__ import annotations

import os
import socket
import subprocess
import tempfile
import time
from pathlib import Path

import pytest

from salvo.common.fleetload import LoadMode
from salvo.executor.tool import gate
from tests.support.jmeter import JMETER_HOME, require_jmeter

pytestmark = pytest.mark.integration

PLAN = Path(__file__).parent / "jmeter" / "tiny.jmx"
PATH = "/timed/jmeter"


@pytest.fixture
def jmeter(tmp_path, target):
    require_jmeter()
    processes = []

    def launch(gate_socket: str | None) -> subprocess.Popen:
        env = {k: v for k, v in os.environ.items() if k != gate.GATE_SOCKET_ENV}
        if gate_socket:
            env[gate.GATE_SOCKET_ENV] = gate_socket
        port = target.url.rsplit(":", 1)[1]
        process = subprocess.Popen(
            [
                str(JMETER_HOME / "bin" / "jmeter"),
                "-n",
                "-t",
                str(PLAN),
                "-l",
                str(tmp_path / "kpi.jtl"),
                "-j",
                str(tmp_path / "jmeter.log"),
                f"-Jjsr223.init.file={JMETER_HOME / 'bin' / 'salvo-gate.groovy'}",
                f"-Jtarget.port={port}",
                f"-Jtarget.path={PATH}",
                "-Jsalvo.share.totals=5",
            ],
            cwd=tmp_path,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        processes.append(process)
        return process

    yield launch
    for process in processes:
        if process.poll() is None:
            process.kill()
        process.wait(10)


@pytest.fixture
def gate_listener():
    directory = tempfile.mkdtemp(prefix="salvo-jm-")  # short: a socket path has at most 107 bytes
    path = os.path.join(directory, "gate")
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(path)
    listener.listen(1)
    listener.settimeout(90)  # the JVM starts and loads the plan first
    yield path, listener
    listener.close()
    os.unlink(path)
    os.rmdir(directory)


def arrivals(target) -> list[float]:
    return target.stats()["arrivals"].get("-", [])


def test_without_a_gate_socket_jmeter_runs_at_once(jmeter, target):
    process = jmeter(None)
    output, _ = process.communicate(timeout=120)
    assert process.returncode == 0, output
    assert len(arrivals(target)) == 5  # no gate, no share: the plan's own 5 threads


def test_jmeter_is_held_until_go_and_released_at_start_at_with_its_share(jmeter, target, gate_listener):
    path, listener = gate_listener
    process = jmeter(path)
    conn, _ = listener.accept()
    with conn:
        conn.settimeout(60)
        assert gate.decode_ready(gate.read_line(conn)) == process.pid  # bin/jmeter execs java
        held_since = time.time()
        start_at = round(held_since + 1.5, 6)  # as the GO line carries it
        assert arrivals(target) == [], "load before GO"
        conn.sendall(gate.encode_go(gate.Go(start_at=start_at, index=1, size=3, run_id="r1", mode=LoadMode.FLEET)))
        lines = conn.makefile("rb")  # RELEASED (said after the fact) and DONE may come in one read
        released_at = gate.decode_released(lines.readline().decode().rstrip("\n"))
        assert start_at <= released_at < start_at + 0.05  # typically < 1 ms; room for a busy CI machine
        assert gate.decode_done(lines.readline().decode().rstrip("\n")) >= released_at
        output, _ = process.communicate(timeout=60)
    assert process.returncode == 0, output
    times = arrivals(target)
    assert len(times) == 2  # executor 1 of 3 runs its share of 5 threads: 5 // 3 + (1 < 5 % 3)
    # no request before start_at; the first ~0.1 s after it (thread start, HTTP client set-up, cold JIT)
    assert start_at <= min(times) < start_at + 1.0


def test_a_gate_closed_before_go_ends_jmeter_with_the_abort_code_and_no_load(jmeter, target, gate_listener):
    path, listener = gate_listener
    process = jmeter(path)
    conn, _ = listener.accept()
    with conn:
        conn.settimeout(60)
        gate.decode_ready(gate.read_line(conn))
    output, _ = process.communicate(timeout=60)
    assert process.returncode == gate.ABORT_EXIT_CODE, output
    assert "salvo start gate" in output
    assert arrivals(target) == []
