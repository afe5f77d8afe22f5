"""JMeter behind Salvo's start gate, for real: bzt, JMeter with the gate, executors and a controller on loopback.

JMeter comes from scripts/install-jmeter.sh (.ci/run installs it in /opt/salvo-jmeter;
SALVO_TEST_JMETER_HOME names another place).
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest

from tests.support.arrivals import kept_to_plan, per_second, step_time
from tests.support.bundles import zip_bytes
from tests.support.cluster import Cluster
from tests.support.jmeter import JMETER_HOME, require_jmeter

pytestmark = pytest.mark.integration

DEMO = Path(__file__).resolve().parents[2] / "demo" / "jmeter"


@pytest.fixture
def cluster(tmp_path, aws_env, s3_bucket, target):
    require_jmeter()
    made = Cluster(tmp_path, aws_env, s3_bucket, target)
    yield made
    made.close()


def jmeter_env() -> dict[str, str]:
    return {"PATH": f"{JMETER_HOME / 'bin'}:{os.environ['PATH']}", "SALVO_USERS": None, "SALVO_DURATION": None}


def dlt_bundle(target_url: str, concurrency: int, hold_for: str = "4s", jmx: str | None = None) -> bytes:
    """A DLT-style bundle: test.json (executor jmeter, concurrency, ramp-up, hold-for) and the demo plan."""
    host, port = target_url.rsplit("/", 1)[-1].split(":")
    plan = (DEMO / "test.jmx").read_text()  # names its executor in X-Salvo-Executor: salvo.executor_index
    test = {
        "execution": [
            {
                "executor": "jmeter",
                "concurrency": concurrency,
                "ramp-up": "0s",
                "hold-for": hold_for,
                "scenario": "demo",
            }
        ],
        "scenarios": {"demo": {"script": "test.jmx"}},
        "modules": {"jmeter": {"properties": {"target.host": host, "target.port": int(port)}}},
    }
    return zip_bytes(
        {
            "test.json": json.dumps(test),
            "test.jmx": jmx if jmx is not None else plan,
            "report.bin": (DEMO / "report.bin").read_bytes(),
        }
    )


def test_jmeter_fleet_starts_together_and_is_counted_exactly(cluster, s3_client, s3_bucket, target):
    s3_client.put_object(Bucket=s3_bucket, Key="scenarios/dlt.zip", Body=dlt_bundle(target.url, concurrency=5))
    executors = [cluster.executor(n, "scenarios/dlt.zip", executor_id=f"jm-{n}", **jmeter_env()) for n in (13, 14, 15)]
    for executor in executors:
        executor.wait_state("armed", timeout=120)
    controller = cluster.controller("jmeter-fleet", expected=3, SALVO_LOAD_MODE="fleet")
    assert controller.wait() == 0, controller.log()[-4000:]
    report = controller.report()
    seen = target.stats()
    assert report["verdict"] == "pass" and report["overall"]["requests"] == seen["total"] > 0
    assert sorted(seen["executors"]) == ["0", "1", "2"]  # the gate told each JMeter its place
    firsts = [entry["first"] for entry in seen["executors"].values()]
    assert all(first >= report["start_at"] - 0.002 for first in firsts), (firsts, report["start_at"])
    assert max(firsts) - min(firsts) <= 0.020, firsts
    shares = [report["executors"][f"jm-{n}"]["share"]["users"] for n in (13, 14, 15)]
    assert shares == [2, 2, 1]  # 5 threads split across the fleet
    labels = set(report["labels"])
    assert {"GET /", "POST /upload"} <= labels


def test_jmeter_runs_the_users_its_region_gives_it(cluster, s3_client, s3_bucket, target):
    """SALVO_REGION_WEIGHTS with JMeter: the GO line carries the weighted slot (the Java gate reads past it) and
    each JMeter runs the users it is given: 10 users at 60/40 over two us-east-1 executors and one eu-west-1."""
    s3_client.put_object(Bucket=s3_bucket, Key="scenarios/dlt.zip", Body=dlt_bundle(target.url, concurrency=1))
    regions = {20: "us-east-1", 21: "eu-west-1", 22: "us-east-1"}
    executors = [
        cluster.executor(n, "scenarios/dlt.zip", executor_id=f"jr-{n}", SALVO_REGION=region, **jmeter_env())
        for n, region in regions.items()
    ]
    for executor in executors:
        executor.wait_state("armed", timeout=120)
    controller = cluster.controller(
        "jmeter-regions",
        expected=3,
        SALVO_FLEET_USERS=10,
        SALVO_REGION_WEIGHTS="us-east-1:60,eu-west-1:40",
    )
    assert controller.wait() == 0, controller.log()[-4000:]
    report = controller.report()
    assert {e: entry["share"]["users"] for e, entry in report["executors"].items()} == {
        "jr-20": 3,
        "jr-21": 4,
        "jr-22": 3,
    }
    assert sorted(target.stats()["executors"]) == ["0", "1", "2"]  # every JMeter released and sending
    assert {region: row["executors"] for region, row in report["regions"].items()} == {"eu-west-1": 1, "us-east-1": 2}
    assert sum(row["requests"] for row in report["regions"].values()) == report["overall"]["requests"] > 0


def test_a_bad_jmx_is_refused_while_arming_with_jmeters_own_words(cluster, s3_client, s3_bucket, target):
    broken = (DEMO / "test.jmx").read_text().replace("TestAction", "NoSuchElementAnywhere")
    s3_client.put_object(
        Bucket=s3_bucket, Key="scenarios/bad.zip", Body=dlt_bundle(target.url, concurrency=1, jmx=broken)
    )
    executor = cluster.executor(16, "scenarios/bad.zip", executor_id="jm-bad", **jmeter_env())
    assert executor.process.wait(120) == 3
    log = executor.log_path.read_text()
    assert "NoSuchElementAnywhere" in log and "Traceback" not in log, log[-3000:]
    assert target.stats()["total"] == 0


def hostless_plan() -> str:
    """The demo plan with no host anywhere: its HTTP Request Defaults keep only the protocol."""
    plan = (DEMO / "test.jmx").read_text()
    for prop in (
        '<stringProp name="HTTPSampler.domain">${__P(target.host,target)}</stringProp>',
        '<stringProp name="HTTPSampler.port">${__P(target.port,8080)}</stringProp>',
    ):
        assert prop in plan
        plan = plan.replace(prop, "")
    return plan


def test_a_hostless_plan_sends_every_request_to_the_target_host(cluster, s3_client, s3_bucket, target):
    s3_client.put_object(
        Bucket=s3_bucket,
        Key="scenarios/hostless.zip",
        Body=dlt_bundle(target.url, concurrency=2, hold_for="3s", jmx=hostless_plan()),
    )
    executors = [cluster.executor(n, "scenarios/hostless.zip", executor_id=f"jh-{n}", **jmeter_env()) for n in (17, 18)]
    for executor in executors:  # the cluster gives them SALVO_TARGET_HOST=target.url
        executor.wait_state("armed", timeout=120)
    controller = cluster.controller("jmeter-hostless", expected=2, SALVO_LOAD_MODE="fleet")
    assert controller.wait() == 0, controller.log()[-4000:]
    report = controller.report()
    seen = target.stats()
    assert report["verdict"] == "pass" and report["overall"]["requests"] == seen["total"] > 0, (report["overall"], seen)
    assert report["overall"]["failures"] == 0 and not report["errors"], report["errors"]
    assert set(seen["paths"]) == {"/", "/upload"} and sorted(seen["executors"]) == ["0", "1"]
    for executor in executors:
        log = executor.log_path.read_text()
        assert "test.jmx: 2 HTTP sampler(s) name no host: they send to " + target.url in log, log[-3000:]


def test_a_hostless_plan_without_a_target_host_is_refused_before_armed(cluster, s3_client, s3_bucket, target):
    s3_client.put_object(
        Bucket=s3_bucket, Key="scenarios/nowhere.zip", Body=dlt_bundle(target.url, concurrency=1, jmx=hostless_plan())
    )
    executor = cluster.executor(
        19, "scenarios/nowhere.zip", executor_id="jh-none", SALVO_TARGET_HOST=None, **jmeter_env()
    )
    assert executor.process.wait(120) == 3
    log = executor.log_path.read_text()
    line = (
        "test.json: test.jmx: HTTP samplers name no host (GET /, POST /upload): set SALVO_TARGET_HOST, a host in "
        "the plan (sampler or HTTP Request Defaults), or default-address in the Taurus scenario"
    )
    assert line in log and "Traceback" not in log and "armed: listening" not in log, log[-3000:]
    assert target.stats()["total"] == 0


@pytest.mark.skipif(
    shutil.which("faketime") is None and not os.environ.get("SALVO_TEST_REQUIRE_FAKETIME"),
    reason="needs faketime (Debian package faketime)",
)
def test_two_jmeter_executors_with_shifted_clocks_start_together(cluster, s3_client, s3_bucket, target):
    """+250 ms and -250 ms (faketime, inherited by bzt and the JVM): corrected, first requests within 20 ms."""
    s3_client.put_object(Bucket=s3_bucket, Key="scenarios/clocks.zip", Body=dlt_bundle(target.url, concurrency=2))
    shifts = {"jc-1": 0.25, "jc-2": -0.25}
    executors = [
        cluster.executor(
            n,
            "scenarios/clocks.zip",
            executor_id=executor_id,
            prefix=["faketime", "-f", f"{shift:+g}s"],
            **jmeter_env(),
        )
        for n, (executor_id, shift) in zip((19, 20), shifts.items(), strict=True)
    ]
    for executor in executors:
        executor.wait_state("armed", timeout=120)
    controller = cluster.controller("jmeter-clocks", expected=2)
    assert controller.wait() == 0, controller.log()[-4000:]
    report = controller.report()
    for executor_id, shift in shifts.items():
        assert abs(report["executors"][executor_id]["clock"]["offset_ms"] - shift * 1000) <= 3
    seen = target.stats()
    firsts = [entry["first"] for entry in seen["executors"].values()]
    assert len(firsts) == 2 and max(firsts) - min(firsts) <= 0.020, firsts
    assert all(first >= report["start_at"] - 0.002 for first in firsts), (firsts, report["start_at"])
    assert report["overall"]["requests"] == seen["total"]


def test_jmeter_runs_its_share_of_a_fleet_rate_exactly_and_steps_at_once(cluster, s3_client, s3_bucket, target):
    """SALVO_FLEET_RATE=60:3s,120 over two JMeters for 6 s: the demo plan, written for the closed model (two requests
    and a 0.5-1.5 s think time an iteration), runs unchanged; each iteration is an arrival, released by the gate at
    this executor's planned times, its first request stamped by the target (/timed/); both step at once."""
    plan = (
        (DEMO / "test.jmx")
        .read_text()
        .replace(
            '<stringProp name="HTTPSampler.path">/</stringProp>',
            '<stringProp name="HTTPSampler.path">/timed/</stringProp>',
        )
    )
    bundle = dlt_bundle(target.url, concurrency=300, hold_for="6s", jmx=plan)  # 150 threads each: the pool
    s3_client.put_object(Bucket=s3_bucket, Key="scenarios/rate.zip", Body=bundle)
    executors = [cluster.executor(n, "scenarios/rate.zip", executor_id=f"jo-{n}", **jmeter_env()) for n in (23, 24)]
    for executor in executors:
        executor.wait_state("armed", timeout=120)
    controller = cluster.controller("jmeter-rate", expected=2, SALVO_FLEET_RATE="60:3s,120")
    assert controller.wait() == 0, controller.log()[-4000:]
    report = controller.report()
    start_at = report["start_at"]
    arrivals = target.stats()["arrivals"]
    assert sorted(arrivals) == ["0", "1"]
    shares = {index: per_second(times, start_at, 6) for index, times in arrivals.items()}
    fleet = [a + b for a, b in zip(*shares.values(), strict=True)]
    # executor i's first arrival is planned (i + 0.5) / 60 s after start_at (the two grids interleave)
    first = {index: min(times) - start_at - (int(index) + 0.5) / 60 for index, times in arrivals.items()}
    # every executor goes from 33 ms between its arrivals to 17 ms at start_at + 3 s
    steps = {index: step_time(times, start_at + 2, 0.025) - start_at - 3 for index, times in arrivals.items()}
    print(
        f"JMeter fleet per second {fleet}, per executor {shares}, report arrivals {report['arrivals']}; first "
        f"arrival after its plan (ms) { {k: round(v * 1000, 1) for k, v in first.items()} }, step after plan (ms) "
        f"{ {k: round(v * 1000, 1) for k, v in steps.items()} }"
    )
    planned = [60] * 3 + [120] * 3
    assert kept_to_plan(fleet, planned, 2), fleet
    assert all(kept_to_plan(share, [p // 2 for p in planned], 1) for share in shares.values()), shares
    # None early. The timer lets each arrival go on its planned instant; what follows is the thread's first request
    # building its HTTP client and connection: 17-66 ms here (2 cores, two JVMs), counted in p99_intended.
    assert all(0 <= late <= 0.100 for late in first.values()), first
    assert all(-0.050 <= step <= 0.050 for step in steps.values()), steps
    totals = report["arrivals"]
    assert totals["planned"] == totals["sent"] + totals["dropped"]
    assert 530 <= totals["planned"] <= 540 and totals["dropped"] <= 6, totals  # 3 s at 60/s, 3 s at 120/s
    assert report["labels"]["GET /"]["p99_intended"] >= report["labels"]["GET /"]["p99"]
