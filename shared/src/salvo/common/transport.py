"""What both ends of the ZeroMQ links share: socket hardening, inbound envelopes, rate-limited warnings.

The sockets themselves live with their side: salvo.executor.presence.link and salvo.controller.link.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from enum import Enum

import zmq

from salvo.common import protocol
from salvo.common.keys import KeyMode

log = logging.getLogger(__name__)

LINGER_MS = 500
HANDSHAKE_FAILURES = (
    zmq.EVENT_HANDSHAKE_FAILED_AUTH | zmq.EVENT_HANDSHAKE_FAILED_PROTOCOL | zmq.EVENT_HANDSHAKE_FAILED_NO_DETAIL
)
AUTH_FAILURES = zmq.EVENT_HANDSHAKE_FAILED_AUTH | zmq.EVENT_HANDSHAKE_FAILED_PROTOCOL


def auth_failure_reason(event: dict) -> str:
    value = event.get("value")
    if value == zmq.PROTOCOL_ERROR_ZMTP_CRYPTOGRAPHIC:
        return "a peer holding other keys (not this fleet's `salvo keygen` pair)"
    if value == zmq.PROTOCOL_ERROR_ZMTP_MECHANISM_MISMATCH:
        return "a peer with SALVO_INSECURE=true on one side only"
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
    received_at: float | None = None  # this host's clock when the frame was read (a clock exchange's t2)


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


def announce_key_mode(mode: KeyMode, role: str) -> None:
    """The start's line on how the links are secured: a warning unless both secrets are split."""
    if mode is KeyMode.INSECURE:
        log.warning(
            "SALVO_INSECURE=true: the %s's control links are NOT authenticated or encrypted; anyone who "
            "reaches its ports can command it",
            role,
        )
    elif mode is KeyMode.FLEET_KEY:
        log.warning(
            "SALVO_FLEET_KEY: one shared secret for both roles: whoever holds it, any executor included, "
            "can command the fleet; production uses the two secrets of `salvo keygen`"
        )
    else:
        log.info("control links authenticated and encrypted (CURVE, controller and executor secrets split)")


def harden(sock: zmq.Socket) -> None:
    sock.linger = LINGER_MS
    sock.setsockopt(zmq.MAXMSGSIZE, protocol.MAX_FRAME_BYTES)
    sock.setsockopt(zmq.TCP_KEEPALIVE, 1)
    sock.setsockopt(zmq.TCP_KEEPALIVE_IDLE, 30)
