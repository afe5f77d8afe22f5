"""Open-model load with real executors, bzt and locust on loopback, measured at an independent target.

A fleet-wide rate is split exactly across three executors in every second; a target
that stops answering for a while shows in the latency timed from the intended send
time and not in the service time, and arrivals no user could take are counted.
"""

from __future__ import annotations

import time

import pytest

from tests.support.arrivals import kept_to_plan, per_second, step_time
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


def test_a_fleet_rate_is_split_exactly_every_second_and_steps_at_once(cluster, s3_client, s3_bucket, target):
    """SALVO_FLEET_RATE=150:6s,300: 150 a second for 6 s, then 300, over three executors."""
    s3_client.put_object(Bucket=s3_bucket, Key="scenarios/caller.py", Body=CALLER)
    executors = [
        cluster.executor(n, "scenarios/caller.py", executor_id=f"rate-{n}", SALVO_DURATION="12s") for n in (11, 12, 13)
    ]
    for executor in executors:
        executor.wait_state("armed")
    controller = cluster.controller(
        "open-rate", expected=3, SALVO_FLEET_RATE="150:6s,300", SALVO_CRITERIA="dropped==0; p99_intended<500ms"
    )
    assert controller.wait() == 0, controller.log()[-4000:]
    report = controller.report()
    start_at = report["start_at"]

    arrivals = target.stats()["arrivals"]
    assert sorted(arrivals) == ["rate-11", "rate-12", "rate-13"]
    seconds = 11  # the last second may be cut by the run's end
    shares = {executor_id: per_second(times, start_at, seconds) for executor_id, times in arrivals.items()}
    fleet = [sum(share[k] for share in shares.values()) for k in range(seconds)]
    plan = [150] * 6 + [300] * 5
    assert kept_to_plan(fleet, plan, 3), str(fleet)
    for executor_id, share in shares.items():
        assert kept_to_plan(share, [planned // 3 for planned in plan], 1), f"{executor_id}: {share}"
    # Each executor's first arrival is planned (i + 0.5) / 3 of its 20 ms spacing after start_at (the fleet's
    # grids interleave): none came early, and they came equally late, within 10 ms of each other (the first
    # request opens its connection; on a busy machine that is several ms).
    late = {f"rate-{11 + i}": min(arrivals[f"rate-{11 + i}"]) - start_at - (i + 0.5) / 150 for i in range(3)}
    assert all(0 <= lateness <= 0.050 for lateness in late.values()), late
    assert max(late.values()) - min(late.values()) <= 0.010, late
    # every executor goes from 20 ms between its arrivals to 10 ms at start_at + 6 s
    steps = {
        executor_id: step_time(times, start_at + 5, 0.015) - start_at - 6 for executor_id, times in arrivals.items()
    }
    print(
        f"fleet per second {fleet}; first arrival after its plan (ms) "
        f"{ {k: round(v * 1000, 1) for k, v in late.items()} }; step after plan (ms) "
        f"{ {k: round(v * 1000, 1) for k, v in steps.items()} }"
    )
    assert all(-0.050 <= step <= 0.050 for step in steps.values()), steps

    totals = report["arrivals"]
    assert totals["planned"] == totals["sent"] == report["overall"]["requests"] == target.stats()["total"]
    assert totals["dropped"] == 0
    assert totals["planned"] == 6 * 150 + 6 * 300


def test_a_stalled_target_shows_in_the_intended_latency_and_dropped_arrivals_are_counted(
    cluster, s3_client, s3_bucket, target
):
    """100 arrivals a second (at Poisson times) on one executor whose pool may hold 3 users; the target stops
    answering for 2 s.

    Arrivals keep their schedule: the first ones of the stall take the 3 users, the next wait for one, those
    that waited longer than SALVO_MAX_LATENESS=1.2 s are dropped, and the rest go out in a burst when the
    target answers again, late by up to 1.2 s, and are timed from their intended send time. (With a stall of
    only 1 s, no arrival could be 1 s late: the corrected p99 would stay just below 1,000 ms.)"""
    s3_client.put_object(Bucket=s3_bucket, Key="scenarios/caller.py", Body=CALLER)
    executor = cluster.executor(
        14,
        "scenarios/caller.py",
        executor_id="stall-14",
        SALVO_DURATION="8s",
        SALVO_USERS=None,
        SALVO_RATE="100",
        SALVO_MAX_USERS="3",
        SALVO_MAX_LATENESS="1.2s",
        SALVO_ARRIVALS="poisson",  # random times inside each second: still exactly 100 in each
    )
    executor.wait_state("armed")
    controller = cluster.controller(
        "open-stall", expected=1, SALVO_CRITERIA="dropped<0.1%; p99<1s", SALVO_RATE_TOLERANCE="5%"
    )
    deadline = time.monotonic() + 60
    while not (arrivals := target.stats()["arrivals"]) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert arrivals, controller.log()[-3000:]
    stall_at = min(arrivals["stall-14"]) + 3.0
    target.stall(stall_at, 2.0)
    assert controller.wait() == 1, controller.log()[-4000:]
    report = controller.report()

    overall, totals = report["overall"], report["arrivals"]
    print(f"p99 {overall['p99']} ms, p99_intended {overall['p99_intended']} ms, arrivals {totals}")
    assert overall["p99_intended"] >= 1000 > overall["p99"], overall
    assert totals["planned"] == totals["sent"] + totals["dropped"]
    assert 50 <= totals["dropped"] <= 110, totals  # those of the stall's first ~0.8 s, less the 3 users took
    assert totals["sent"] == overall["requests"] == target.stats()["total"]
    seconds = report["arrivals"]["per_second"]
    columns = zip(seconds["planned"], seconds["sent"], seconds["dropped"], strict=True)
    assert all(planned == sent + dropped for planned, sent, dropped in columns)
    # 100 in each second of the run; the report counts by wall-clock second, which Poisson times straddle
    assert sum(seconds["planned"]) == totals["planned"] == 800, seconds

    times = sorted(target.stats()["arrivals"]["stall-14"])
    burst = [t for t in times if stall_at + 2.0 <= t < stall_at + 2.1]
    assert len(burst) >= 30, burst  # those waiting for a user, sent as soon as the users were free

    reasons = " / ".join(report["verdict_reasons"])
    assert "criterion dropped<0.1%: FAIL" in reasons and "criterion p99<1s: pass" not in reasons
    assert "achieved rate short of plan" in reasons and "SALVO_RATE_TOLERANCE=5%" in reasons
