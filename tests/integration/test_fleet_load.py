"""Fleet-wide load with real executors, bzt and locust on loopback, measured at an independent target.

The fleet's users are split 3/2/2, each executor learns its index before its first
user starts, the data file's rows are used once each across the fleet, and one
LoadTestShape steps the whole fleet at the same second.
"""

from __future__ import annotations

import pytest

from tests.support.cluster import Cluster

pytestmark = pytest.mark.integration

SLICES = b"""
import csv, os
from locust import HttpUser, constant, task
from salvo import fleet

rows_claimed = False

class Member(HttpUser):
    wait_time = constant(0.5)

    def on_start(self):
        global rows_claimed
        self.client.headers["X-Salvo-Executor"] = os.environ["SALVO_EXECUTOR_ID"]
        self.client.get(f"/slice/{fleet.index()}-of-{fleet.size()}")  # once per user
        if not rows_claimed:  # one user per executor walks this executor's rows
            rows_claimed = True
            with open(fleet.data_file(), newline="") as rows:
                for row in csv.DictReader(rows):
                    self.client.get(f"/row/{row['id']}")

    @task
    def browse(self):
        self.client.get("/browse")
"""

STEP_SHAPE = b'''
import os
from locust import HttpUser, LoadTestShape, constant_pacing, task

class Visitor(HttpUser):
    wait_time = constant_pacing(0.5)

    def on_start(self):
        self.client.headers["X-Salvo-Executor"] = os.environ["SALVO_EXECUTOR_ID"]

    @task
    def visit(self):
        self.client.get("/timed/visit")

class Step(LoadTestShape):
    """The fleet's users: 10, then 40 from t = 20 s, until 26 s."""

    def tick(self):
        run_time = self.get_run_time()
        if run_time >= 26:
            return None
        return (10 if run_time < 20 else 40, 200)
'''


@pytest.fixture
def cluster(tmp_path, aws_env, s3_bucket, s3_client, target):
    made = Cluster(tmp_path, aws_env, s3_bucket, target)
    yield made
    made.close()


def test_fleet_users_and_data_rows_are_split_across_the_fleet(cluster, s3_client, s3_bucket, target):
    s3_client.put_object(Bucket=s3_bucket, Key="scenarios/slices.py", Body=SLICES)
    s3_client.put_object(
        Bucket=s3_bucket,
        Key="data/customers.csv",
        Body=b"id,name\n" + b"".join(b"%d,customer %d\n" % (i, i) for i in range(9)),
    )
    executors = [
        cluster.executor(
            n,
            "scenarios/slices.py",
            executor_id=f"fleet-{n}",
            SALVO_DURATION="3s",
            SALVO_DATA_URI=f"s3://{s3_bucket}/data/customers.csv",
        )
        for n in (21, 22, 23)
    ]
    for executor in executors:
        executor.wait_state("armed")
    # Every executor here has SALVO_USERS=2 from the cluster's defaults: with a fleet total that clashes.
    refused = cluster.controller("fleet-refused", expected=3, SALVO_FLEET_USERS=7)
    assert refused.wait() == 2, refused.log()[-3000:]
    assert "SALVO_USERS on executor(s) fleet-21, fleet-22, fleet-23" in refused.log()
    assert target.stats()["total"] == 0  # refused before any load
    for executor in executors:
        executor.kill()
    executors = [
        cluster.executor(
            n,
            "scenarios/slices.py",
            executor_id=f"fleet-{n}",
            SALVO_DURATION="3s",
            SALVO_DATA_URI=f"s3://{s3_bucket}/data/customers.csv",
            SALVO_USERS=None,
        )
        for n in (21, 22, 23)
    ]
    for executor in executors:
        executor.wait_state("armed")
    controller = cluster.controller("fleet-split", expected=3, SALVO_FLEET_USERS=7, SALVO_FLEET_SPAWN_RATE=70)
    assert controller.wait() == 0, controller.log()[-4000:]

    paths = target.stats()["paths"]
    assert {p: n for p, n in paths.items() if p.startswith("/slice/")} == {
        "/slice/0-of-3": 3,
        "/slice/1-of-3": 2,
        "/slice/2-of-3": 2,
    }
    assert {p: n for p, n in paths.items() if p.startswith("/row/")} == {f"/row/{i}": 1 for i in range(9)}
    report = controller.report()
    shares = {executor_id: entry["share"] for executor_id, entry in report["executors"].items()}
    assert [(shares[f"fleet-{n}"]["users"], shares[f"fleet-{n}"]["rows"]) for n in (21, 22, 23)] == [
        (3, 3),
        (2, 3),
        (2, 3),
    ]
    assert report["fleet_load"] == {
        "mode": "fleet",
        "users": 7,
        "spawn_rate": 70.0,
        "executors": 3,
        "data_rows": 9,
        "region_weights": None,
    }
    assert report["overall"]["requests"] == target.stats()["total"]


def test_one_load_shape_steps_the_whole_fleet_at_the_same_second(cluster, s3_client, s3_bucket, target):
    s3_client.put_object(Bucket=s3_bucket, Key="scenarios/step.py", Body=STEP_SHAPE)
    executors = [
        cluster.executor(n, "scenarios/step.py", executor_id=f"shape-{n}", SALVO_DURATION="60s", SALVO_USERS=None)
        for n in (24, 25, 26, 27)
    ]
    for executor in executors:
        executor.wait_state("armed")
    controller = cluster.controller("fleet-shape", expected=4, SALVO_LOAD_MODE="fleet")
    assert controller.wait() == 0, controller.log()[-4000:]
    start_at = controller.report()["start_at"]

    arrivals = target.stats()["arrivals"]
    assert sorted(arrivals) == [f"shape-{n}" for n in (24, 25, 26, 27)]
    steps = {}
    for executor_id, times in arrivals.items():
        offsets = sorted(t - start_at for t in times)
        before = sum(1 for t in offsets if 12 <= t < 18) / 6  # requests a second on 10 fleet users
        after = sum(1 for t in offsets if 22 <= t < 25) / 3  # ... and on 40
        # every executor runs its share: 10 users are 3/3/2/2, 40 are 10 each, at 2 requests a user a second
        assert before == pytest.approx(2 * (3 if executor_id in ("shape-24", "shape-25") else 2), abs=1.0)
        assert after == pytest.approx(20, abs=2.5)
        steps[executor_id] = _step_time(offsets, threshold=(before + after) / 2)
    assert all(19.0 <= t <= 21.5 for t in steps.values()), steps
    assert max(steps.values()) - min(steps.values()) <= 1.0, steps


def _step_time(offsets: list[float], threshold: float, window: float = 0.5) -> float:
    """The first moment from which the request rate over the next second reaches `threshold`."""
    for i, t in enumerate(offsets):
        if t < 15:
            continue
        in_next_second = sum(1 for u in offsets[i : i + 200] if u < t + 1.0)
        if in_next_second >= threshold:
            return t
    raise AssertionError(f"no step to {threshold} requests a second")


def test_a_missing_data_file_is_exit_3_while_arming(cluster, s3_client, s3_bucket, target):
    s3_client.put_object(Bucket=s3_bucket, Key="scenarios/slices.py", Body=SLICES)
    executor = cluster.executor(28, "scenarios/slices.py", SALVO_DATA_URI=f"s3://{s3_bucket}/data/nowhere.csv")
    assert executor.process.wait(60) == 3
    log = executor.log_path.read_text()
    assert f"data file s3://{s3_bucket}/data/nowhere.csv not found" in log and "SALVO_DATA_URI" in log
    assert "Traceback" not in log
