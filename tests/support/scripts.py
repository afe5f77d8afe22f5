"""Running a Python script in a fresh interpreter with the library on its path (e.g. code that imports locust)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def run_script(script: str, timeout: float = 60) -> tuple[dict, str]:
    """Run `script`; its last stdout line, read as JSON, and its stderr. It must exit 0."""
    done = subprocess.run(
        [sys.executable, "-c", script],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=timeout,
        env={"PYTHONPATH": str(REPO / "shared/src")},
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1]), done.stderr
