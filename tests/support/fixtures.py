"""Pytest fixtures shared by the integration tests (registered in tests/conftest.py)."""

from __future__ import annotations

import json
import subprocess
import sys
import urllib.request
from dataclasses import dataclass

import pytest

from tests.support.executors import REPO
from tests.support.s3 import *  # noqa: F403  (moto server, fault proxy, bucket fixtures)


@dataclass
class HttpTarget:
    url: str

    def stats(self) -> dict:
        with urllib.request.urlopen(self.url + "/__stats", timeout=10) as response:
            return json.load(response)

    def reset(self) -> None:
        urllib.request.urlopen(urllib.request.Request(self.url + "/__reset", data=b""), timeout=10).close()

    def stall(self, at: float, seconds: float) -> None:
        """From epoch time `at`, hold every answer for up to `seconds` (until the stall ends)."""
        request = urllib.request.Request(f"{self.url}/__stall?at={at:.6f}&seconds={seconds:g}", data=b"")
        urllib.request.urlopen(request, timeout=10).close()


@pytest.fixture(scope="session")
def http_target():
    """The system under test: tests/support/target.py on 127.0.0.1, counting what it receives."""
    process = subprocess.Popen(
        [sys.executable, "-m", "tests.support.target", "--host", "127.0.0.1", "--port", "0"],
        cwd=REPO,
        stdout=subprocess.PIPE,
        text=True,
    )
    line = process.stdout.readline()  # "listening PORT" once the socket is bound
    assert line.startswith("listening"), f"target failed to start: {line!r}"
    yield HttpTarget(f"http://127.0.0.1:{line.split()[1]}")
    process.kill()
    process.wait(10)


@pytest.fixture
def target(http_target):
    http_target.reset()
    return http_target
