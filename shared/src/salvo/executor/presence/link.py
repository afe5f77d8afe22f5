"""The executor's two ZeroMQ sockets: SUB for commands, ROUTER for status (see salvo.common.protocol).

With key material both are CURVE servers holding the executors' secret key; a ZAP
handler admits only the controller's public key, so only a peer proving the
controller's secret can command the executor (the executor never holds that
secret). A peer with another key (or none) fails the handshake: the executor
logs "authentication failed" and carries on. Without keys (SALVO_INSECURE=true)
anyone who reaches the ports can command it.
"""

from __future__ import annotations

import logging
import socket
import time

import zmq
from zmq.auth.thread import ThreadAuthenticator
from zmq.utils.monitor import recv_monitor_message

from salvo.common import protocol
from salvo.common.errors import ConfigError, ProtocolError
from salvo.common.keys import ExecutorKeys
from salvo.common.protocol import Hello
from salvo.common.transport import (
    AUTH_FAILURES,
    LINGER_MS,
    Inbound,
    Link,
    RateLimitedWarning,
    auth_failure_reason,
    harden,
)

log = logging.getLogger(__name__)


class _OnlyController:
    def __init__(self, controller_public: bytes):
        self.controller_public = controller_public

    def callback(self, domain: str, key: bytes) -> bool:
        return key == self.controller_public


def check_can_listen(bind_host: str, ports: dict[str, int]) -> None:
    """Refuse, before the long arming, an address or port this executor could not listen on (exit 2)."""
    for name, port in ports.items():
        try:
            family = socket.AF_INET6 if ":" in bind_host else socket.AF_INET
            with socket.socket(family, socket.SOCK_STREAM) as probe:
                probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                probe.bind((bind_host, port))
        except (OSError, UnicodeError) as exc:
            reason = getattr(exc, "strerror", None) or str(exc)
            raise ConfigError(f"SALVO_BIND_HOST={bind_host} {name}={port}: cannot listen there: {reason}") from None


class ExecutorSockets:
    """Executor side: SUB bound on the command port, ROUTER bound on the status port."""

    def __init__(self, bind_host: str, command_port: int, status_port: int, keys: ExecutorKeys | None):
        self.context = zmq.Context()
        self.authenticator: ThreadAuthenticator | None = None
        self.warnings = RateLimitedWarning()
        self.watchers: set[bytes] = set()
        self.command = self.context.socket(zmq.SUB)
        self.status = self.context.socket(zmq.ROUTER)
        self.status.setsockopt(zmq.ROUTER_MANDATORY, 1)
        for sock in (self.command, self.status):
            harden(sock)
        if keys is not None:
            self.authenticator = ThreadAuthenticator(self.context, log=logging.getLogger("salvo.zap"))
            self.authenticator.start()
            self.authenticator.configure_curve_callback("*", _OnlyController(keys.controller_public))
            for sock in (self.command, self.status):
                sock.curve_server = True
                sock.curve_secretkey = keys.own.secret
                sock.curve_publickey = keys.own.public
        self.command.setsockopt(zmq.SUBSCRIBE, b"")
        # Not HANDSHAKE_FAILED_NO_DETAIL: that is a bare TCP connect (the controller's own port probe).
        self.monitors = {
            self.command.get_monitor_socket(AUTH_FAILURES): Link.COMMAND,
            self.status.get_monitor_socket(AUTH_FAILURES): Link.STATUS,
        }
        for sock, port, name in (
            (self.command, command_port, "SALVO_COMMAND_PORT"),
            (self.status, status_port, "SALVO_STATUS_PORT"),
        ):
            try:
                sock.bind(f"tcp://{bind_host}:{port}")
            except zmq.ZMQError as exc:
                self.close()
                raise ConfigError(f"SALVO_BIND_HOST={bind_host} {name}={port}: cannot listen there: {exc}") from None
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
                received_at = time.time()
                if len(frames) != 2:
                    self.warnings.warn("status-frames", "ignored a status message of %d frames", len(frames))
                    continue
                self._decode(received, Link.STATUS, frames[1], frames[0], received_at)
        for monitor, link in self.monitors.items():
            if monitor in events:
                while monitor.poll(0):
                    event = recv_monitor_message(monitor)
                    self.warnings.warn(
                        f"auth-{link.value}",
                        "authentication failed on the %s port: %s; ignored",
                        link.value,
                        auth_failure_reason(event),
                    )
        return received

    def _decode(
        self, received: list[Inbound], link: Link, frame: bytes, peer: bytes | None, received_at: float | None = None
    ) -> None:
        try:
            message = protocol.decode_command(frame) if link is Link.COMMAND else protocol.decode_status(frame)
        except ProtocolError as exc:
            self.warnings.warn(f"garbage-{link.value}", "ignored on the %s link: %s", link.value, exc)
            return
        if isinstance(message, Hello) and message.watch and peer is not None:
            self.watchers.add(peer)
        received.append(Inbound(link, message, peer, received_at))

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
