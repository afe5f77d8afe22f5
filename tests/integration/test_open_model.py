"""Open-model load with real executors, bzt and locust on loopback, measured at an independent target.

A fleet-wide rate is split exactly across three executors in every second; a target
that stops answering for a while shows in the latency timed from the intended send
time and not in the service time, and arrivals no user could take are counted.
"""

from __future__ import annotations

import pytest

from tests.support.cluster import Cluster

pytestmark = pytest.mark.integration

# Written for the closed model (a user loops over its task, pausing 5-10 s): unchanged in an open-model run,
# where arrivals pace the task and the pause is skipped.
CALLER = b"""
import os
from locust import HttpUser, between, task

class Caller(HttpUser):
    wait_time = between(5, 10)

    def on_start(self):
        self.client.headers["X-Salvo-Executor"] = os.environ["SALVO_EXECUTOR_ID"]

    @task
    def call(self):
        self.client.get("/timed/call")
"""


@pytest.fixture
def cluster(tmp_path, aws_env, s3_bucket, s3_client, target):
    made = Cluster(tmp_path, aws_env, s3_bucket, target)
    yield made
    made.close()


def _per_second(times: list[float], start_at: float, seconds: int) -> list[int]:
    counts = [0] * seconds
    for t in times:
        k = int(t - start_at)
        if t - start_at >= 0 and k < seconds:
            counts[k] += 1
    return counts


def test_a_fleet_rate_is_split_exactly_every_second(cluster, s3_client, s3_bucket, target):
    s3_client.put_object(Bucket=s3_bucket, Key="scenarios/caller.py", Body=CALLER)
    executors = [
        cluster.executor(n, "scenarios/caller.py", executor_id=f"rate-{n}", SALVO_DURATION="12s") for n in (11, 12, 13)
    ]
    for executor in executors:
        executor.wait_state("armed")
    controller = cluster.controller(
        "open-rate", expected=3, SALVO_FLEET_RATE="300", SALVO_CRITERIA="dropped==0; p99_intended<500ms"
    )
    assert controller.wait() == 0, controller.log()[-4000:]
    report = controller.report()
    start_at = report["start_at"]

    arrivals = target.stats()["arrivals"]
    assert sorted(arrivals) == ["rate-11", "rate-12", "rate-13"]
    seconds = 11  # the last second may be cut by the run's end
    shares = {executor_id: _per_second(times, start_at, seconds) for executor_id, times in arrivals.items()}
    fleet = [sum(share[k] for share in shares.values()) for k in range(seconds)]
    assert all(abs(count - 300) <= 3 for count in fleet[1:]), str(fleet)
    for executor_id, share in shares.items():
        assert all(abs(count - 100) <= 1 for count in share[1:]), f"{executor_id}: {share}"
    firsts = [min(times) for times in arrivals.values()]
    assert max(firsts) - min(firsts) <= 0.010, firsts

    totals = report["arrivals"]
    assert totals["planned"] == totals["sent"] == report["overall"]["requests"] == target.stats()["total"]
    assert totals["dropped"] == 0
    assert 12 * 300 - 3 <= totals["planned"] <= 12 * 300
