"""The start gate's line protocol, spoken by the executor (runner) and each gated locust process.

One line each way over the Unix socket named by $SALVO_GATE_SOCKET:

    locust   -> executor   READY <pid>
    executor -> locust     GO <start_at>        epoch seconds; sent as soon as known
    locust   -> executor   RELEASED <time>      epoch seconds; when locust let its users go
    locust   -> executor   DONE <time>          locust is quitting normally, its stats written

A released locust whose socket closes without DONE died (killed, crashed,
os._exit): its run is a failure, whatever bzt's exit code says.

A gated locust that reads anything but a well-formed GO, or sees the socket
close first, exits at once with ABORT_EXIT_CODE: it never produces load unless
told when. Stdlib only: this module is imported inside the locust process.
"""

from __future__ import annotations

import math
import socket

__all__ = [
    "ABORT_EXIT_CODE", "GATE_SOCKET_ENV", "GateProtocolError", "MAX_LINE_BYTES", "decode_done", "decode_go",
    "decode_ready", "decode_released", "encode_done", "encode_go", "encode_ready", "encode_released", "is_done",
    "read_line", "socket_address", "split_lines",
]

GATE_SOCKET_ENV = "SALVO_GATE_SOCKET"  # "@name" for a Linux abstract socket, else a filesystem path
ABORT_EXIT_CODE = 4
MAX_LINE_BYTES = 256

_READY, _GO, _RELEASED, _DONE = "READY", "GO", "RELEASED", "DONE"


class GateProtocolError(ValueError):
    """A line that is not the one the protocol expects here."""


def encode_ready(pid: int) -> bytes:
    return f"{_READY} {pid}\n".encode()


def decode_ready(line: str) -> int:
    """The pid of a READY line."""
    value = _field(line, _READY)
    if not (value.isascii() and value.isdigit()) or int(value) <= 0:
        raise GateProtocolError(f"READY needs a process id, got {line!r}")
    return int(value)


def encode_go(start_at: float) -> bytes:
    return f"{_GO} {_time(start_at):.6f}\n".encode()


def decode_go(line: str) -> float:
    """The start_at of a GO line."""
    return _time(_float(_field(line, _GO), line))


def encode_released(at: float) -> bytes:
    return f"{_RELEASED} {_time(at):.6f}\n".encode()


def decode_released(line: str) -> float:
    """The release time of a RELEASED line."""
    return _time(_float(_field(line, _RELEASED), line))


def encode_done(at: float) -> bytes:
    return f"{_DONE} {_time(at):.6f}\n".encode()


def decode_done(line: str) -> float:
    """The time of a DONE line."""
    return _time(_float(_field(line, _DONE), line))


def is_done(line: str) -> bool:
    return line.startswith(_DONE + " ")


def socket_address(value: str) -> str:
    """The address to bind or connect for a $SALVO_GATE_SOCKET value ("@name": abstract, no file)."""
    return "\0" + value[1:] if value.startswith("@") else value


def read_line(sock: socket.socket) -> str:
    """One line, without its newline; "" when the peer closes first or sends more than MAX_LINE_BYTES."""
    data = b""
    while not data.endswith(b"\n"):
        if len(data) > MAX_LINE_BYTES:
            return ""
        chunk = sock.recv(MAX_LINE_BYTES)
        if not chunk:
            return ""
        data += chunk
    return data[:-1].decode(errors="replace")


def split_lines(buffer: bytes) -> tuple[list[str], bytes]:
    """Complete lines received so far, and the incomplete rest to keep for later."""
    *lines, rest = buffer.split(b"\n")
    return [line.decode(errors="replace") for line in lines], rest


def _field(line: str, keyword: str) -> str:
    parts = line.split(" ")
    if len(parts) != 2 or parts[0] != keyword:
        raise GateProtocolError(f"expected '{keyword} <value>', got {line[:80]!r}")
    return parts[1]


def _float(text: str, line: str) -> float:
    try:
        return float(text)
    except ValueError:
        raise GateProtocolError(f"not a time in {line[:80]!r}") from None


def _time(value: float) -> float:
    # nan would never compare as reached: a locust waiting for it would spin forever
    if not math.isfinite(value) or value <= 0:
        raise GateProtocolError(f"not an epoch time: {value!r}")
    return value
