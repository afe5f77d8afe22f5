"""Real executors: load that could not reach a host is refused while arming; DLT's test.json runs gated."""

from __future__ import annotations

import json

import pytest

from tests.support.bundles import zip_bytes
from tests.support.executors import run_single, start_executor

pytestmark = pytest.mark.integration

HOSTLESS_LOCUSTFILE = b"""
import os
from locust import HttpUser, constant, task

class Visitor(HttpUser):
    wait_time = constant(0.1)

    @task
    def index(self):
        self.client.get("/", headers={"X-Salvo-Executor": os.environ["SALVO_EXECUTOR_ID"]})
"""

_hosts = iter(range(60, 90))


@pytest.fixture
def launch(tmp_path, aws_env, s3_bucket, s3_client):
    """An executor on its own loopback address for a scenario body (no SALVO_TARGET_HOST unless given)."""
    started = []

    def _launch(key: str, body: bytes, **extra_env):
        s3_client.put_object(Bucket=s3_bucket, Key=key, Body=body)
        executor = start_executor(
            tmp_path,
            aws_env,
            executor_id=f"arm-{len(started)}",
            host=f"127.0.1.{next(_hosts)}",
            scenario_uri=f"s3://{s3_bucket}/{key}",
            results_uri=f"s3://{s3_bucket}/results/",
            extra_env={"SALVO_USERS": "2", "SALVO_DURATION": "2s", **extra_env},
        )
        started.append(executor)
        return executor

    yield _launch
    for executor in started:
        executor.kill()


def test_taurus_locust_scenario_without_any_host_is_refused_while_arming(launch, target):
    config = (
        b"execution:\n- executor: locust\n  concurrency: 2\n  hold-for: 2s\n  scenario: shop\n"
        b"scenarios:\n  shop:\n    script: locustfile.py\n"
    )
    executor = launch("scenarios/nohost.zip", zip_bytes({"test.yml": config, "locustfile.py": HOSTLESS_LOCUSTFILE}))
    assert executor.wait_exit(90) == 3, executor.log()[-3000:]
    log = executor.log()
    reasons = [line for line in log.splitlines() if "has no host" in line]
    assert len(reasons) == 1, log[-3000:]
    assert reasons[0].endswith(
        "test.yml: locustfile.py: User class Visitor has no host and nothing else names one: set `host` on the "
        "class, `default-address` in the Taurus scenario, or SALVO_TARGET_HOST"
    )
    assert "Traceback" not in log
    assert "state arming -> failed" in log and "-> armed" not in log  # refused while arming, never launched
    assert not (executor.work_dir / "run-1" / "artifacts").exists()
    assert target.stats()["total"] == 0


def test_dlt_test_json_with_a_script_path_scenario_runs_gated_at_the_target_host(launch, target, s3_client, s3_bucket):
    """AWS DLT's test.json names its script as the scenario and no host: SALVO_TARGET_HOST supplies it."""
    test_json = json.dumps(
        {
            "execution": [{"executor": "locust", "concurrency": 2, "hold-for": "2s", "scenario": "locustfile.py"}],
        }
    ).encode()
    executor = launch(
        "scenarios/dlt.zip",
        zip_bytes({"test.json": test_json, "locustfile.py": HOSTLESS_LOCUSTFILE}),
        SALVO_TARGET_HOST=target.url,
    )
    executor.wait_state("armed")
    assert "load tool held at the start gate (1 locust process(es))" in executor.log()
    assert "cannot be held at a start gate" not in executor.log()
    assert target.stats()["total"] == 0  # held: nothing before the start
    assert run_single(executor, "dlt-run") == 0, executor.log()[-3000:]

    key = f"results/dlt-run/executors/{executor.executor_id}/summary.json"
    summary = json.loads(s3_client.get_object(Bucket=s3_bucket, Key=key)["Body"].read())
    at_target = target.stats()["executors"][executor.executor_id]["count"]
    assert summary["totals"]["requests"] == at_target > 0
    assert len(summary["timings"]["gate_released"]) == 1  # the gate let locust go, once
