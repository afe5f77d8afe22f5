"""SALVO_METRICS_PORT: a real controller, two real executors (bzt + locust), scraped while the load runs.

The scrapes are parsed with prometheus_client's own parser, as a Prometheus
server would read them. Executors on 127.0.2.x (tests.support.cluster).
"""

from __future__ import annotations

import socket
import urllib.error
import urllib.request

import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.support.cluster import Cluster
from tests.support.executors import free_port, wait_for

pytestmark = pytest.mark.integration

LOCUSTFILE = """
from locust import FastHttpUser, constant, task

class Visitor(FastHttpUser):
    wait_time = constant(0.1)

    @task(3)
    def index(self):
        self.client.get("/")

    @task(1)
    def about(self):
        self.client.get("/about")
"""


@pytest.fixture
def cluster(tmp_path, aws_env, s3_bucket, s3_client, target):
    s3_client.put_object(Bucket=s3_bucket, Key="scenarios/labels.py", Body=LOCUSTFILE.encode())
    made = Cluster(tmp_path, aws_env, s3_bucket, target)
    yield made
    made.close()


def scrape(port: int) -> dict[tuple, float] | None:
    """{(sample name, sorted (label, value) pairs without run_id): value}; None while nothing listens."""
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as response:
            text = response.read().decode()
    except (urllib.error.URLError, ConnectionError):
        return None
    found = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            labels = dict(sample.labels)
            if family.name.startswith("salvo_"):
                assert labels.pop("run_id") == "scraped"
            found[(sample.name, tuple(sorted(labels.items())))] = sample.value
    return found


def value(found: dict, name: str, **labels: str) -> float | None:
    return found.get((name, tuple(sorted(labels.items()))))


def test_metrics_are_scraped_during_a_real_run(cluster):
    executors = [cluster.executor(n, "scenarios/labels.py", SALVO_DURATION="8s") for n in (21, 22)]
    for executor in executors:
        executor.wait_state("armed")
    port = free_port()
    controller = cluster.controller("scraped", expected=2, SALVO_METRICS_PORT=port, SALVO_METRICS_BIND="127.0.0.1")

    def watching_with_requests():
        found = scrape(port)
        if found and value(found, "salvo_run_state", state="watch") == 1 and value(found, "salvo_requests_total"):
            return found
        return None

    first = wait_for(watching_with_requests, 90, "a scrape in the watch phase with requests counted", interval=0.2)
    assert [value(first, "salvo_executors", state=s) for s in ("active", "lost", "finished")] == [2, 0, 0]
    assert value(first, "salvo_start_time_seconds") > 1.7e9

    def grown():
        found = scrape(port)
        return found if found and value(found, "salvo_requests_total") > value(first, "salvo_requests_total") else None

    later = wait_for(grown, 30, "the request counter to grow", interval=0.2)

    def per_label_quantiles():
        found = scrape(port)
        wanted = [
            value(found or {}, "salvo_label_latency_seconds", label=label, quantile="0.95") for label in ("/", "/about")
        ]
        return found if all(v is not None for v in wanted) and value(found, "salvo_users") == 4 else None

    labelled = wait_for(per_label_quantiles, 30, "per-label quantiles of both labels and 4 users", interval=0.2)
    assert 0 < value(labelled, "salvo_label_latency_seconds", label="/", quantile="0.95") < 2
    assert value(labelled, "salvo_requests_per_second") > 0
    assert (
        value(later, "salvo_label_requests_total", label="/")
        >= value(later, "salvo_label_requests_total", label="/about")
        > 0
    )

    assert controller.wait() == 0, controller.log()[-4000:]
    report = controller.report()
    assert value(labelled, "salvo_requests_total") <= report["overall"]["requests"]
    assert "Prometheus metrics at http://127.0.0.1:" in controller.log()
    with pytest.raises(ConnectionRefusedError):  # the endpoint ends with the controller
        socket.create_connection(("127.0.0.1", port), timeout=2).close()


def test_a_taken_metrics_port_is_exit_2_before_any_load(cluster):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        controller = cluster.controller("taken", expected=1, SALVO_METRICS_PORT=port, SALVO_METRICS_BIND="127.0.0.1")
        assert controller.wait(60) == 2
    output = controller.log()
    assert "Traceback" not in output and "looking for executors" not in output
    (line,) = [line for line in output.splitlines() if f"SALVO_METRICS_PORT={port}" in line]
    assert line.startswith("salvo: ") and "choose a free port" in line
