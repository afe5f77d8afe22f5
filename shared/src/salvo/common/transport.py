"""What both ends of the ZeroMQ links share: socket hardening, inbound envelopes, rate-limited warnings.

The sockets themselves live with their side: salvo.executor.link and salvo.controller.link.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from enum import Enum

import zmq

from salvo.common import protocol

log = logging.getLogger(__name__)

LINGER_MS = 500
HANDSHAKE_FAILURES = (
    zmq.EVENT_HANDSHAKE_FAILED_AUTH | zmq.EVENT_HANDSHAKE_FAILED_PROTOCOL | zmq.EVENT_HANDSHAKE_FAILED_NO_DETAIL
)
AUTH_FAILURES = zmq.EVENT_HANDSHAKE_FAILED_AUTH | zmq.EVENT_HANDSHAKE_FAILED_PROTOCOL
_insecure_warned = False


def auth_failure_reason(event: dict) -> str:
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


def harden(sock: zmq.Socket) -> None:
    sock.linger = LINGER_MS
    sock.setsockopt(zmq.MAXMSGSIZE, protocol.MAX_FRAME_BYTES)
    sock.setsockopt(zmq.TCP_KEEPALIVE, 1)
    sock.setsockopt(zmq.TCP_KEEPALIVE_IDLE, 30)
