"""The control plane at fleet scale: 200 simulated executors (real sockets, real protocol), one real controller.

A correctness test, not a benchmark (`make bench` measures 2,000): everyone is
found, everyone gets the start before start_at, everyone's results are counted.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from salvo.common.keys import generate_fleet_key
from tests.support.executors import REPO, free_port

pytestmark = pytest.mark.integration

COUNT = 200
KEY = generate_fleet_key()


@pytest.mark.parametrize("fleet_key", [None, KEY], ids=["plain", "curve"])
def test_two_hundred_executors_all_started_before_start_at_and_all_counted(tmp_path, aws_env, s3_bucket, fleet_key):
    command_port, status_port = free_port(), free_port()
    record = tmp_path / "sims.json"
    env = {**os.environ, **aws_env, "PYTHONUNBUFFERED": "1"}
    sims = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "tests.support.simexecutor",
            "--first",
            "127.3.0.1",
            "--count",
            str(COUNT),
            "--command-port",
            str(command_port),
            "--status-port",
            str(status_port),
            "--run-seconds",
            "3",
            "--results-uri",
            f"s3://{s3_bucket}/results/",
            "--record",
            str(record),
            "--lifetime",
            "240",
            *([f"--fleet-key={fleet_key}"] if fleet_key else []),  # a key may start with "-"
        ],
        cwd=REPO,
        env=env,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert sims.stdout.readline().strip() == f"ready {COUNT}"
        controller_env = {k: v for k, v in env.items() if not k.startswith("SALVO_")}
        controller_env.update(
            {
                "SALVO_EXECUTOR_CIDRS": "127.3.0.0/24",
                "SALVO_COMMAND_PORT": str(command_port),
                "SALVO_STATUS_PORT": str(status_port),
                "SALVO_RESULTS_URI": f"s3://{s3_bucket}/results/",
                "SALVO_RUN_ID": "fan-out",
                "SALVO_EXPECTED_EXECUTORS": str(COUNT),
                "SALVO_DISCOVERY_TIMEOUT": "60",
                "SALVO_REPORT_DIR": str(tmp_path / "report"),
                "SALVO_PROBE_TIMEOUT": "0.2",
                **({"SALVO_FLEET_KEY": fleet_key} if fleet_key else {"SALVO_INSECURE": "true"}),
            }
        )
        controller = subprocess.run(
            [sys.executable, "-m", "salvo.cli", "controller"],
            cwd=REPO,
            env=controller_env,
            capture_output=True,
            text=True,
            timeout=180,
        )
        assert controller.returncode == 0, controller.stderr[-4000:]
        assert "Traceback" not in controller.stderr
    finally:
        sims.terminate()
        sims.wait(60)
    seen = json.loads(record.read_text())
    assert len(seen) == COUNT
    late = [s["executor_id"] for s in seen if s["received_at"] is None or s["received_at"] >= s["start_at"]]
    assert not late, f"{len(late)} executors got the start late or never: {late[:5]}"
    report = json.loads((tmp_path / "report" / "report.json").read_text())
    assert report["verdict"] == "pass" and len(report["contributors"]) == COUNT
    assert {e["outcome"] for e in report["executors"].values()} == {"finished"}
    assert report["overall"]["requests"] == COUNT * 30
