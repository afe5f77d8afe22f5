"""Rehearsal only: lets a plain `docker compose up` end when the controller ends.

    lifecycle.py announce FILE -- COMMAND ...   run COMMAND; when it ends, (re)write FILE; exit with its code
    lifecycle.py until FILE [-- COMMAND ...]    run COMMAND (or just wait) until FILE is written after this
                                                started; then stop COMMAND (SIGTERM) and exit 0
    lifecycle.py linger FILE -- COMMAND ...     run COMMAND; when it ends, wait (at most LINGER_SECONDS) until
                                                FILE is written after this started; exit with COMMAND's code

Compose has no "stop the others when this one ends" for a plain `up` (only --abort-on-container-exit,
which in turn stops everything when any container ends). So the controller announces its end in a
volume shared with the stand-ins (S3, target, setup), which then stop. Executors the controller
dismissed linger until then: with --exit-code-from, the first container to end stops the rest, and
that must be the controller, after its report. A FILE left by an earlier rehearsal does not count:
only one written after `until` or `linger` started.

SIGTERM and SIGINT are passed on to COMMAND, so `docker compose stop` still stops it gracefully.
Standard library only: it runs in the rehearsal, executor and controller images.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

POLL_SECONDS = 0.5
LINGER_SECONDS = 300.0
# File times come from the kernel's coarse clock, up to a tick behind time.time_ns(); an earlier
# rehearsal's announcement is minutes old.
MTIME_SLACK_NS = 1_000_000_000


def _run(command: list[str]) -> subprocess.Popen:
    child: subprocess.Popen | None = None
    received: list[int] = []

    def forward(signum: int, _frame) -> None:
        if child is None:
            received.append(signum)
        else:
            child.send_signal(signum)

    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, forward)
    child = subprocess.Popen(command)
    for signum in received:  # arrived while starting it
        child.send_signal(signum)
    return child


def _exit_code(returncode: int) -> int:
    return 128 - returncode if returncode < 0 else returncode  # killed by signal N: 128 + N, as a shell says


def announce(done: Path, command: list[str]) -> int:
    code = _exit_code(_run(command).wait())
    scratch = done.with_name(f".{done.name}.{os.getpid()}")
    scratch.write_text(f"{code}\n")
    os.replace(scratch, done)  # a new file, whoever owned the old one
    return code


def _written_since(path: Path, since_ns: int) -> bool:
    try:
        return path.stat().st_mtime_ns >= since_ns - MTIME_SLACK_NS
    except FileNotFoundError:
        return False


def until(done: Path, command: list[str]) -> int:
    began_ns = time.time_ns()
    print(f"lifecycle: {' '.join(command) or 'waiting'} until {done} is written", flush=True)
    child = _run(command) if command else None
    if child is None:
        for signum in (signal.SIGTERM, signal.SIGINT):
            signal.signal(signum, lambda number, _frame: sys.exit(128 + number))
    while not _written_since(done, began_ns):
        if child is not None and child.poll() is not None:
            return _exit_code(child.returncode)
        time.sleep(POLL_SECONDS)
    if child is not None:
        child.terminate()
        child.wait()
    return 0


def linger(done: Path, command: list[str], limit: float = LINGER_SECONDS) -> int:
    began_ns = time.time_ns()
    code = _exit_code(_run(command).wait())
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda number, _frame: sys.exit(code))
    deadline = time.monotonic() + limit
    while not _written_since(done, began_ns) and time.monotonic() < deadline:
        time.sleep(POLL_SECONDS)
    return code


def main(argv: list[str]) -> int:
    if len(argv) < 2 or argv[0] not in ("announce", "until", "linger") or (len(argv) > 2 and argv[2] != "--"):
        print(__doc__, file=sys.stderr)
        return 2
    mode, done, command = argv[0], Path(argv[1]), argv[3:]
    if mode in ("announce", "linger"):
        if not command:
            print(f"lifecycle.py {mode}: a COMMAND is required", file=sys.stderr)
            return 2
        return announce(done, command) if mode == "announce" else linger(done, command)
    return until(done, command)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
