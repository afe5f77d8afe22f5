"""CURVE key pairs derived from the shared fleet key.

All executors share one pair and the controller (and CLI tools acting for it)
another; both follow from SALVO_FLEET_KEY alone, so nothing but that one secret
has to be distributed. HKDF-SHA256 (RFC 5869) with role-specific labels.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from dataclasses import dataclass
from enum import Enum

import zmq
from zmq.utils import z85

MIN_FLEET_KEY_LENGTH = 16
_SALT = b"salvo fleet key v1"


class Role(str, Enum):
    EXECUTOR = "executor"
    CONTROLLER = "controller"


@dataclass(frozen=True)
class KeyPair:
    public: bytes  # Z85
    secret: bytes  # Z85


def _hkdf(key: bytes, info: bytes, length: int = 32) -> bytes:
    prk = hmac.new(_SALT, key, hashlib.sha256).digest()
    return hmac.new(prk, info + b"\x01", hashlib.sha256).digest()[:length]


def derive_keypair(fleet_key: str, role: Role) -> KeyPair:
    secret = z85.encode(_hkdf(fleet_key.encode(), f"salvo curve {role.value}".encode()))
    return KeyPair(public=zmq.curve_public(secret), secret=secret)


def generate_fleet_key() -> str:
    return base64.urlsafe_b64encode(secrets.token_bytes(32)).decode().rstrip("=")


def validate_fleet_key(key: str) -> None:
    if len(key) < MIN_FLEET_KEY_LENGTH:
        raise ValueError(f"a fleet key needs at least {MIN_FLEET_KEY_LENGTH} characters (`salvo keygen` makes one)")
