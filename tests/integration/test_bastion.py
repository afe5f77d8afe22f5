"""The operator's verbs against real executors and a real S3: discover, stop, upload; CloudWatch."""

from __future__ import annotations

import os
import subprocess
import sys
import time

import pytest

from salvo.common.keys import keygen_blocks
from salvo.common.protocol import Start
from salvo.controller.link import ControllerLink
from salvo.controller.live import CloudWatchPublisher
from tests.support.executors import REPO, start_executor, wait_for
from tests.support.keys import controller_env, controller_keys, executor_env

pytestmark = pytest.mark.integration

LOCUSTFILE = """
import os
from locust import FastHttpUser, constant, task

class Visitor(FastHttpUser):
    wait_time = constant(0.2)

    @task
    def index(self):
        self.client.get("/", headers={"X-Salvo-Executor": os.environ["SALVO_EXECUTOR_ID"]})
"""


def salvo(*args: str, env: dict) -> subprocess.CompletedProcess:
    base = {k: v for k, v in os.environ.items() if not k.startswith("SALVO_")}
    return subprocess.run(
        [sys.executable, "-m", "salvo.cli", *args],
        env={**base, **env},
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.fixture
def armed(tmp_path, aws_env, s3_bucket, s3_client, target):
    s3_client.put_object(Bucket=s3_bucket, Key="scenarios/b.py", Body=LOCUSTFILE.encode())
    executor = start_executor(
        tmp_path,
        aws_env,
        executor_id="bastion-target",
        host="127.0.1.25",
        scenario_uri=f"s3://{s3_bucket}/scenarios/b.py",
        results_uri=f"s3://{s3_bucket}/results/",
        extra_env={**executor_env(), "SALVO_DURATION": "60s", "SALVO_TARGET_HOST": target.url},
    )
    executor.wait_state("armed")
    yield executor
    executor.kill()


def scan_env(executor, keys: dict[str, str]) -> dict:
    return {
        "SALVO_EXECUTOR_CIDRS": "127.0.1.24-127.0.1.27",
        **keys,
        "SALVO_COMMAND_PORT": str(executor.command_port),
        "SALVO_STATUS_PORT": str(executor.status_port),
    }


def test_discover_lists_executors_and_reports_authentication_failures(armed):
    good = salvo("discover", env=scan_env(armed, controller_env()))
    assert good.returncode == 0, good.stderr
    line = next(row for row in good.stdout.splitlines() if row.startswith("127.0.1.25"))
    assert "bastion-target" in line and "armed" in line and "member" in line
    other = {role: dict(lines) for role, lines in keygen_blocks().items()}["controller"]
    wrong = salvo("discover", env=scan_env(armed, other))
    line = next(row for row in wrong.stdout.splitlines() if row.startswith("127.0.1.25"))
    assert "authentication failed" in line
    assert armed.state() == "armed"


def test_stop_ends_a_running_load(armed, target):
    link = ControllerLink(controller_keys(), armed.command_port, armed.status_port)
    link.add_executor(armed.host)
    wait_for(lambda: link.wait_subscribed(1, timeout=0.2) >= 1, 10, "the executor's subscription")
    link.publish(Start(run_id="to-stop", fleet=[armed.executor_id], start_at=time.time() + 0.3))
    wait_for(lambda: target.stats()["total"] > 0, 30, "load")
    result = salvo("stop", env=scan_env(armed, controller_env()))
    assert result.returncode == 0 and "stop sent to 1 of 1" in result.stdout, result.stdout + result.stderr
    assert armed.wait_exit(60) == 0
    assert "stopped by controller: salvo stop" in armed.log()
    link.close()


def test_upload_validates_like_an_executor(tmp_path, aws_env, s3_bucket, s3_client):
    good = tmp_path / "shop.py"
    good.write_text(LOCUSTFILE)
    bad = tmp_path / "broken.py"
    bad.write_text("from locust import HttpUser\n")
    ok = salvo("upload", str(good), f"s3://{s3_bucket}/scenarios/", env=aws_env)
    assert ok.returncode == 0, ok.stderr
    assert s3_client.get_object(Bucket=s3_bucket, Key="scenarios/shop.py")["Body"].read() == LOCUSTFILE.encode()
    refused = salvo("upload", str(bad), f"s3://{s3_bucket}/scenarios/broken.py", env=aws_env)
    assert refused.returncode == 3 and "no locust User class" in refused.stderr
    keys = [o["Key"] for o in s3_client.list_objects_v2(Bucket=s3_bucket).get("Contents", [])]
    assert "scenarios/broken.py" not in keys


def test_live_figures_reach_cloudwatch(aws_env, moto_server):
    publisher = CloudWatchPublisher("Salvo/Test", "cw-run")
    publisher.put({"rps": 123.0, "failure_rate": 0.01, "p50": 12.0, "p95": 40.0, "p99": 80.0}, active=5, lost=0)
    cloudwatch = moto_server.client("cloudwatch")
    metrics = cloudwatch.list_metrics(Namespace="Salvo/Test")["Metrics"]
    names = {m["MetricName"] for m in metrics}
    assert {"RequestsPerSecond", "FailureRate", "LatencyP95", "ActiveExecutors"} <= names
    assert all(m["Dimensions"] == [{"Name": "RunId", "Value": "cw-run"}] for m in metrics)
