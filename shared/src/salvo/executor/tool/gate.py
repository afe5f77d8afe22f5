"""The start gate's line protocol, spoken by the executor (runner) and each gated locust process.

One line each way over the Unix socket named by $SALVO_GATE_SOCKET:

    locust   -> executor   READY <pid>
    executor -> locust     GO <start_at> index=<i> size=<n> run=<run_id> mode=<mode> [users=<u> rate=<r>] [clock=<s>]
                              [slot=<position>/<members>/<region>/<w0>,<w1>,...] [open=<open model>]
                           start_at in epoch seconds on this host's clock; sent as soon as known,
                           with the executor's place in the fleet and, in fleet mode, its share;
                           slot: with region weights, its place in the split by region (fleetload.Slot);
                           clock: this host's clock minus the controller's, which the recorder
                           takes off every timestamp (results are in the controller's time)
                           open: an open-model run's rate and pool (salvo.common.arrivals.OpenModel)
    locust   -> executor   RELEASED <time>      epoch seconds; when locust let its users go
    locust   -> executor   FAILED <reason>      the scenario ended the run early (its rate shape failed):
                                                the run fails with this one line, whatever bzt's exit code
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
from dataclasses import dataclass

from salvo.common.arrivals import OpenModel
from salvo.common.defaults import MAX_CLOCK_OFFSET_SECONDS
from salvo.common.fleetload import ENV_EXECUTOR_INDEX, ENV_FLEET_SIZE, ENV_FLEET_SLOT, ENV_RUN_ID, LoadMode, Slot

__all__ = [
    "ABORT_EXIT_CODE",
    "GATE_SOCKET_ENV",
    "MAX_LINE_BYTES",
    "GateProtocolError",
    "Go",
    "check_go",
    "decode_done",
    "decode_failed",
    "decode_go",
    "decode_ready",
    "decode_released",
    "encode_done",
    "encode_failed",
    "encode_go",
    "encode_ready",
    "encode_released",
    "is_done",
    "is_failed",
    "read_line",
    "socket_address",
    "split_lines",
]

GATE_SOCKET_ENV = "SALVO_GATE_SOCKET"  # "@name" for a Linux abstract socket, else a filesystem path
ABORT_EXIT_CODE = 4
MAX_LINE_BYTES = 1024

_READY, _GO, _RELEASED, _DONE, _FAILED = "READY", "GO", "RELEASED", "DONE", "FAILED"


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


@dataclass(frozen=True)
class Go:
    """What a gated load tool is told at the start (the fields of salvo.executor.run.fleetplace.FleetPlace)."""

    start_at: float
    index: int = 0
    size: int = 1
    run_id: str = ""
    mode: LoadMode = LoadMode.PER_EXECUTOR
    users: int | None = None  # fleet mode with SALVO_FLEET_USERS: this executor's users
    rate: float | None = None  # ... and its spawn rate
    clock: float = 0.0  # this host's clock minus the controller's (seconds): results are recorded less it
    weighted: Slot | None = None  # with region weights: its place in the split by region
    open_model: OpenModel | None = None  # SALVO_FLEET_RATE or SALVO_RATE: arrivals at a rate, not looping users

    @property
    def split(self) -> bool:
        """Fleet mode: the scenario's own load numbers are the fleet's totals."""
        return self.mode is LoadMode.FLEET

    @property
    def slot(self) -> Slot:
        """How this executor's share of a fleet total is worked out: by region when weighted, else by index."""
        return self.weighted if self.weighted is not None else Slot(position=self.index, members=self.size)

    def scenario_environment(self) -> dict[str, str]:
        """What the scenario finds in its environment once the start is known (see `salvo.fleet`)."""
        weighted = {ENV_FLEET_SLOT: self.weighted.encode()} if self.weighted is not None else {}
        return {
            ENV_EXECUTOR_INDEX: str(self.index),
            ENV_FLEET_SIZE: str(self.size),
            ENV_RUN_ID: self.run_id,
            **weighted,
        }


def encode_go(go: Go) -> bytes:
    fields = [f"{_GO} {_time(go.start_at):.6f}", f"index={go.index}", f"size={go.size}", f"mode={go.mode.value}"]
    if go.run_id:
        fields.append(f"run={go.run_id}")
    if go.users is not None:
        fields.append(f"users={go.users}")
    if go.rate is not None:
        fields.append(f"rate={go.rate:.6g}")
    if go.clock:
        fields.append(f"clock={go.clock:.6f}")
    if go.weighted is not None:
        fields.append(f"slot={go.weighted.encode()}")
    if go.open_model is not None:
        fields.append(f"open={go.open_model.encode()}")
    return (" ".join(fields) + "\n").encode()


def check_go(go: Go) -> None:
    """GateProtocolError unless a gated tool would read this GO as sent: it would exit at once otherwise."""
    line = encode_go(go)
    if len(line) > MAX_LINE_BYTES:
        raise GateProtocolError(f"a GO line of {len(line)} bytes exceeds {MAX_LINE_BYTES}")
    read = decode_go(line.decode().removesuffix("\n"))
    if (read.index, read.size, read.run_id, read.mode, read.users, read.weighted, read.open_model) != (
        go.index,
        go.size,
        go.run_id,
        go.mode,
        go.users,
        go.weighted,
        go.open_model,
    ):
        raise GateProtocolError(f"a gated tool would misread {line[:80]!r}")


def decode_go(line: str) -> Go:
    """The fields of a GO line; GateProtocolError for anything malformed."""
    keyword, _, rest = line.partition(" ")
    if keyword != _GO or not rest:
        raise GateProtocolError(f"expected '{_GO} <start_at> ...', got {line[:80]!r}")
    first, *pairs = rest.split(" ")
    values: dict[str, str] = {}
    for pair in pairs:
        name, sep, value = pair.partition("=")
        if not sep or not value:
            raise GateProtocolError(f"expected name=value, got {pair[:40]!r} in {line[:80]!r}")
        values[name] = value
    try:
        mode = LoadMode(values.get("mode", LoadMode.PER_EXECUTOR.value))
    except ValueError:
        raise GateProtocolError(f"mode is none of {', '.join(m.value for m in LoadMode)} in {line[:80]!r}") from None
    try:
        go = Go(
            start_at=_time(_float(first, line)),
            index=int(values.get("index", 0)),
            size=int(values.get("size", 1)),
            run_id=values.get("run", ""),
            mode=mode,
            users=int(values["users"]) if "users" in values else None,
            rate=float(values["rate"]) if "rate" in values else None,
            clock=float(values.get("clock", 0.0)),
            weighted=Slot.decode(values["slot"]) if "slot" in values else None,
            open_model=OpenModel.decode(values["open"]) if "open" in values else None,
        )
    except ValueError:
        raise GateProtocolError(f"a field is not a number in {line[:80]!r}") from None
    if (
        not 0 <= go.index < go.size
        or (go.users is not None and go.users < 0)
        or (go.rate is not None and not (math.isfinite(go.rate) and go.rate > 0))
        or not (math.isfinite(go.clock) and abs(go.clock) <= MAX_CLOCK_OFFSET_SECONDS)
    ):
        raise GateProtocolError(f"values out of range in {line[:80]!r}")
    return go


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


def encode_failed(reason: str) -> bytes:
    """A FAILED line: `reason` on one line, printable, cut to fit MAX_LINE_BYTES."""
    text = " ".join("".join(c if c.isprintable() else " " for c in reason).split()) or "no reason given"
    line = f"{_FAILED} {text}".encode()[: MAX_LINE_BYTES - 1].decode(errors="ignore")
    return (line + "\n").encode()


def decode_failed(line: str) -> str:
    """The reason of a FAILED line."""
    reason = line.removeprefix(_FAILED + " ")
    if not is_failed(line) or not reason.strip():
        raise GateProtocolError(f"expected '{_FAILED} <reason>', got {line[:80]!r}")
    return reason


def is_failed(line: str) -> bool:
    return line.startswith(_FAILED + " ")


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
