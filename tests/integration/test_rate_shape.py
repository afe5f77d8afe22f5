"""A locustfile's rate shape paces a fleet: real executors, bzt and locust on loopback, counted at the target.

Two executors at SALVO_FLEET_RATE=shape: each evaluates the locustfile's hook for the same seconds since start_at
and runs its exact share; the target sees the hook's rate in every one-second window. A hook that raises mid-run
ends the run, failed, with its one line in the verdict.
"""

from __future__ import annotations

import pytest

from tests.support.arrivals import kept_to_plan, per_second
from tests.support.cluster import Cluster

pytestmark = pytest.mark.integration

# A closed-model locustfile (a 5-10 s pause per user) with a rate shape beside it: 60 arrivals a second for the
# fleet for 3 s, 150 for 3 s, then none. Once the run has an id (not while the executor checks it), the failing
# variant raises at 2 s.
SHAPED = """
import os
from locust import HttpUser, between, task
from salvo import fleet
from salvo.rate import RateShape

class Caller(HttpUser):
    wait_time = between(5, 10)

    def on_start(self):
        self.client.headers["X-Salvo-Executor"] = os.environ["SALVO_EXECUTOR_ID"]

    @task
    def call(self):
        self.client.get("/timed/call")

class Steps(RateShape):
    def rate(self, run_time):
        if FAILS and fleet.run_id() and run_time >= 2:
            raise RuntimeError("the plan's spreadsheet is gone")
        if run_time < 3:
            return 60
        if run_time < 6:
            return 150
        return None
"""


@pytest.fixture
def cluster(tmp_path, aws_env, s3_bucket, s3_client, target):
    made = Cluster(tmp_path, aws_env, s3_bucket, target)
    yield made
    made.close()


def _arm(cluster, s3_client, s3_bucket, fails: bool, numbers: tuple[int, ...]) -> None:
    body = f"FAILS = {fails}\n" + SHAPED
    s3_client.put_object(Bucket=s3_bucket, Key="scenarios/shaped.py", Body=body.encode())
    executors = [
        cluster.executor(n, "scenarios/shaped.py", executor_id=f"shape-{n}", SALVO_DURATION="8s") for n in numbers
    ]
    for executor in executors:
        executor.wait_state("armed")


def test_a_rate_shape_sets_the_fleets_rate_every_second(cluster, s3_client, s3_bucket, target):
    _arm(cluster, s3_client, s3_bucket, False, (21, 22))
    controller = cluster.controller("shape-rate", expected=2, SALVO_FLEET_RATE="shape", SALVO_CRITERIA="dropped==0")
    assert controller.wait() == 0, controller.log()[-4000:]
    report = controller.report()
    start_at = report["start_at"]

    arrivals = target.stats()["arrivals"]
    assert sorted(arrivals) == ["shape-21", "shape-22"]
    seconds = 8
    shares = {executor_id: per_second(times, start_at, seconds) for executor_id, times in arrivals.items()}
    fleet = [sum(share[k] for share in shares.values()) for k in range(seconds)]
    plan = [60] * 3 + [150] * 3 + [0, 0]  # the hook's None ends the arrivals before the run's 8 s
    print(f"fleet per second {fleet}; per executor {shares}")
    assert kept_to_plan(fleet, plan, 2), str(fleet)
    for executor_id, share in shares.items():
        assert kept_to_plan(share, [planned // 2 for planned in plan], 1), f"{executor_id}: {share}"
    assert fleet[0] >= 58 and sum(fleet) == 630

    totals = report["arrivals"]
    assert totals["planned"] == totals["sent"] == report["overall"]["requests"] == 630
    assert totals["dropped"] == 0
    by_second = report["arrivals"]["per_second"]  # by wall-clock second, which start_at is not on
    assert sum(by_second["planned"]) == 630 and by_second["planned"] == by_second["sent"]


def test_a_rate_shape_that_raises_mid_run_fails_the_run_in_one_line(cluster, s3_client, s3_bucket, target):
    _arm(cluster, s3_client, s3_bucket, True, (23,))
    controller = cluster.controller("shape-fails", expected=1, SALVO_FLEET_RATE="shape")
    assert controller.wait() == 1, controller.log()[-4000:]
    report = controller.report()
    reasons = " / ".join(report["verdict_reasons"])
    print(reasons)
    assert (
        "the scenario ended the run: rate shape Steps: rate(2) raised RuntimeError: the plan's spreadsheet is gone"
        in reasons
    )
    assert "bzt exit code" not in reasons  # bzt exited 0: the reason is the scenario's own
    assert "Traceback" not in reasons
    totals = report["arrivals"]
    assert totals["planned"] == totals["sent"] == 120  # seconds 0 and 1, then the hook failed
