"""Regions with real executors, bzt and locust on loopback: SALVO_REGION per executor, SALVO_REGION_WEIGHTS on the
controller; the split is exact at an independent target, and the report has a table and a chart per region."""

from __future__ import annotations

import pytest

from tests.support.cluster import Cluster

pytestmark = pytest.mark.integration

PER_USER = b"""
import csv, os
from locust import HttpUser, constant, task
from salvo import fleet

rows_claimed = False

class Member(HttpUser):
    wait_time = constant(0.5)

    def on_start(self):
        global rows_claimed
        me = os.environ["SALVO_EXECUTOR_ID"]
        self.client.headers["X-Salvo-Executor"] = me
        self.client.get(f"/user/{me}")  # once per user
        if not rows_claimed:  # one user per executor walks this executor's rows
            rows_claimed = True
            with open(fleet.data_file(), newline="") as rows:
                for row in csv.DictReader(rows):
                    self.client.get(f"/row/{me}/{row['id']}")

    @task
    def browse(self):
        self.client.get("/browse")
"""

REGIONS = {28: "us-east-1", 29: "eu-west-1", 30: "us-east-1"}  # inside the scanned 127.0.2.0/27


@pytest.fixture
def cluster(tmp_path, aws_env, s3_bucket, s3_client, target):
    made = Cluster(tmp_path, aws_env, s3_bucket, target)
    yield made
    made.close()


def test_weights_split_users_and_rows_by_region_then_by_executor(cluster, s3_client, s3_bucket, target):
    s3_client.put_object(Bucket=s3_bucket, Key="scenarios/per-user.py", Body=PER_USER)
    s3_client.put_object(
        Bucket=s3_bucket, Key="data/customers.csv", Body=b"id\n" + b"".join(b"%d\n" % i for i in range(10))
    )
    executors = [
        cluster.executor(
            n,
            "scenarios/per-user.py",
            executor_id=f"region-{n}",
            SALVO_DURATION="3s",
            SALVO_USERS=None,
            SALVO_REGION=region,
            SALVO_DATA_URI=f"s3://{s3_bucket}/data/customers.csv",
        )
        for n, region in REGIONS.items()
    ]
    for executor in executors:
        executor.wait_state("armed")

    # A weighted region without an executor: refused before any load, in one line.
    refused = cluster.controller(
        "regions-refused",
        expected=3,
        SALVO_FLEET_USERS=10,
        SALVO_REGION_WEIGHTS="us-east-1:60,eu-west-1:30,ap-south-1:10",
    )
    assert refused.wait() == 3, refused.log()[-3000:]
    assert "gives load to ap-south-1, where no executor was found" in refused.log()
    assert "Traceback" not in refused.log()
    assert target.stats()["total"] == 0

    controller = cluster.controller(
        "regions-split",
        expected=3,
        SALVO_FLEET_USERS=10,
        SALVO_FLEET_SPAWN_RATE=100,
        SALVO_REGION_WEIGHTS="us-east-1:60,eu-west-1:40",
    )
    assert controller.wait() == 0, controller.log()[-4000:]

    paths = target.stats()["paths"]
    # 10 users: us-east-1 6 (3 + 3), eu-west-1 4; 10 rows the same way, each used once
    assert {p: n for p, n in paths.items() if p.startswith("/user/")} == {
        "/user/region-28": 3,
        "/user/region-29": 4,
        "/user/region-30": 3,
    }
    rows = sorted(p for p in paths if p.startswith("/row/"))
    assert sorted(p.rsplit("/", 1)[1] for p in rows) == [str(i) for i in range(10)]
    assert sum(1 for p in rows if p.startswith("/row/region-29/")) == 4
    assert sum(1 for p in rows if p.startswith("/row/region-28/")) == 3

    report = controller.report()
    shares = {executor_id: entry["share"] for executor_id, entry in report["executors"].items()}
    assert {e: (s["users"], s["rows"]) for e, s in shares.items()} == {
        "region-28": (3, 3),
        "region-29": (4, 4),
        "region-30": (3, 3),
    }
    assert {e: entry["region"] for e, entry in report["executors"].items()} == {
        f"region-{n}": region for n, region in REGIONS.items()
    }
    assert report["fleet_load"]["region_weights"] == {"us-east-1": 60, "eu-west-1": 40}

    regions = report["regions"]
    assert sorted(regions) == ["eu-west-1", "us-east-1"]
    assert regions["us-east-1"]["executors"] == 2 and regions["eu-west-1"]["executors"] == 1
    per_executor = report["per_executor"]
    assert (
        regions["us-east-1"]["requests"]
        == per_executor["region-28"]["requests"] + per_executor["region-30"]["requests"]
    )
    assert regions["eu-west-1"]["requests"] == per_executor["region-29"]["requests"]
    assert sum(r["requests"] for r in regions.values()) == report["overall"]["requests"] == target.stats()["total"]
    for row in regions.values():
        assert {"rps", "p50", "p95", "p99", "error_rate"} <= set(row) and row["error_rate"] == 0

    html = (controller.report_dir / "report.html").read_text()
    assert 'id="regions"' in html and 'id="chart-regions"' in html and "eu-west-1" in html
    assert "region (executors)" in controller.log()
