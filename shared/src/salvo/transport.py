"""ZeroMQ sockets for the two links (see salvo.protocol); no run logic here.

Security: with a fleet key every socket speaks CURVE. The executor's sockets are
CURVE servers holding the executor secret key; a ZAP handler admits only the
controller's public key, so only a holder of the fleet key can command it. A
peer with another key (or none) fails the handshake: the executor logs
"authentication failed" (from a socket monitor) and carries on; the controller
sees the same failure on its side and reports it for that host.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from enum import Enum

import zmq
from zmq.auth.thread import ThreadAuthenticator
from zmq.utils.monitor import recv_monitor_message

from salvo import protocol
from salvo.errors import ProtocolError
from salvo.keys import KeyPair, Role, derive_keypair
from salvo.protocol import Hello, Status

log = logging.getLogger("salvo.transport")

LINGER_MS = 500
HANDSHAKE_FAILURES = (
    zmq.EVENT_HANDSHAKE_FAILED_AUTH | zmq.EVENT_HANDSHAKE_FAILED_PROTOCOL | zmq.EVENT_HANDSHAKE_FAILED_NO_DETAIL
)
AUTH_FAILURES = zmq.EVENT_HANDSHAKE_FAILED_AUTH | zmq.EVENT_HANDSHAKE_FAILED_PROTOCOL
_insecure_warned = False


def _auth_failure_reason(event: dict) -> str:
    value = event.get("value")
    if value == zmq.PROTOCOL_ERROR_ZMTP_CRYPTOGRAPHIC:
        return "a peer used a different SALVO_FLEET_KEY"
    if value == zmq.PROTOCOL_ERROR_ZMTP_MECHANISM_MISMATCH:
        return "a peer with SALVO_FLEET_KEY set on one side only"
    if event.get("event") == zmq.EVENT_HANDSHAKE_FAILED_AUTH:
        return "a peer whose key is not the controller's"
    return f"handshake rejected (ZMTP protocol error {value})"


class Link(str, Enum):
    COMMAND = "command"
    STATUS = "status"


@dataclass(frozen=True)
class Inbound:
    link: Link
    message: object
    peer: bytes | None = None


class RateLimitedWarning:
    """At most one warning a second per kind; the rest are counted and summarised."""

    def __init__(self, interval: float = 1.0):
        self.interval = interval
        self._last: dict[str, float] = {}
        self._suppressed: dict[str, int] = {}

    def warn(self, kind: str, message: str, *args) -> None:
        now = time.monotonic()
        if now - self._last.get(kind, -1e9) >= self.interval:
            suppressed = self._suppressed.pop(kind, 0)
            suffix = f" ({suppressed} more suppressed)" if suppressed else ""
            log.warning(message + suffix, *args)
            self._last[kind] = now
        else:
            self._suppressed[kind] = self._suppressed.get(kind, 0) + 1


def warn_if_insecure(fleet_key: str | None) -> None:
    global _insecure_warned
    if fleet_key is None and not _insecure_warned:
        _insecure_warned = True
        log.warning("SALVO_FLEET_KEY is not set: control links are NOT authenticated or encrypted")


def _harden(sock: zmq.Socket) -> None:
    sock.linger = LINGER_MS
    sock.setsockopt(zmq.MAXMSGSIZE, protocol.MAX_FRAME_BYTES)
    sock.setsockopt(zmq.TCP_KEEPALIVE, 1)
    sock.setsockopt(zmq.TCP_KEEPALIVE_IDLE, 30)


class _OnlyController:
    def __init__(self, controller_public: bytes):
        self.controller_public = controller_public

    def callback(self, domain: str, key: bytes) -> bool:
        return key == self.controller_public


class ExecutorSockets:
    """Executor side: SUB bound on the command port, ROUTER bound on the status port."""

    def __init__(self, bind_host: str, command_port: int, status_port: int, fleet_key: str | None):
        warn_if_insecure(fleet_key)
        self.context = zmq.Context()
        self.authenticator: ThreadAuthenticator | None = None
        self.warnings = RateLimitedWarning()
        self.watchers: set[bytes] = set()
        self.command = self.context.socket(zmq.SUB)
        self.status = self.context.socket(zmq.ROUTER)
        self.status.setsockopt(zmq.ROUTER_MANDATORY, 1)
        for sock in (self.command, self.status):
            _harden(sock)
        if fleet_key is not None:
            own = derive_keypair(fleet_key, Role.EXECUTOR)
            controller = derive_keypair(fleet_key, Role.CONTROLLER)
            self.authenticator = ThreadAuthenticator(self.context, log=logging.getLogger("salvo.zap"))
            self.authenticator.start()
            self.authenticator.configure_curve_callback("*", _OnlyController(controller.public))
            for sock in (self.command, self.status):
                sock.curve_server = True
                sock.curve_secretkey = own.secret
                sock.curve_publickey = own.public
        self.command.setsockopt(zmq.SUBSCRIBE, b"")
        # Not HANDSHAKE_FAILED_NO_DETAIL: that is a bare TCP connect (the controller's own port probe).
        self.monitors = {
            self.command.get_monitor_socket(AUTH_FAILURES): Link.COMMAND,
            self.status.get_monitor_socket(AUTH_FAILURES): Link.STATUS,
        }
        self.command.bind(f"tcp://{bind_host}:{command_port}")
        self.status.bind(f"tcp://{bind_host}:{status_port}")
        self.poller = zmq.Poller()
        for sock in (self.command, self.status, *self.monitors):
            self.poller.register(sock, zmq.POLLIN)

    def poll(self, timeout: float) -> list[Inbound]:
        received: list[Inbound] = []
        events = dict(self.poller.poll(max(0, int(timeout * 1000))))
        if self.command in events:
            while self.command.poll(0):
                self._decode(received, Link.COMMAND, self.command.recv(), None)
        if self.status in events:
            while self.status.poll(0):
                frames = self.status.recv_multipart()
                if len(frames) != 2:
                    self.warnings.warn("status-frames", "ignored a status message of %d frames", len(frames))
                    continue
                self._decode(received, Link.STATUS, frames[1], frames[0])
        for monitor, link in self.monitors.items():
            if monitor in events:
                while monitor.poll(0):
                    event = recv_monitor_message(monitor)
                    self.warnings.warn(
                        f"auth-{link.value}",
                        "authentication failed on the %s port: %s; ignored",
                        link.value, _auth_failure_reason(event),
                    )
        return received

    def _decode(self, received: list[Inbound], link: Link, frame: bytes, peer: bytes | None) -> None:
        try:
            message = protocol.decode_command(frame) if link is Link.COMMAND else protocol.decode_status(frame)
        except ProtocolError as exc:
            self.warnings.warn(f"garbage-{link.value}", "ignored on the %s link: %s", link.value, exc)
            return
        if isinstance(message, Hello) and message.watch and peer is not None:
            self.watchers.add(peer)
        received.append(Inbound(link, message, peer))

    def reply(self, peer: bytes, message) -> None:
        self._send(peer, protocol.encode(message))

    def push(self, message) -> int:
        frame = protocol.encode(message)
        return sum(self._send(peer, frame) for peer in list(self.watchers))

    def _send(self, peer: bytes, frame: bytes) -> bool:
        try:
            self.status.send_multipart([peer, frame], flags=zmq.NOBLOCK)
            return True
        except zmq.ZMQError as exc:
            if exc.errno == zmq.EHOSTUNREACH:
                self.watchers.discard(peer)  # gone
            return False

    def close(self) -> None:
        for sock in (self.command, self.status, *self.monitors):
            sock.close(linger=0 if sock in self.monitors else LINGER_MS)
        if self.authenticator is not None:
            self.authenticator.stop()
        self.context.term()


@dataclass
class _Peer:
    host: str
    dealer: zmq.Socket
    monitor: zmq.Socket
    connected: bool = False
    authenticated: bool = False
    auth_failed: bool = False
    pending: list = field(default_factory=list)


class ControllerLink:
    """Controller side: one XPUB connected to every executor, one DEALER per executor."""

    def __init__(self, fleet_key: str | None, command_port: int = 50000, status_port: int = 50001):
        warn_if_insecure(fleet_key)
        self.command_port = command_port
        self.status_port = status_port
        self.context = zmq.Context()
        self.keys: KeyPair | None = None
        self.server_public: bytes | None = None
        if fleet_key is not None:
            self.keys = derive_keypair(fleet_key, Role.CONTROLLER)
            self.server_public = derive_keypair(fleet_key, Role.EXECUTOR).public
        self.publisher = self.context.socket(zmq.XPUB)
        self.publisher.setsockopt(zmq.XPUB_VERBOSE, 1)
        _harden(self.publisher)
        self._secure(self.publisher)
        self.subscriptions = 0
        self.peers: dict[str, _Peer] = {}
        self.last_rtt: dict[str, float] = {}
        self.warnings = RateLimitedWarning()

    def _secure(self, sock: zmq.Socket) -> None:
        if self.keys is not None:
            sock.curve_secretkey = self.keys.secret
            sock.curve_publickey = self.keys.public
            sock.curve_serverkey = self.server_public

    def add_executor(self, host: str) -> None:
        if host in self.peers:
            return
        dealer = self.context.socket(zmq.DEALER)
        _harden(dealer)
        # No ZMQ_IMMEDIATE: with it, libzmq drops messages already received when the peer
        # disconnects - an executor's last Status and Finished, sent just before it exits.
        self._secure(dealer)
        monitor = dealer.get_monitor_socket(
            zmq.EVENT_CONNECTED | zmq.EVENT_HANDSHAKE_SUCCEEDED | HANDSHAKE_FAILURES | zmq.EVENT_DISCONNECTED
        )
        dealer.connect(f"tcp://{host}:{self.status_port}")
        self.publisher.connect(f"tcp://{host}:{self.command_port}")
        self.peers[host] = _Peer(host, dealer, monitor)

    def remove_executor(self, host: str) -> None:
        peer = self.peers.pop(host, None)
        if peer is None:
            return
        try:
            self.publisher.disconnect(f"tcp://{host}:{self.command_port}")
        except zmq.ZMQError:
            pass
        peer.monitor.close(linger=0)
        peer.dealer.close()

    def auth_failed(self, host: str) -> bool:
        """True when the executor at `host` answered but the CURVE handshake failed (key mismatch)."""
        peer = self.peers.get(host)
        if peer is None:
            return False
        self._drain_monitor(peer)
        return peer.auth_failed and not peer.authenticated

    def _drain_monitor(self, peer: _Peer) -> None:
        while peer.monitor.poll(0):
            event = recv_monitor_message(peer.monitor)["event"]
            if event == zmq.EVENT_CONNECTED:
                peer.connected = True
            elif event == zmq.EVENT_HANDSHAKE_SUCCEEDED:
                peer.authenticated, peer.auth_failed = True, False
            elif event & HANDSHAKE_FAILURES:
                peer.auth_failed = True

    def handshake(self, host: str, timeout: float, watch: bool = True) -> Status | None:
        """Send Hello and wait for the executor's Status; None if none came in time.

        `last_rtt[host]` is then the time from the latest Hello to its answer."""
        self.add_executor(host)
        peer = self.peers[host]
        deadline = time.monotonic() + timeout
        next_hello = sent_at = 0.0
        while time.monotonic() < deadline:
            if time.monotonic() >= next_hello:
                try:
                    peer.dealer.send(protocol.encode(Hello(watch=watch)), flags=zmq.NOBLOCK)
                    sent_at = time.monotonic()
                except zmq.Again:
                    pass
                next_hello = time.monotonic() + 0.25
            if peer.dealer.poll(20):
                message = self._decode(host, peer.dealer.recv())
                if isinstance(message, Status):
                    self.last_rtt[host] = time.monotonic() - sent_at
                    return message
                if message is not None:
                    peer.pending.append(message)
            self._drain_monitor(peer)
        return None

    def wait_subscribed(self, count: int, timeout: float) -> int:
        """Subscriptions seen so far (XPUB_VERBOSE), waiting until `count` or `timeout`.

        Publishing only after every executor's SUB subscribed defeats the slow-joiner loss."""
        deadline = time.monotonic() + timeout
        while self.subscriptions < count:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                break
            if self.publisher.poll(int(min(remaining, 0.1) * 1000)):
                frame = self.publisher.recv()
                if frame[:1] == b"\x01":
                    self.subscriptions += 1
                elif frame[:1] == b"\x00":
                    self.subscriptions = max(0, self.subscriptions - 1)
        return self.subscriptions

    def publish(self, message) -> None:
        self.publisher.send(protocol.encode(message))

    def receive(self, timeout: float) -> list[tuple[str, object]]:
        received: list[tuple[str, object]] = []
        for peer in self.peers.values():
            received.extend((peer.host, m) for m in peer.pending)
            peer.pending.clear()
        if received:
            return received
        poller = zmq.Poller()
        for peer in self.peers.values():
            poller.register(peer.dealer, zmq.POLLIN)
        by_socket = {peer.dealer: peer for peer in self.peers.values()}
        for sock, _ in poller.poll(max(0, int(timeout * 1000))):
            peer = by_socket[sock]
            while sock.poll(0):
                message = self._decode(peer.host, sock.recv())
                if message is not None:
                    received.append((peer.host, message))
        return received

    def _decode(self, host: str, frame: bytes):
        try:
            return protocol.decode_status(frame)
        except ProtocolError as exc:
            self.warnings.warn(f"garbage-{host}", "ignored from %s: %s", host, exc)
            return None

    def close(self) -> None:
        for host in list(self.peers):
            self.remove_executor(host)
        self.publisher.close()
        self.context.term()
