"""AWS DLT's test.json, byte for byte as DLT stores it, run unchanged on two executors behind Salvo's gate.

Each run: exit 0, the merged count equal to what the target counted, and DLT's
results.xml (its reporting block's dump-xml) uploaded with every executor's
results, in the form DLT's results parser reads (FinalStatus, TestDuration,
Group per label), its counts summing to the target's too.
"""

from __future__ import annotations

import xml.etree.ElementTree as ElementTree

import pytest

from tests.integration.test_jmeter_run import DEMO, hostless_plan, jmeter_env
from tests.support.bundles import zip_bytes
from tests.support.cluster import Cluster
from tests.support.dlt import dlt_request, dlt_test_json
from tests.support.jmeter import require_jmeter

pytestmark = pytest.mark.integration

# A locust script as DLT users upload them: no host of its own (SALVO_TARGET_HOST gives it, as DLT's URL would).
DLT_LOCUSTFILE = b"""from locust import HttpUser, constant, task


class Shopper(HttpUser):
    wait_time = constant(0.05)

    @task
    def browse(self):
        self.client.get("/dlt/browse")
"""
JSON_BODY = '{"sku": "a\\"b", "qty": 2}'


@pytest.fixture
def cluster(tmp_path, aws_env, s3_bucket, target):
    made = Cluster(tmp_path, aws_env, s3_bucket, target)
    yield made
    made.close()


@pytest.fixture
def jmeter_cluster(tmp_path, aws_env, s3_bucket, target):
    """A cluster whose executors can run JMeter with Salvo's gate (as tests/integration/test_jmeter_run.py's)."""
    require_jmeter()
    made = Cluster(tmp_path, aws_env, s3_bucket, target)
    yield made
    made.close()


def run_two(cluster: Cluster, key: str, run_id: str, hosts: tuple[int, int], **env) -> dict:
    executors = [cluster.executor(n, key, executor_id=f"dlt-{n}", **env) for n in hosts]
    for executor in executors:
        executor.wait_state("armed", timeout=120)
        assert "load tool held at the start gate" in executor.log()
        assert "results.xml is written as results.xml in the run's artifacts" in executor.log()
    controller = cluster.controller(run_id, expected=2)
    assert controller.wait() == 0, controller.log()[-4000:]
    for executor in executors:
        assert "FileNotFoundError" not in executor.log() and "Traceback" not in executor.log()
    return controller.report()


def results_xml_count(s3_client, bucket: str, run_id: str, hosts: tuple[int, int]) -> int:
    """The requests DLT's results parser would count from the results.xml each executor uploaded."""
    count = 0
    for n in hosts:
        key = f"results/{run_id}/executors/dlt-{n}/results.xml"
        root = ElementTree.fromstring(s3_client.get_object(Bucket=bucket, Key=key)["Body"].read())
        assert root.tag == "FinalStatus" and float(root.findtext("TestDuration")) > 0  # test-duration: true
        groups = {group.get("label"): group for group in root.findall("Group")}
        assert len(groups) >= 2 and "" in groups  # per label (summary-labels) and all labels
        assert groups[""].find("perc[@param='95.0']") is not None and groups[""].find("rc[@param='200']") is not None
        count += int(groups[""].find("throughput").get("value"))
    return count


def test_dlt_locust_script_test_runs_unchanged_on_two_executors(cluster, s3_client, s3_bucket, target):
    test_json = dlt_test_json("shop smoke", executor="locust", script="ABCDE12345.py", concurrency=2, task_count=2)
    s3_client.put_object(
        Bucket=s3_bucket,
        Key="scenarios/dlt-locust.zip",
        Body=zip_bytes({"test.json": test_json, "ABCDE12345.py": DLT_LOCUSTFILE}),
    )
    report = run_two(cluster, "scenarios/dlt-locust.zip", "dlt-locust", (24, 25), SALVO_USERS=None, SALVO_DURATION=None)
    seen = target.stats()
    assert report["verdict"] == "pass" and report["overall"]["requests"] == seen["total"] > 0
    assert seen["paths"] == {"/dlt/browse": seen["total"]}
    assert results_xml_count(s3_client, s3_bucket, "dlt-locust", (24, 25)) == seen["total"]


def test_dlt_http_endpoint_requests_run_gated_on_locust(cluster, s3_client, s3_bucket, target):
    requests = [
        dlt_request(f"{target.url}/dlt/orders", "POST", {"Content-Type": "application/json"}, JSON_BODY),
        dlt_request(f"{target.url}/dlt/orders?page=1"),
    ]
    test_json = dlt_test_json("api smoke", executor="locust", requests=requests, concurrency=2, task_count=2)
    s3_client.put_object(Bucket=s3_bucket, Key="scenarios/dlt-requests.json", Body=test_json)
    report = run_two(
        cluster, "scenarios/dlt-requests.json", "dlt-requests", (26, 27), SALVO_USERS=None, SALVO_DURATION=None
    )
    seen = target.stats()
    assert report["verdict"] == "pass" and report["overall"]["requests"] == seen["total"] > 0
    assert set(seen["paths"]) == {"/dlt/orders"}
    assert results_xml_count(s3_client, s3_bucket, "dlt-requests", (26, 27)) == seen["total"]


def test_dlt_simple_http_endpoint_test_runs_on_two_jmeter_executors(jmeter_cluster, s3_client, s3_bucket, target):
    requests = [dlt_request(f"{target.url}/dlt/simple", "POST", {"Content-Type": "application/json"}, JSON_BODY)]
    test_json = dlt_test_json("simple smoke", requests=requests, concurrency=2, task_count=2)  # no executor: JMeter
    s3_client.put_object(Bucket=s3_bucket, Key="scenarios/dlt-simple.json", Body=test_json)
    # No think time: threads are in flight as the duration ends, and none may fail (the default criterion)
    report = run_two(jmeter_cluster, "scenarios/dlt-simple.json", "dlt-simple", (28, 29), **jmeter_env())
    seen = target.stats()
    assert report["verdict"] == "pass" and report["overall"]["requests"] == seen["total"] > 0
    assert seen["paths"] == {"/dlt/simple": seen["total"]}
    assert results_xml_count(s3_client, s3_bucket, "dlt-simple", (28, 29)) == seen["total"]


def test_dlt_jmeter_script_test_runs_unchanged_on_two_jmeter_executors(jmeter_cluster, s3_client, s3_bucket, target):
    test_json = dlt_test_json("plan smoke", executor="jmeter", script="ABCDE12345.jmx", concurrency=2, task_count=2)
    bundle = zip_bytes(
        {
            "test.json": test_json,
            "ABCDE12345.jmx": hostless_plan(),  # the target host: SALVO_TARGET_HOST
            "report.bin": (DEMO / "report.bin").read_bytes(),
        }
    )
    s3_client.put_object(Bucket=s3_bucket, Key="scenarios/dlt-jmeter.zip", Body=bundle)
    report = run_two(
        jmeter_cluster,
        "scenarios/dlt-jmeter.zip",
        "dlt-jmeter",
        (20, 21),
        **jmeter_env(),
    )
    seen = target.stats()
    assert report["verdict"] == "pass" and report["overall"]["requests"] == seen["total"] > 0
    assert set(seen["paths"]) == {"/", "/upload"}
    assert results_xml_count(s3_client, s3_bucket, "dlt-jmeter", (20, 21)) == seen["total"]
