"""Real ZeroMQ sockets on loopback: handshake, fleet-wide start, CURVE, garbage."""

from __future__ import annotations

import logging
import socket
import time

import pytest

from salvo.common.keys import (
    ControllerKeys,
    controller_keys_from_fleet_key,
    executor_keys_from_fleet_key,
    generate_fleet_key,
    generate_keypair,
)
from salvo.common.protocol import ExecutorState, Hello, Start, Status
from salvo.common.transport import Link
from salvo.controller.link import ControllerLink
from salvo.executor.presence.link import ExecutorSockets
from tests.support.executors import free_port
from tests.support.keys import controller_keys, executor_keys

pytestmark = pytest.mark.integration

KEY = generate_fleet_key()
KEYS = {
    "plain": (None, None),
    "split": (executor_keys(), controller_keys()),
    "fleet-key": (executor_keys_from_fleet_key(KEY), controller_keys_from_fleet_key(KEY)),
}


def status(executor_id: str) -> Status:
    return Status(executor_id=executor_id, version="test", state=ExecutorState.ARMED, scenario_sha256="ab" * 32)


def serve_until(sockets: list[ExecutorSockets], predicate, timeout: float = 10):
    """Run the executors' side (answering Hellos) until predicate(received) holds."""
    received = {id(s): [] for s in sockets}
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for n, executor in enumerate(sockets):
            for inbound in executor.poll(0.02):
                if isinstance(inbound.message, Hello):
                    executor.reply(inbound.peer, status(f"e{n}"))
                received[id(executor)].append(inbound)
        if predicate(received):
            return received
    raise AssertionError(f"condition not reached; received {received}")


@pytest.fixture
def ports():
    return free_port(), free_port()


@pytest.mark.parametrize("mode", sorted(KEYS))
def test_handshake_and_one_start_reaching_three_executors(ports, mode):
    import threading

    executor_side_keys, controller_side_keys = KEYS[mode]
    hosts = ["127.0.1.101", "127.0.1.102", "127.0.1.103"]
    executors = [ExecutorSockets(h, *ports, executor_side_keys) for h in hosts]
    link = ControllerLink(controller_side_keys, *ports)
    stop = threading.Event()
    got_start: dict[int, float] = {}

    def executor_side():
        while not stop.is_set():
            for n, executor in enumerate(executors):
                for inbound in executor.poll(0.01):
                    if isinstance(inbound.message, Hello):
                        executor.reply(inbound.peer, status(f"e{n}"))
                    elif isinstance(inbound.message, Start):
                        got_start[n] = time.time()

    thread = threading.Thread(target=executor_side, daemon=True)
    thread.start()
    try:
        for n, host in enumerate(hosts):
            answer = link.handshake(host, timeout=5)
            assert answer is not None and answer.executor_id == f"e{n}" and answer.state is ExecutorState.ARMED
        assert link.wait_subscribed(3, timeout=5) == 3
        link.publish(Start(run_id="r", fleet=["e0", "e1", "e2"], start_at=time.time() + 1))
        deadline = time.monotonic() + 5
        while len(got_start) < 3 and time.monotonic() < deadline:
            time.sleep(0.01)
        assert sorted(got_start) == [0, 1, 2]
    finally:
        stop.set()
        thread.join(5)
        link.close()
        for executor in executors:
            executor.close()


def test_wrong_controller_key_is_refused_and_reported_on_both_sides(ports, caplog):
    caplog.set_level(logging.WARNING, logger="salvo.common.transport")
    executor = ExecutorSockets("127.0.1.104", *ports, executor_keys())
    impostor = ControllerLink(ControllerKeys(generate_keypair(), executor_keys().own.public), *ports)
    try:
        assert impostor.handshake("127.0.1.104", timeout=1.5) is None
        impostor.publish(Start(run_id="x", fleet=["e0"], start_at=time.time()))
        received = []
        deadline = time.monotonic() + 3
        while time.monotonic() < deadline and "authentication failed" not in caplog.text:
            received += executor.poll(0.05)
        assert "authentication failed" in caplog.text
        assert not any(isinstance(i.message, Start) for i in received)
        assert impostor.auth_failed("127.0.1.104")
        honest = ControllerLink(controller_keys(), *ports)
        try:
            serve_until([executor], lambda _: honest.handshake("127.0.1.104", timeout=0.2) is not None)
            assert not honest.auth_failed("127.0.1.104")
        finally:
            honest.close()
    finally:
        impostor.close()
        executor.close()


def test_garbage_bytes_and_undecodable_frames_are_ignored(ports, caplog):
    caplog.set_level(logging.WARNING, logger="salvo.common.transport")
    executor = ExecutorSockets("127.0.1.105", *ports, None)
    link = ControllerLink(None, *ports)
    try:
        for port in ports:
            for junk in (b"GET / HTTP/1.1\r\nHost: scanner\r\n\r\n", bytes(range(256)) * 8):
                with socket.create_connection(("127.0.1.105", port), timeout=2) as raw:
                    raw.sendall(junk)
        link.add_executor("127.0.1.105")
        # libzmq sends a SUB's subscription when the executor next touches its socket: keep serving
        serve_until([executor], lambda _: link.wait_subscribed(1, timeout=0.05) == 1)
        link.publisher.send(b"{not json")  # valid ZMTP, undecodable payload, on both links
        link.router.send_multipart([link.peers["127.0.1.105"].routing_id, b"\x00\x01garbage"])
        serve_until(
            [executor],
            lambda _: "ignored on the command link" in caplog.text and "ignored on the status link" in caplog.text,
        )
        serve_until([executor], lambda _: link.handshake("127.0.1.105", timeout=0.2) is not None)  # still serving
    finally:
        link.close()
        executor.close()


def test_push_reaches_watchers_and_forgets_vanished_ones(ports):
    executor = ExecutorSockets("127.0.1.106", *ports, None)
    watcher = ControllerLink(None, *ports)
    try:
        serve_until([executor], lambda _: watcher.handshake("127.0.1.106", timeout=0.2) is not None)
        assert len(executor.watchers) == 1
        assert executor.push(status("e0")) == 1
        assert any(isinstance(m, Status) for _, m in watcher.receive(2))
        watcher.close()
        deadline = time.monotonic() + 5
        while executor.watchers and time.monotonic() < deadline:
            executor.push(status("e0"))
            executor.poll(0.05)
        assert not executor.watchers
        executor.reply(b"no-such-peer", status("e0"))  # must not raise
    finally:
        executor.close()
    assert Link.COMMAND.value == "command"
