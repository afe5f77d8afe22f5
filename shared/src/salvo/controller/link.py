"""The controller's ZeroMQ sockets: one XPUB to the whole fleet, one DEALER per executor."""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field

import zmq
from zmq.utils.monitor import recv_monitor_message

from salvo.common import protocol
from salvo.common.errors import ProtocolError
from salvo.common.keys import KeyPair, Role, derive_keypair
from salvo.common.protocol import Hello, Status
from salvo.common.transport import HANDSHAKE_FAILURES, RateLimitedWarning, harden, warn_if_insecure

log = logging.getLogger(__name__)


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
        harden(self.publisher)
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
        harden(dealer)
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
        """Send Hello and wait for the executor's Status; None if none came in time."""
        return self.handshake_many([host], timeout, watch)[host]

    def handshake_many(self, hosts: list[str], timeout: float, watch: bool = True) -> dict[str, Status | None]:
        """Hello to every host at once, each repeated every 0.25 s until its Status arrives or `timeout`.

        `last_rtt[host]` is the time from the latest Hello to its answer."""
        answers: dict[str, Status | None] = {host: None for host in hosts}
        for host in hosts:
            self.add_executor(host)
        waiting = {self.peers[host].dealer: self.peers[host] for host in hosts}
        sent_at: dict[str, float] = {}
        deadline = time.monotonic() + timeout
        next_hello = 0.0
        while waiting and time.monotonic() < deadline:
            if time.monotonic() >= next_hello:
                hello = protocol.encode(Hello(watch=watch))
                for peer in waiting.values():
                    try:
                        peer.dealer.send(hello, flags=zmq.NOBLOCK)
                        sent_at[peer.host] = time.monotonic()
                    except zmq.Again:
                        pass
                next_hello = time.monotonic() + 0.25
            poller = zmq.Poller()
            for dealer in waiting:
                poller.register(dealer, zmq.POLLIN)
            for dealer, _ in poller.poll(20):
                peer = waiting[dealer]
                while peer.dealer in waiting and dealer.poll(0):
                    message = self._decode(peer.host, dealer.recv())
                    if isinstance(message, Status):
                        self.last_rtt[peer.host] = time.monotonic() - sent_at.get(peer.host, time.monotonic())
                        answers[peer.host] = message
                        del waiting[dealer]
                    elif message is not None:
                        peer.pending.append(message)
            for peer in waiting.values():
                self._drain_monitor(peer)
        return answers

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
