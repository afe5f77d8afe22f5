"""images/rehearsal/lifecycle.py: the controller announces its end; the stand-ins stop on it (real processes)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

from tests.support.executors import REPO

LIFECYCLE = str(REPO / "images" / "rehearsal" / "lifecycle.py")
# Prints "ready" once its SIGTERM handler is in place, then waits for a signal; exits 7 on SIGTERM.
SERVER = (
    "import signal, sys, time; signal.signal(signal.SIGTERM, lambda *_: sys.exit(7)); "
    "print('ready', flush=True); signal.pause()"
)


def lifecycle(*args: str) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, LIFECYCLE, *args], stdout=subprocess.PIPE, text=True)


def test_announce_writes_the_file_after_the_command_and_keeps_its_exit_code(tmp_path):
    done = tmp_path / "controller-ended"
    result = subprocess.run(
        [
            sys.executable,
            LIFECYCLE,
            "announce",
            str(done),
            "--",
            sys.executable,
            "-c",
            "import pathlib, sys; assert not pathlib.Path(sys.argv[1]).exists(); sys.exit(3)",
            str(done),
        ],
        timeout=30,
    )
    assert result.returncode == 3 and done.read_text() == "3\n"


def test_announce_passes_sigterm_on_and_still_announces(tmp_path):
    done = tmp_path / "controller-ended"
    wrapper = lifecycle("announce", str(done), "--", sys.executable, "-c", SERVER)
    assert wrapper.stdout.readline().strip() == "ready"
    wrapper.send_signal(signal.SIGTERM)
    assert wrapper.wait(timeout=30) == 7 and done.read_text() == "7\n"


def test_until_ignores_an_earlier_announcement_and_stops_its_command_on_a_new_one(tmp_path):
    done = tmp_path / "controller-ended"
    done.write_text("0\n")
    os.utime(done, (time.time() - 3600, time.time() - 3600))  # left by an earlier rehearsal
    stand_in = lifecycle("until", str(done), "--", sys.executable, "-c", SERVER)
    try:
        assert stand_in.stdout.readline().startswith("lifecycle: ")
        assert stand_in.stdout.readline().strip() == "ready"
        assert stand_in.poll() is None
        subprocess.run([sys.executable, LIFECYCLE, "announce", str(done), "--", "true"], check=True, timeout=30)
        assert stand_in.wait(timeout=30) == 0  # its command was stopped, not failed
    finally:
        stand_in.kill()


def test_until_without_a_command_just_waits(tmp_path):
    done = tmp_path / "controller-ended"
    waiter = lifecycle("until", str(done))
    try:
        assert waiter.stdout.readline() == f"lifecycle: waiting until {done} is written\n"
        done.write_text("0\n")
        assert waiter.wait(timeout=30) == 0
    finally:
        waiter.kill()


def test_linger_outlives_its_command_until_the_controller_has_ended_and_keeps_its_code(tmp_path):
    done = tmp_path / "controller-ended"
    executor = lifecycle("linger", str(done), "--", sys.executable, "-c", "print('dismissed', flush=True)")
    try:
        assert executor.stdout.readline().strip() == "dismissed"  # the command has ended ...
        assert executor.poll() is None  # ... the wrapper is still there: the controller has not
        subprocess.run([sys.executable, LIFECYCLE, "announce", str(done), "--", "true"], check=True, timeout=30)
        assert executor.wait(timeout=30) == 0
    finally:
        executor.kill()
