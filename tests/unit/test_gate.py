"""The gate's line protocol: what one end encodes the other decodes, and nothing else passes."""

from __future__ import annotations

import dataclasses
import json
import os
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from salvo.common.fleetload import LoadMode
from salvo.executor.tool import gate

VECTORS = json.loads((Path(__file__).parents[1] / "vectors" / "gate-lines.json").read_text())

epoch = st.floats(min_value=1e-3, max_value=4e9, allow_nan=False, allow_infinity=False)


@given(pid=st.integers(1, 2**22))
def test_ready_round_trip(pid):
    line = gate.encode_ready(pid)
    assert line == f"READY {pid}\n".encode()
    assert gate.decode_ready(line.decode()[:-1]) == pid


@given(at=epoch, size=st.integers(1, 5000), data=st.data())
def test_go_and_released_round_trip_to_the_microsecond(at, size, data):
    go = gate.Go(
        start_at=at,
        index=data.draw(st.integers(0, size - 1)),
        size=size,
        run_id="run-20261128-1",
        mode=data.draw(st.sampled_from(LoadMode)),
        users=data.draw(st.none() | st.integers(0, 10**6)),
        rate=data.draw(st.none() | st.floats(0.001, 1e5)),
    )
    decoded = gate.decode_go(gate.encode_go(go).decode()[:-1])
    assert decoded.start_at == pytest.approx(at, abs=1e-6)
    assert (decoded.index, decoded.size, decoded.run_id, decoded.mode, decoded.users) == (
        go.index,
        go.size,
        go.run_id,
        go.mode,
        go.users,
    )
    assert decoded.rate == (None if go.rate is None else pytest.approx(go.rate, rel=1e-5))
    assert gate.decode_released(gate.encode_released(at).decode()[:-1]) == pytest.approx(at, abs=1e-6)


@pytest.mark.parametrize(
    ("decode", "line"),
    [
        (gate.decode_ready, ""),
        (gate.decode_ready, "READY"),
        (gate.decode_ready, "READY abc"),
        (gate.decode_ready, "READY 0"),
        (gate.decode_ready, "READY -5"),
        (gate.decode_ready, "READY 1.5"),
        (gate.decode_ready, "READY \u0661\u0662"),
        (gate.decode_ready, "READY 12 34"),
        (gate.decode_ready, "ready 12"),
        (gate.decode_ready, "GO 12"),
        (gate.decode_go, "GO"),
        (gate.decode_go, "GO "),
        (gate.decode_go, "GO soon"),
        (gate.decode_go, "GO nan"),
        (gate.decode_go, "GO inf"),
        (gate.decode_go, "GO -1.0"),
        (gate.decode_go, "GO 0"),
        (gate.decode_go, "GO 1.0 2.0"),
        (gate.decode_go, "READY 12"),
        (gate.decode_go, "GO  1.0"),
        (gate.decode_go, "GO 1.0 index=3 size=3"),
        (gate.decode_go, "GO 1.0 index=x"),
        (gate.decode_go, "GO 1.0 users=-1"),
        (gate.decode_go, "GO 1.0 rate=0"),
        (gate.decode_go, "GO 1.0 rate=nan"),
        (gate.decode_go, "GO 1.0 index="),
        (gate.decode_released, "RELEASED"),
        (gate.decode_released, "RELEASED NaN"),
        (gate.decode_released, "GO 1.0"),
    ],
)
def test_malformed_lines_are_refused(decode, line):
    with pytest.raises(gate.GateProtocolError):
        decode(line)


def test_nothing_that_is_not_a_time_is_encoded():
    for bad in (float("nan"), float("inf"), -1.0):
        for encode in (lambda at: gate.encode_go(gate.Go(start_at=at)), gate.encode_released):
            with pytest.raises(gate.GateProtocolError):
                encode(bad)


def test_lines_split_across_reads_are_kept_until_complete():
    lines, rest = gate.split_lines(b"RELEASED 1.5\nRELEA")
    assert lines == ["RELEASED 1.5"] and rest == b"RELEA"
    lines, rest = gate.split_lines(rest + b"SED 2.5\n")
    assert [gate.decode_released(line) for line in lines] == [2.5] and rest == b""


def test_read_line_over_a_socket_pair():
    ours, theirs = socket.socketpair()
    with ours, theirs:
        sender = threading.Thread(target=lambda: [theirs.sendall(b"GO 17"), theirs.sendall(b"00.25\n")])
        sender.start()
        assert gate.decode_go(gate.read_line(ours)).start_at == 1700.25
        sender.join()
        theirs.sendall(b"x" * (gate.MAX_LINE_BYTES * 3))
        assert gate.read_line(ours) == ""  # an endless line is nobody's protocol
        theirs.close()
        assert gate.read_line(ours) == ""  # closed before a line


def test_abstract_socket_names():
    assert gate.socket_address("@salvo-gate-1") == "\0salvo-gate-1"
    assert gate.socket_address("/run/gate.sock") == "/run/gate.sock"


def test_a_gated_locust_that_hears_garbage_exits_with_the_abort_code(tmp_path):
    """The locust end, in a process of its own: a malformed GO never lets it through."""
    address = f"@salvo-test-gate-{time.monotonic_ns()}"
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(gate.socket_address(address))
    listener.listen(1)
    code = (
        "from salvo.executor.tool import locust_gate\n"
        "locust_gate._hold_at_gate(None)\n"
        "raise SystemExit('released without a valid GO')\n"
    )
    locust = subprocess.Popen([sys.executable, "-c", code], env={**os.environ, gate.GATE_SOCKET_ENV: address})
    try:
        listener.settimeout(60)
        conn, _ = listener.accept()
        with conn:
            conn.settimeout(60)
            assert gate.decode_ready(gate.read_line(conn)) == locust.pid
            conn.sendall(b"GO nan\n")
            assert locust.wait(60) == gate.ABORT_EXIT_CODE
    finally:
        listener.close()
        if locust.poll() is None:
            locust.kill()


@pytest.mark.parametrize("case", VECTORS["valid"], ids=lambda case: case["line"])
def test_shared_go_vectors_decode_as_the_java_gate_decodes_them(case):
    """tests/vectors/gate-lines.json is also run through the JMeter gate's decoder (jmeter/salvo-gate)."""
    decoded = dataclasses.asdict(gate.decode_go(case["line"]))
    assert decoded.pop("weighted") is None  # region slots are Python's alone (tests/unit/test_regions.py)
    assert decoded.pop("open_model") is None  # so far the open model is locust's alone (tests/unit/test_arrivals.py)
    assert decoded == case["expected"]


@pytest.mark.parametrize("line", VECTORS["invalid"])
def test_shared_invalid_go_vectors_are_refused_by_both_ends(line):
    with pytest.raises(gate.GateProtocolError):
        gate.decode_go(line)
