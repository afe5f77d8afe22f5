"""Verdicts the data must support, with real executors on loopback: a short fleet, every request failed, a target
that refuses every connection. None of these exits 0 unless the operator said so."""

from __future__ import annotations

import pytest

from tests.support.cluster import Cluster
from tests.support.executors import free_port

pytestmark = pytest.mark.integration

STATUS = b"""
import os
from locust import FastHttpUser, constant, task


class Status(FastHttpUser):
    wait_time = constant(0.1)

    @task
    def get(self):
        self.client.get("/?status=" + os.environ.get("WANTED_STATUS", "200"),
                        headers={"X-Salvo-Executor": os.environ["SALVO_EXECUTOR_ID"]})
"""


@pytest.fixture
def cluster(tmp_path, aws_env, s3_bucket, s3_client, target):
    s3_client.put_object(Bucket=s3_bucket, Key="scenarios/status.py", Body=STATUS)
    made = Cluster(tmp_path, aws_env, s3_bucket, target)
    yield made
    made.close()


def test_a_fleet_short_of_the_expected_is_exit_3_before_any_load_unless_a_lower_quorum_allows_it(cluster, target):
    for number in range(1, 5):  # four of the five expected
        cluster.executor(number, "scenarios/status.py", SALVO_MODE="service", SALVO_DURATION="2s")
    for executor in cluster.executors:
        executor.wait_state("armed")
    short = cluster.controller("short", expected=5, SALVO_DISCOVERY_TIMEOUT="4s")
    assert short.wait() == 3
    (line,) = [line for line in short.log().splitlines() if line.startswith("salvo:")]
    assert "4 of 5 expected executor(s) armed" in line and "SALVO_EXPECTED_EXECUTORS=5" in line
    assert "missing: 1 never answered" in line and "no load was started" in line
    assert target.stats()["total"] == 0
    allowed = cluster.controller("short-allowed", expected=5, SALVO_MIN_EXECUTORS=4, SALVO_DISCOVERY_TIMEOUT="4s")
    assert allowed.wait() == 1, allowed.log()[-3000:]
    report = allowed.report()
    assert report["verdict_notes"] == ["started with 4 of 5 expected executors"]
    assert "verdict: FAIL (exit 1); started with 4 of 5 expected executors" in allowed.log()
    assert report["overall"]["requests"] == target.stats()["total"] > 0


@pytest.mark.parametrize("criteria", [None, "none", "p95<1s"])
def test_every_request_answered_500_never_passes(cluster, target, criteria):
    for number in (1, 2):
        cluster.executor(number, "scenarios/status.py", SALVO_DURATION="2s", WANTED_STATUS="500")
    for executor in cluster.executors:
        executor.wait_state("armed")
    extra = {} if criteria is None else {"SALVO_CRITERIA": criteria}
    controller = cluster.controller(f"all-500-{'default' if criteria is None else len(criteria)}", expected=2, **extra)
    assert controller.wait() == 1, controller.log()[-3000:]
    report = controller.report()
    assert report["overall"]["requests"] == report["overall"]["failures"] == target.stats()["total"] > 0
    assert any(reason.startswith("no request succeeded") for reason in report["verdict_reasons"])


def test_a_target_refusing_every_connection_never_passes(cluster, target):
    closed = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    for number in (1, 2):
        cluster.executor(number, "scenarios/status.py", SALVO_DURATION="2s", SALVO_TARGET_HOST=closed)
    for executor in cluster.executors:
        executor.wait_state("armed")
    controller = cluster.controller("refused", expected=2)
    assert controller.wait() == 1, controller.log()[-3000:]
    report = controller.report()
    assert report["overall"]["requests"] > 0 and report["overall"]["failures"] == report["overall"]["requests"]
    assert any(reason.startswith("no request succeeded") for reason in report["verdict_reasons"])
