"""Executors end to end on loopback: real moto S3, real bzt + locust, real ZeroMQ sockets."""

from __future__ import annotations

import json
import subprocess
import sys
import time

import pytest

from salvo.common.protocol import Start
from salvo.controller.link import ControllerLink
from tests.support.executors import drive_run, free_port, run_single, start_executor

pytestmark = pytest.mark.integration

SYNC_LOCUSTFILE = """
import os
from locust import HttpUser, constant, task

class Visitor(HttpUser):
    wait_time = constant(0.2)

    @task
    def index(self):
        self.client.get("/", headers={"X-Salvo-Executor": os.environ["SALVO_EXECUTOR_ID"]})
"""

# Every kind of outcome: success, HTTP failure, an exception inside catch_response
# (locust itself would drop that request), and an exception with no request at all.
MIXED_LOCUSTFILE = """
import os
from locust import HttpUser, constant, task

HEADERS = {"X-Salvo-Executor": os.environ["SALVO_EXECUTOR_ID"]}

class Mixed(HttpUser):
    wait_time = constant(0.05)

    @task(4)
    def ok(self):
        self.client.get("/ok", headers=HEADERS)

    @task(2)
    def server_error(self):
        self.client.get("/broken?status=500", headers=HEADERS)

    @task(2)
    def raises_inside_request(self):
        with self.client.get("/checked", headers=HEADERS, catch_response=True) as response:
            raise ValueError("unexpected payload")

    @task(1)
    def raises_without_request(self):
        raise RuntimeError("bug in user code")
"""


def read_summary(s3_client, bucket: str, run_id: str, executor_id: str) -> dict:
    key = f"results/{run_id}/executors/{executor_id}/summary.json"
    return json.loads(s3_client.get_object(Bucket=bucket, Key=key)["Body"].read())


def test_three_executors_start_together_at_start_at(tmp_path, aws_env, s3_bucket, s3_client, target):
    s3_client.put_object(Bucket=s3_bucket, Key="scenarios/sync.py", Body=SYNC_LOCUSTFILE.encode())
    command_port, status_port = free_port(), free_port()
    executors = [
        start_executor(
            tmp_path,
            aws_env,
            executor_id=f"exec-{n}",
            host=f"127.0.1.{n}",
            command_port=command_port,
            status_port=status_port,
            scenario_uri=f"s3://{s3_bucket}/scenarios/sync.py",
            results_uri=f"s3://{s3_bucket}/results/",
            extra_env={"SALVO_USERS": "2", "SALVO_DURATION": "2s", "SALVO_TARGET_HOST": target.url},
        )
        for n in (1, 2, 3)
    ]
    try:
        for executor in executors:
            executor.wait_state("armed")
        link = ControllerLink(None, command_port=command_port, status_port=status_port)
        for executor in executors:
            link.add_executor(executor.host)
            assert link.handshake(executor.host, timeout=5).state.value == "armed"
        assert link.wait_subscribed(3, timeout=10) >= 3
        start = Start(run_id="sync-run", fleet=[e.executor_id for e in executors], start_at=time.time() + 1.0)
        codes = drive_run(link, executors, start)
        link.close()
    finally:
        for executor in executors:
            executor.kill()
    assert codes == [0, 0, 0], [e.log()[-2000:] for e in executors]

    seen = target.stats()["executors"]
    first = {e.executor_id: seen[e.executor_id]["first"] for e in executors}
    after_start_ms = {k: (v - start.start_at) * 1000 for k, v in first.items()}
    spread_ms = (max(first.values()) - min(first.values())) * 1000
    print(f"first request after start_at (ms, at the target): {after_start_ms}; spread {spread_ms:.2f} ms")
    assert all(0 <= ms <= 20 for ms in after_start_ms.values()), after_start_ms
    assert spread_ms <= 10, spread_ms

    for executor in executors:
        summary = read_summary(s3_client, s3_bucket, "sync-run", executor.executor_id)
        assert summary["totals"]["requests"] == seen[executor.executor_id]["count"]
        assert summary["timings"]["start_at"] == pytest.approx(start.start_at)


def test_summary_counts_exactly_what_the_target_saw(tmp_path, aws_env, s3_bucket, s3_client, target):
    s3_client.put_object(Bucket=s3_bucket, Key="scenarios/mixed.py", Body=MIXED_LOCUSTFILE.encode())
    executor = start_executor(
        tmp_path,
        aws_env,
        executor_id="counter",
        host="127.0.1.20",
        scenario_uri=f"s3://{s3_bucket}/scenarios/mixed.py",
        results_uri=f"s3://{s3_bucket}/results/",
        extra_env={
            "SALVO_USERS": "4",
            "SALVO_SPAWN_RATE": "100",
            "SALVO_DURATION": "3s",
            "SALVO_TARGET_HOST": target.url,
        },
    )
    try:
        executor.wait_state("armed")
        code = run_single(executor, "count-run")
    finally:
        executor.kill()
    assert code == 0, executor.log()[-3000:]

    at_target = target.stats()["executors"]["counter"]["count"]
    summary = read_summary(s3_client, s3_bucket, "count-run", "counter")
    totals, labels = summary["totals"], summary["labels"]
    print(
        f"target saw {at_target}; summary: {totals['requests']} requests, {totals['failures']} failures, "
        f"{totals['user_errors']} user errors"
    )
    assert at_target > 50
    assert totals["requests"] == at_target
    assert labels["/ok"]["failures"] == 0
    assert labels["/broken?status=500"]["failures"] == labels["/broken?status=500"]["requests"] > 0
    assert labels["/checked"]["failures"] == labels["/checked"]["requests"] > 0
    # an exception inside catch_response fails its request; one outside any request is a user error;
    # both are failures, neither is counted twice
    assert totals["user_errors"] == labels["Mixed"]["user_errors"] > 0
    failed_requests = labels["/broken?status=500"]["requests"] + labels["/checked"]["requests"]
    assert totals["failures"] == failed_requests + totals["user_errors"]
    assert totals["errors"]["ValueError: unexpected payload"] == labels["/checked"]["requests"]
    assert totals["errors"]["RuntimeError: bug in user code"] == totals["user_errors"]


def test_run_through_s3_failing_30_percent_of_requests(tmp_path, aws_env, s3_bucket, s3_client, flaky_s3, target):
    s3_client.put_object(Bucket=s3_bucket, Key="scenarios/flaky.py", Body=SYNC_LOCUSTFILE.encode())
    executor = start_executor(
        tmp_path,
        {**aws_env, "AWS_ENDPOINT_URL": flaky_s3.endpoint},
        executor_id="flaky",
        host="127.0.1.21",
        scenario_uri=f"s3://{s3_bucket}/scenarios/flaky.py",
        results_uri=f"s3://{s3_bucket}/results/",
        extra_env={"SALVO_USERS": "1", "SALVO_DURATION": "1s", "SALVO_TARGET_HOST": target.url},
    )
    try:
        executor.wait_state("armed")
        health = subprocess.run(
            [sys.executable, "-m", "salvo.cli", "health"], env=executor.env, capture_output=True, text=True, timeout=30
        )
        assert health.returncode == 0 and "armed" in health.stdout
        probe = subprocess.run(
            [sys.executable, "-m", "salvo.executor.presence.health"],
            env=executor.env,
            capture_output=True,
            text=True,
            timeout=30,
        )  # what the images' HEALTHCHECK runs
        assert (probe.returncode, probe.stdout) == (0, health.stdout)
        code = run_single(executor, "flaky-run")
    finally:
        executor.kill()
    assert code == 0, executor.log()[-3000:]
    summary = read_summary(s3_client, s3_bucket, "flaky-run", "flaky")
    assert summary["totals"]["requests"] == target.stats()["total"] > 0
    print(f"S3 proxy: {flaky_s3.requests} requests, {flaky_s3.faults} injected 503s")
    assert flaky_s3.faults > 0 and "retrying" in executor.log()
