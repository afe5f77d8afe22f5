"""CURVE key material of the two roles: who holds which secret, how it is made, checked and read.

Production holds two secrets (`salvo keygen`): the controller's secret key, and the
executors' secret key. An executor holds its own secret and the controller's *public*
key only, so a peer holding everything an executor holds cannot command another
executor: the executors' ZAP handler admits only a peer proving the controller's secret.
The controller holds its secret and the executors' public key (it checks it talks to a
real executor). SALVO_FLEET_KEY is the rehearsal's one-variable convenience: both pairs
derived from it (HKDF-SHA256, RFC 5869), so whoever holds it can act as the controller.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import secrets
from dataclasses import dataclass
from enum import Enum

import zmq
from zmq.utils import z85

MIN_KEY_BYTES = 32
# 32 random bytes show ~30 distinct values; fewer than this is a made-up or repeated key (P < 1e-12 by chance).
MIN_DISTINCT_BYTES = 16
_SALT = b"salvo fleet key v1"


class Role(str, Enum):
    EXECUTOR = "executor"
    CONTROLLER = "controller"


@dataclass(frozen=True)
class KeyPair:
    public: bytes  # Z85
    secret: bytes  # Z85


@dataclass(frozen=True)
class ExecutorKeys:
    """What an executor holds: its own key pair and the key a commanding peer must prove."""

    own: KeyPair
    controller_public: bytes


@dataclass(frozen=True)
class ControllerKeys:
    """What the controller (and the bastion verbs acting for it) holds."""

    own: KeyPair
    executor_public: bytes


class KeyMode(str, Enum):
    """How the control links are secured; reported in every report and at every start."""

    SPLIT = "split"  # two secrets: only the controller's commands an executor
    FLEET_KEY = "fleet-key"  # one shared secret (rehearsal): any holder can command the fleet
    INSECURE = "insecure"  # SALVO_INSECURE=true: no authentication, no encryption


# --- making keys ------------------------------------------------------------------------


def generate_keypair() -> KeyPair:
    public, secret = zmq.curve_keypair()
    return KeyPair(public=public, secret=secret)


def generate_fleet_key() -> str:
    return base64.urlsafe_b64encode(secrets.token_bytes(MIN_KEY_BYTES)).decode().rstrip("=")


def _hkdf(key: bytes, info: bytes, length: int = 32) -> bytes:
    prk = hmac.new(_SALT, key, hashlib.sha256).digest()
    return hmac.new(prk, info + b"\x01", hashlib.sha256).digest()[:length]


def derive_keypair(fleet_key: str, role: Role) -> KeyPair:
    secret = z85.encode(_hkdf(fleet_key.encode(), f"salvo curve {role.value}".encode()))
    return KeyPair(public=zmq.curve_public(secret), secret=secret)


def executor_keys_from_fleet_key(fleet_key: str) -> ExecutorKeys:
    return ExecutorKeys(derive_keypair(fleet_key, Role.EXECUTOR), derive_keypair(fleet_key, Role.CONTROLLER).public)


def controller_keys_from_fleet_key(fleet_key: str) -> ControllerKeys:
    return ControllerKeys(derive_keypair(fleet_key, Role.CONTROLLER), derive_keypair(fleet_key, Role.EXECUTOR).public)


def encode_curve_key(z85_key: bytes) -> str:
    """A CURVE key as Salvo's variables hold it: URL-safe base64, no padding (43 characters, no character an env
    file, a shell or compose would interpret; Z85 has `$`, `#` and quotes)."""
    return base64.urlsafe_b64encode(z85.decode(z85_key)).decode().rstrip("=")


def decode_curve_key(text: str) -> bytes:
    """The Z85 form libzmq takes, from a variable's value (base64url as `salvo keygen` prints, or Z85); ValueError
    when it is neither or looks made up. Messages never echo the value."""
    raw = b""
    if len(text) == 40:
        try:
            raw = z85.decode(text.encode("ascii"))
        except (ValueError, KeyError, UnicodeEncodeError, TypeError):
            raw = b""
    if not raw:
        try:
            raw = base64.urlsafe_b64decode((text + "=" * (-len(text) % 4)).encode("ascii"))
        except (binascii.Error, ValueError, UnicodeEncodeError):
            raw = b""
    if len(raw) != MIN_KEY_BYTES:
        raise ValueError("expected a CURVE key as `salvo keygen` prints it (43 characters)")
    if not _looks_random(raw):
        raise ValueError("too little entropy: not a generated key (`salvo keygen` makes one)")
    return z85.encode(raw)


def keypair_from_secret(text: str) -> KeyPair:
    secret = decode_curve_key(text)
    return KeyPair(public=zmq.curve_public(secret), secret=secret)


def keygen_blocks() -> dict[str, list[tuple[str, str]]]:
    """A fresh pair per role, as the `NAME=value` lines each side's environment needs."""
    controller, executor = generate_keypair(), generate_keypair()
    return {
        "controller": [
            ("SALVO_CONTROLLER_SECRET_KEY", encode_curve_key(controller.secret)),
            ("SALVO_EXECUTOR_PUBLIC_KEY", encode_curve_key(executor.public)),
        ],
        "executors": [
            ("SALVO_EXECUTOR_SECRET_KEY", encode_curve_key(executor.secret)),
            ("SALVO_CONTROLLER_PUBLIC_KEY", encode_curve_key(controller.public)),
        ],
    }


def read_keygen_blocks(text: str) -> dict[str, list[tuple[str, str]]]:
    """The blocks of an earlier `salvo keygen` output (ValueError naming what is missing or not a key)."""
    blocks: dict[str, list[tuple[str, str]]] = {}
    role = None
    for line in text.splitlines():
        line = line.strip()
        if line.startswith("#"):
            role = line.lstrip("#").strip()
            blocks.setdefault(role, [])
        elif "=" in line and role is not None:
            name, value = line.split("=", 1)
            blocks[role].append((name.strip(), value.strip()))
    expected = {role: [name for name, _ in lines] for role, lines in keygen_blocks().items()}
    for role, names in expected.items():
        found = dict(blocks.get(role, []))
        for name in names:
            if name not in found:
                raise ValueError(f"no {name} under '# {role}': not a `salvo keygen` output")
            try:
                decode_curve_key(found[name])
            except ValueError as exc:
                raise ValueError(f"{name}: {exc}") from None
    pairs = {role: [(name, dict(blocks[role])[name]) for name in names] for role, names in expected.items()}
    values = {name: value for lines in pairs.values() for name, value in lines}
    for secret, public in (
        ("SALVO_CONTROLLER_SECRET_KEY", "SALVO_CONTROLLER_PUBLIC_KEY"),
        ("SALVO_EXECUTOR_SECRET_KEY", "SALVO_EXECUTOR_PUBLIC_KEY"),
    ):
        if keypair_from_secret(values[secret]).public != decode_curve_key(values[public]):
            raise ValueError(f"{public} is not the public half of {secret}: the blocks come from different keygens")
    return pairs


# --- checking keys (messages never echo the value) ------------------------------------------


def _looks_random(raw: bytes) -> bool:
    return len(set(raw)) >= MIN_DISTINCT_BYTES


def _decode_any(text: str) -> bytes | None:
    """The bytes of a base64 (standard or URL-safe, padded or not) or hex encoded key, else None."""
    stripped = text.strip()
    if len(stripped) == 2 * MIN_KEY_BYTES or (len(stripped) > 2 * MIN_KEY_BYTES and len(stripped) % 2 == 0):
        try:
            return bytes.fromhex(stripped)
        except ValueError:
            pass
    padded = stripped + "=" * (-len(stripped) % 4)
    for decode in (base64.urlsafe_b64decode, base64.b64decode):
        try:
            return decode(padded.encode())
        except (binascii.Error, ValueError):
            continue
    return None


def validate_fleet_key(key: str) -> None:
    raw = _decode_any(key)
    if raw is None or len(raw) < MIN_KEY_BYTES:
        raise ValueError(
            f"expected at least {MIN_KEY_BYTES} random bytes, base64 or hex encoded "
            "(`salvo keygen --fleet-key` makes one)"
        )
    if not _looks_random(raw):
        raise ValueError("too little entropy: not a random key (`salvo keygen --fleet-key` makes one)")


def validate_curve_key(key: str) -> None:
    """A CURVE key as `salvo keygen` prints it, or ValueError."""
    decode_curve_key(key)
