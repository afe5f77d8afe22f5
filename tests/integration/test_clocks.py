"""Executors whose clocks disagree (Debian's faketime shifts one process's clock, and its children's): the
controller measures each offset, each executor starts at the controller's instant, and an independent target
(which reads the real clock) sees their first requests together."""

from __future__ import annotations

import os
import shutil

import pytest

from tests.support.cluster import Cluster

pytestmark = [
    pytest.mark.integration,
    # .ci/run installs it and requires these tests (SALVO_TEST_REQUIRE_FAKETIME): there a missing faketime fails
    pytest.mark.skipif(
        shutil.which("faketime") is None and not os.environ.get("SALVO_TEST_REQUIRE_FAKETIME"),
        reason="needs faketime (Debian package faketime)",
    ),
]

TIMED = b"""
import os
from locust import FastHttpUser, constant, task


class Timed(FastHttpUser):
    wait_time = constant(0.2)

    @task
    def timed(self):
        self.client.get("/timed/clock", headers={"X-Salvo-Executor": os.environ["SALVO_EXECUTOR_ID"]})
"""


def shifted(seconds: float) -> list[str]:
    return ["faketime", "-f", f"{seconds:+g}s"] if seconds else []


@pytest.fixture
def cluster(tmp_path, aws_env, s3_bucket, s3_client, target):
    s3_client.put_object(Bucket=s3_bucket, Key="scenarios/timed.py", Body=TIMED)
    made = Cluster(tmp_path, aws_env, s3_bucket, target)
    yield made
    made.close()


def first_arrivals(target) -> dict[str, float]:
    return {executor: min(times) for executor, times in target.stats()["arrivals"].items()}


def test_three_shifted_clocks_start_together_at_the_target(cluster, target):
    shifts = {"node-1": 0.4, "node-2": -0.3, "node-3": 0.0}
    for number, (executor_id, shift) in enumerate(shifts.items(), start=1):
        cluster.executor(
            number,
            scenario_key="scenarios/timed.py",
            executor_id=executor_id,
            prefix=shifted(shift),
            SALVO_USERS=2,
            SALVO_SPAWN_RATE=100,
            SALVO_DURATION="3s",
        )
    for executor in cluster.executors:
        executor.wait_state("armed")
    controller = cluster.controller("clocks", expected=3)
    assert controller.wait() == 0, controller.log()[-4000:]
    report = controller.report()
    for executor_id, shift in shifts.items():
        measured = report["executors"][executor_id]["clock"]["offset_ms"]
        assert abs(measured - shift * 1000) <= 3, (executor_id, measured)
    assert report["clocks"]["max_offset_executor"] == "node-1" and "corrected" in report["clocks"]["line"]
    firsts = first_arrivals(target)
    assert sorted(firsts) == sorted(shifts)
    spread_ms = (max(firsts.values()) - min(firsts.values())) * 1000
    print(f"measured {report['clocks']['line']}; first requests at the target within {spread_ms:.1f} ms")
    assert spread_ms <= 10, firsts
    # the report's own start figures, in the controller's time, agree with the target
    assert report["start_skew_ms"] is not None and report["start_skew_ms"] <= 10


def test_a_clock_five_seconds_off_is_left_out_unless_the_limit_allows_it(cluster, target):
    cluster.executor(
        1,
        scenario_key="scenarios/timed.py",
        executor_id="node-1",
        SALVO_MODE="service",
        SALVO_USERS=1,
        SALVO_DURATION="2s",
    )
    cluster.executor(
        2,
        scenario_key="scenarios/timed.py",
        executor_id="node-2",
        prefix=shifted(5.0),
        SALVO_MODE="service",
        SALVO_USERS=1,
        SALVO_DURATION="2s",
    )
    for executor in cluster.executors:
        executor.wait_state("armed")
    refused = cluster.controller("far-off", expected=2, SALVO_DISCOVERY_TIMEOUT="10s")
    assert refused.wait() == 3
    line = next(line for line in refused.log().splitlines() if line.startswith("salvo:"))
    assert "node-2" in line and "its clock is +500" in line and "SALVO_MAX_CLOCK_OFFSET=2s" in line
    assert target.stats()["total"] == 0  # refused before any load
    for executor in cluster.executors:
        executor.wait_state("armed")
    allowed = cluster.controller("far-off-allowed", expected=2, SALVO_MAX_CLOCK_OFFSET="6s")
    assert allowed.wait() == 0, allowed.log()[-4000:]
    assert abs(allowed.report()["executors"]["node-2"]["clock"]["offset_ms"] - 5000) <= 3
    firsts = first_arrivals(target)
    assert (max(firsts.values()) - min(firsts.values())) * 1000 <= 20, firsts
