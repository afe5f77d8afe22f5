"""The controller's ZeroMQ sockets: one ROUTER to every executor's status port, one XPUB to every command port.

Two sockets and one monitor whatever the fleet size (libzmq's default context
allows 1,023 sockets; a socket per executor stopped near 340). Each executor
is one outgoing connection on each socket, addressed on the ROUTER by the
routing id the controller gives it at connect time: its host. File descriptors
grow by two per executor; see the README for the `nofile` limit this needs.
"""

from __future__ import annotations

import contextlib
import logging
import secrets
import time
from collections import deque
from dataclasses import dataclass

import zmq
from zmq.utils.monitor import recv_monitor_message

from salvo.common import protocol
from salvo.common.clocksync import ClockEstimate, ClockSample, estimate
from salvo.common.defaults import COMMAND_PORT, STATUS_PORT
from salvo.common.errors import ProtocolError
from salvo.common.keys import ControllerKeys
from salvo.common.protocol import ClockAck, ClockSet, Hello, Status, TimeEcho, TimeProbe
from salvo.common.transport import HANDSHAKE_FAILURES, RateLimitedWarning, harden

log = logging.getLogger(__name__)

HELLO_REPEAT_SECONDS = 0.25
HANDSHAKE_LIMIT = 120.0
CONNECT_SECONDS = 0.003  # extra patience per new connection before the first answers
IO_THREADS = 2  # CURVE for thousands of connections is more than one I/O thread keeps up with
MAX_BATCH = 10_000  # messages taken per receive() call, so one busy second cannot starve the caller
CLOCK_ROUNDS = 3  # exchanges per executor before the start: the shortest round trip of them is kept
CLOCK_WINDOW = 128  # exchanges in flight at once (a sliding window)
CLOCK_ANSWER_SECONDS = 0.5  # an exchange not answered by then is lost
CLOCK_SET_SECONDS = 5.0  # how long ClockSet is repeated for an executor that has not acknowledged it


@dataclass
class _Peer:
    host: str
    routing_id: bytes
    authenticated: bool = False
    auth_failed: bool = False


class ControllerLink:
    def __init__(self, keys: ControllerKeys | None, command_port: int = COMMAND_PORT, status_port: int = STATUS_PORT):
        self.command_port = command_port
        self.status_port = status_port
        self.context = zmq.Context(io_threads=IO_THREADS)
        self.keys = keys
        self.publisher = self.context.socket(zmq.XPUB)
        self.publisher.setsockopt(zmq.XPUB_VERBOSE, 1)
        self.router = self.context.socket(zmq.ROUTER)
        self.router.setsockopt(zmq.ROUTER_MANDATORY, 1)
        # A fresh id per link: an executor still holding an earlier link's connection must not refuse this one.
        self.router.setsockopt(zmq.ROUTING_ID, b"controller-" + secrets.token_hex(4).encode())
        for sock in (self.publisher, self.router):
            harden(sock)
            self._secure(sock)
        self.monitor = self._monitor(self.router, zmq.EVENT_HANDSHAKE_SUCCEEDED | HANDSHAKE_FAILURES)
        self.subscriptions = 0
        self.peers: dict[str, _Peer] = {}
        self.hosts_by_routing_id: dict[bytes, str] = {}
        self._connections = 0
        self.last_rtt: dict[str, float] = {}
        self.pending: list[tuple[str, object]] = []
        self._probes: dict[str, set[float]] = {}  # per host, the t1 of each TimeProbe not yet answered
        self.warnings = RateLimitedWarning()
        self.dropped: dict[str, int] = {}  # host -> its status frames that did not decode (ProtocolError)

    def _monitor(self, sock: zmq.Socket, events: int) -> zmq.Socket:
        """The socket's monitor, with no high-water mark: libzmq's I/O thread blocks on a full monitor
        queue (2,000 events of a 1,000-executor handshake fill the default one) and the link stalls."""
        address = f"inproc://salvo-monitor-{secrets.token_hex(6)}"
        sock.monitor(address, events)
        monitor = self.context.socket(zmq.PAIR)
        monitor.rcvhwm = 0
        monitor.connect(address)
        return monitor

    def _secure(self, sock: zmq.Socket) -> None:
        if self.keys is not None:
            sock.curve_secretkey = self.keys.own.secret
            sock.curve_publickey = self.keys.own.public
            sock.curve_serverkey = self.keys.executor_public

    # --- peers ---------------------------------------------------------------------------

    def _status_endpoint(self, host: str) -> str:
        return f"tcp://{host}:{self.status_port}"

    def add_executor(self, host: str) -> None:
        if host in self.peers:
            return
        # Never reuse a routing id: a disconnected peer's pipe may outlive disconnect() for a while,
        # and libzmq aborts when a new connection claims an id that is still in use.
        self._connections += 1
        routing_id = f"{host}#{self._connections}".encode()
        self.router.setsockopt(zmq.CONNECT_ROUTING_ID, routing_id)
        self.router.connect(self._status_endpoint(host))
        self.publisher.connect(f"tcp://{host}:{self.command_port}")
        self.peers[host] = _Peer(host, routing_id)
        self.hosts_by_routing_id[routing_id] = host

    def remove_executor(self, host: str) -> None:
        peer = self.peers.pop(host, None)
        if peer is None:
            return
        self.hosts_by_routing_id.pop(peer.routing_id, None)
        for sock, endpoint in (
            (self.router, self._status_endpoint(host)),
            (self.publisher, f"tcp://{host}:{self.command_port}"),
        ):
            with contextlib.suppress(zmq.ZMQError):
                sock.disconnect(endpoint)

    def auth_failed(self, host: str) -> bool:
        """True when the executor at `host` answered but the CURVE handshake failed (key mismatch)."""
        self._drain_monitor()
        peer = self.peers.get(host)
        return peer is not None and peer.auth_failed and not peer.authenticated

    def _drain_monitor(self) -> None:
        while self.monitor.poll(0):
            event = recv_monitor_message(self.monitor)
            endpoint = event.get("endpoint", b"")
            endpoint = endpoint.decode(errors="replace") if isinstance(endpoint, bytes) else str(endpoint)
            host = endpoint.removeprefix("tcp://").rsplit(":", 1)[0]
            peer = self.peers.get(host)
            if peer is None:
                continue
            kind = event["event"]
            if kind == zmq.EVENT_HANDSHAKE_SUCCEEDED:
                peer.authenticated, peer.auth_failed = True, False
            elif kind & HANDSHAKE_FAILURES:
                peer.auth_failed = True

    # --- status link ---------------------------------------------------------------------

    def _send(self, host: str, frame: bytes) -> bool:
        peer = self.peers.get(host)
        if peer is None:
            return False
        try:
            self.router.send_multipart([peer.routing_id, frame], flags=zmq.NOBLOCK)
            return True
        except zmq.ZMQError:  # EHOSTUNREACH: not connected (yet); EAGAIN: its queue is full
            return False

    def handshake(self, host: str, timeout: float, watch: bool = True) -> Status | None:
        """Send Hello and wait for the executor's Status; None if none came in time."""
        return self.handshake_many([host], timeout, watch)[host]

    def handshake_many(self, hosts: list[str], timeout: float, watch: bool = True) -> dict[str, Status | None]:
        """Hello to every host at once, repeated every 0.25 s, until each answered with its Status.

        Gives up on the rest once no answer arrived for `timeout` seconds (a large fleet's CURVE
        handshakes take seconds, but keep making progress), and after HANDSHAKE_LIMIT at most.
        `last_rtt[host]` is the time from the latest Hello to its answer."""
        answers: dict[str, Status | None] = dict.fromkeys(hosts)
        new = [host for host in hosts if host not in self.peers]
        for host in new:
            self.add_executor(host)
        waiting = set(hosts)
        sent_at: dict[str, float] = {}
        hello = protocol.encode(Hello(watch=watch))
        began = time.monotonic()
        # New connections first need their (CURVE) handshakes, thousands of them on two cores.
        last_progress = began + CONNECT_SECONDS * len(new)
        next_hello = 0.0
        while waiting:
            now = time.monotonic()
            if now - last_progress >= timeout or now - began >= HANDSHAKE_LIMIT:
                break
            if now >= next_hello:
                for host in waiting:
                    if self._send(host, hello):
                        sent_at[host] = now
                next_hello = now + HELLO_REPEAT_SECONDS
            for host, message in self._receive(0.02):
                if host in waiting and isinstance(message, Status):
                    self.last_rtt[host] = time.monotonic() - sent_at.get(host, time.monotonic())
                    answers[host] = message
                    waiting.discard(host)
                    last_progress = time.monotonic()
                else:
                    self.pending.append((host, message))
        return answers

    # --- clocks (salvo.common.clocksync) ------------------------------------------------

    def measure_clocks(
        self, hosts: list[str], rounds: int = CLOCK_ROUNDS, answer_timeout: float = CLOCK_ANSWER_SECONDS
    ) -> dict[str, ClockEstimate | None]:
        """Each host's clock against this one: `rounds` exchanges each, the shortest round trip kept.

        A sliding window: CLOCK_WINDOW exchanges stay in flight, a new one going out as each answer arrives (so
        an answer is read when it arrives, not behind a thousand others, and no exchange waits for the slowest of
        a batch); one at a time per host, hosts taken in turn."""
        samples: dict[str, list[ClockSample]] = {host: [] for host in hosts}
        left = dict.fromkeys(hosts, rounds)
        turns = deque(hosts)  # hosts with exchanges left and none in flight, in turn
        in_flight: dict[str, float] = {}  # host -> when its exchange is given up
        while turns or in_flight:
            while turns and len(in_flight) < CLOCK_WINDOW:
                host = turns.popleft()
                left[host] -= 1
                if self.probe_clock(host):
                    in_flight[host] = time.monotonic() + answer_timeout
                elif left[host]:
                    turns.append(host)
            if not in_flight:
                continue
            for host, message in self._receive(min(0.01, max(0.0, min(in_flight.values()) - time.monotonic()))):
                if isinstance(message, ClockSample) and host in samples:
                    samples[host].append(message)  # a late answer to an exchange given up counts too
                    if in_flight.pop(host, None) is not None and left[host]:
                        turns.append(host)
                else:
                    self.pending.append((host, message))
            now = time.monotonic()
            for host in [host for host, due in in_flight.items() if due <= now]:
                del in_flight[host]  # lost, or to be counted when it arrives
                if left[host]:
                    turns.append(host)
        return {host: estimate(found) for host, found in samples.items()}

    def probe_clock(self, host: str) -> bool:
        """One TimeProbe; its answer arrives from receive() as a ClockSample."""
        sent_at = time.time()
        outstanding = self._probes.setdefault(host, set())
        if len(outstanding) > 64:  # unanswered for long: forget them rather than grow
            outstanding.clear()
        outstanding.add(sent_at)
        return self._send(host, protocol.encode(TimeProbe(sent_at=sent_at)))

    def set_clocks(self, offsets: dict[str, ClockEstimate], timeout: float = CLOCK_SET_SECONDS) -> set[str]:
        """Tell each host its offset (ClockSet, repeated until its ClockAck); the hosts that took it."""
        acked: set[str] = set()
        frames = {
            host: protocol.encode(ClockSet(offset=e.offset, uncertainty=e.uncertainty)) for host, e in offsets.items()
        }
        deadline, next_send = time.monotonic() + timeout, 0.0
        while len(acked) < len(frames) and time.monotonic() < deadline:
            if time.monotonic() >= next_send:
                for host, frame in frames.items():
                    if host not in acked:
                        self._send(host, frame)
                next_send = time.monotonic() + HELLO_REPEAT_SECONDS
            for host, message in self._receive(0.02):
                if (
                    isinstance(message, ClockAck)
                    and host in frames
                    and message.accepted
                    and message.offset == offsets[host].offset
                ):
                    acked.add(host)
                elif not isinstance(message, ClockAck):
                    self.pending.append((host, message))
        return acked

    def receive(self, timeout: float) -> list[tuple[str, object]]:
        """Messages from the executors, as (host, message); waits up to `timeout` for the first."""
        if self.pending:
            received, self.pending = self.pending, []
            return received
        return self._receive(timeout)

    def _receive(self, timeout: float) -> list[tuple[str, object]]:
        self._drain_monitor()
        received: list[tuple[str, object]] = []
        if not self.router.poll(max(0, int(timeout * 1000))):
            return received
        while len(received) < MAX_BATCH:
            try:
                frames = self.router.recv_multipart(flags=zmq.NOBLOCK)
            except zmq.Again:
                break
            if len(frames) != 2:
                self.warnings.warn("frames", "ignored a status message of %d frames", len(frames))
                continue
            host = self.hosts_by_routing_id.get(frames[0])
            if host is None:
                continue  # a peer removed since: its last words no longer matter
            message = self._decode(host, frames[1])
            if message is not None:
                received.append((host, message))
        return received

    def _decode(self, host: str, frame: bytes):
        returned = time.time()  # a clock exchange's t4: as soon as the frame is read
        try:
            message = protocol.decode_status(frame)
        except ProtocolError as exc:
            self.dropped[host] = self.dropped.get(host, 0) + 1
            self.warnings.warn(f"garbage-{host}", "ignored from %s: %s", host, exc)
            return None
        if isinstance(message, TimeEcho):
            sent = self._probes.get(host, set())
            if message.probe_sent_at not in sent:  # not an answer to a probe of ours
                self.warnings.warn(f"echo-{host}", "ignored from %s: a time echo of no probe sent", host)
                return None
            sent.discard(message.probe_sent_at)
            return ClockSample(message.probe_sent_at, message.received_at, message.sent_at, returned)
        return message

    # --- command link --------------------------------------------------------------------

    def wait_subscribed(self, count: int, timeout: float) -> int:
        """Subscriptions seen so far (XPUB_VERBOSE), waiting until `count` or `timeout`.

        Publishing only after every executor's SUB subscribed defeats the slow-joiner loss."""
        deadline = time.monotonic() + timeout
        while self.subscriptions < count:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                break
            if self.publisher.poll(int(min(remaining, 0.1) * 1000)):
                while True:
                    try:
                        frame = self.publisher.recv(flags=zmq.NOBLOCK)
                    except zmq.Again:
                        break
                    if frame[:1] == b"\x01":
                        self.subscriptions += 1
                    elif frame[:1] == b"\x00":
                        self.subscriptions = max(0, self.subscriptions - 1)
        return self.subscriptions

    def publish(self, message) -> None:
        self.publisher.send(protocol.encode(message))

    def close(self) -> None:
        self.monitor.close(linger=0)
        self.router.close()
        self.publisher.close()
        self.context.term()
