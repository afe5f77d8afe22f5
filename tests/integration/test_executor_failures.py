"""Every way an executor run can go wrong: the exit code and message, and that no load leaks."""

from __future__ import annotations

import contextlib
import json
import signal
import socket
import time

import pytest

from salvo.common.keys import ControllerKeys, generate_keypair
from salvo.common.protocol import Heartbeat, Start
from salvo.controller.link import ControllerLink
from tests.support.bundles import zip_bytes
from tests.support.executors import drive_run, start_executor, wait_for
from tests.support.keys import controller_keys, executor_env, executor_keys

pytestmark = pytest.mark.integration

LOCUSTFILE = """
import os
from locust import HttpUser, constant, task

class Visitor(HttpUser):
    wait_time = constant(0.1)

    @task
    def index(self):
        self.client.get("/", headers={"X-Salvo-Executor": os.environ["SALVO_EXECUTOR_ID"]})
"""

_hosts = iter(range(30, 250))


@pytest.fixture
def launch(tmp_path, aws_env, s3_bucket, s3_client, target):
    """Start an executor on its own loopback address with a scenario body; kill it afterwards."""
    started = []

    def _launch(key: str = "scenarios/test.py", body: bytes = LOCUSTFILE.encode(), **extra_env):
        s3_client.put_object(Bucket=s3_bucket, Key=key, Body=body)
        env = {"SALVO_USERS": "2", "SALVO_DURATION": "1s", "SALVO_TARGET_HOST": target.url}
        env.update({k: str(v) for k, v in extra_env.items()})
        executor = start_executor(
            tmp_path,
            aws_env,
            executor_id=f"exec-{len(started)}",
            host=f"127.0.1.{next(_hosts)}",
            scenario_uri=f"s3://{s3_bucket}/{key}",
            results_uri=f"s3://{s3_bucket}/results/",
            extra_env=env,
        )
        started.append(executor)
        return executor

    yield _launch
    for executor in started:
        executor.kill()


def controller_for(executor, keys=None) -> ControllerLink:
    link = ControllerLink(keys, command_port=executor.command_port, status_port=executor.status_port)
    link.add_executor(executor.host)
    return link


def summary_of(s3_client, bucket, run_id, executor_id) -> dict:
    body = s3_client.get_object(Bucket=bucket, Key=f"results/{run_id}/executors/{executor_id}/summary.json")["Body"]
    return json.loads(body.read())


def assert_still_obeys_a_valid_start(executor, link, run_id="after"):
    status = link.handshake(executor.host, timeout=5)
    assert status is not None and status.state.value == "armed", executor.log()[-2000:]
    assert link.wait_subscribed(1, timeout=10) >= 1
    codes = drive_run(link, [executor], Start(run_id=run_id, fleet=[executor.executor_id], start_at=time.time() + 0.5))
    assert codes == [0], executor.log()[-3000:]


# --- cannot fetch or arm: exit 3, one line naming the culprit ---------------------------------


def test_missing_scenario_object_exits_3_naming_bucket_and_key(tmp_path, aws_env, s3_bucket):
    executor = start_executor(
        tmp_path,
        aws_env,
        executor_id="nokey",
        host="127.0.1.21",
        scenario_uri=f"s3://{s3_bucket}/scenarios/absent.yml",
        results_uri=f"s3://{s3_bucket}/results/",
    )
    assert executor.wait_exit(60) == 3
    assert f"s3://{s3_bucket}/scenarios/absent.yml" in executor.log()
    assert "Traceback" not in executor.log()


@pytest.mark.parametrize(
    ("key", "body", "message"),
    [
        ("scenarios/evil.zip", zip_bytes({"../escape.py": b"x", "locustfile.py": LOCUSTFILE.encode()}), "escape.py"),
        (
            "scenarios/bomb.zip",
            zip_bytes({"locustfile.py": LOCUSTFILE.encode(), "zeros.bin": b"\0" * (40 << 20)}),
            "SALVO_BUNDLE_MAX_BYTES",
        ),
        ("scenarios/broken.yml", b"execution:\n  - executor: locust\n    scenario: [unclosed\n", "broken.yml"),
        ("scenarios/nousers.py", b"from locust import HttpUser\nprint('no user class here')\n", "no locust User class"),
    ],
    ids=["zip-traversal", "zip-bomb", "broken-yaml", "locustfile-without-users"],
)
def test_scenario_that_cannot_be_armed_exits_3(launch, key, body, message):
    executor = launch(key, body, SALVO_BUNDLE_MAX_BYTES=10 << 20)
    assert executor.wait_exit(90) == 3, executor.log()[-2000:]
    assert message in executor.log()
    assert "Traceback" not in executor.log()


# --- armed executors ignore what is not a valid start for them --------------------------------


def test_garbage_on_both_ports_is_ignored(launch, target):
    executor = launch()
    executor.wait_state("armed")
    for port in (executor.command_port, executor.status_port):
        for junk in (b"GET / HTTP/1.1\r\nHost: x\r\n\r\n", bytes(range(256)) * 4):
            with socket.create_connection((executor.host, port), timeout=5) as raw:
                raw.sendall(junk)
                raw.settimeout(2)
                with contextlib.suppress(TimeoutError, ConnectionResetError):
                    raw.recv(100)  # the peer answers with a ZMTP greeting or closes
    # a valid ZMTP peer sending an undecodable frame on the command link
    link = controller_for(executor)
    link.wait_subscribed(1, timeout=10)
    link.publisher.send(b"\xff not json")
    executor.wait_log("undecodable", timeout=10)
    assert executor.state() == "armed"
    assert target.stats()["total"] == 0
    assert_still_obeys_a_valid_start(executor, link)


def test_wrong_controller_key_cannot_start_the_executor(launch, target):
    executor = launch(**executor_env())
    executor.wait_state("armed")
    impostor = controller_for(executor, keys=ControllerKeys(generate_keypair(), executor_keys().own.public))
    assert impostor.handshake(executor.host, timeout=2) is None
    impostor.publish(Start(run_id="impostor", fleet=[executor.executor_id], start_at=time.time() + 0.3))
    executor.wait_log("authentication failed", timeout=10)
    impostor.close()
    assert executor.state() == "armed" and target.stats()["total"] == 0
    assert executor_env()["SALVO_EXECUTOR_SECRET_KEY"] not in executor.log()  # secrets never logged
    assert_still_obeys_a_valid_start(executor, controller_for(executor, keys=controller_keys()))


def test_start_for_another_fleet_is_ignored(launch, target):
    executor = launch()
    executor.wait_state("armed")
    link = controller_for(executor)
    link.wait_subscribed(1, timeout=10)
    link.publish(Start(run_id="not-ours", fleet=["somebody-else"], start_at=time.time() + 0.2))
    executor.wait_log("not in the run's fleet")
    assert executor.state() == "armed" and target.stats()["total"] == 0
    assert_still_obeys_a_valid_start(executor, link)


def test_stale_start_is_ignored(launch, target):
    executor = launch()
    executor.wait_state("armed")
    link = controller_for(executor)
    link.wait_subscribed(1, timeout=10)
    link.publish(Start(run_id="stale", fleet=[executor.executor_id], start_at=time.time() - 2))
    executor.wait_log("out of sync")
    assert executor.state() == "armed" and target.stats()["total"] == 0
    assert_still_obeys_a_valid_start(executor, link)


def test_duplicate_start_is_ignored(launch):
    executor = launch(SALVO_MODE="service", SALVO_DURATION="1s")
    executor.wait_state("armed")
    link = controller_for(executor)
    link.wait_subscribed(1, timeout=10)
    start = Start(run_id="once", fleet=[executor.executor_id], start_at=time.time() + 0.3)
    link.publish(start)
    wait_for(lambda: executor.state() == "done" or "re-arming" in executor.log(), 60, "the first run to end")
    executor.wait_state("armed")
    link.publish(start.model_copy(update={"start_at": time.time() + 0.3}))
    executor.wait_log("duplicate start")
    assert executor.state() == "armed"


# --- giving up: exit 4, never load ------------------------------------------------------------


def test_wait_timeout_exits_4_without_load(launch, target):
    executor = launch(SALVO_WAIT_TIMEOUT="1s")
    assert executor.wait_exit(90) == 4
    assert "SALVO_WAIT_TIMEOUT" in executor.log()
    assert target.stats()["total"] == 0


def test_kill_switch_stops_load_and_uploads(launch, s3_client, s3_bucket, target):
    executor = launch(SALVO_DURATION="60s", SALVO_KILL_SWITCH_TIMEOUT="2s")
    executor.wait_state("armed")
    link = controller_for(executor)
    link.wait_subscribed(1, timeout=10)
    link.publish(Start(run_id="silent", fleet=[executor.executor_id], start_at=time.time() + 0.3))
    link.publish(Heartbeat(run_id="silent"))  # then silence
    assert executor.wait_exit(60) == 4
    assert "kill switch" in executor.log()
    summary = summary_of(s3_client, s3_bucket, "silent", executor.executor_id)
    assert summary["exit_code"] == 4 and "kill switch" in summary["stop_reason"]
    assert summary["totals"]["requests"] == target.stats()["total"] > 0
    elapsed = summary["timings"]["ended_at"] - summary["timings"]["start_at"]
    assert elapsed < 20, elapsed  # far less than the 60 s the scenario asked for


def test_sigterm_mid_run_uploads_partial_results_and_exits_143(launch, s3_client, s3_bucket, target):
    executor = launch(SALVO_DURATION="60s")
    executor.wait_state("armed")
    link = controller_for(executor)
    link.wait_subscribed(1, timeout=10)
    link.publish(Start(run_id="cut", fleet=[executor.executor_id], start_at=time.time() + 0.3))
    wait_for(lambda: target.stats()["total"] >= 5, 30, "load to reach the target")
    executor.signal(signal.SIGTERM)
    assert executor.wait_exit(60) == 143
    summary = summary_of(s3_client, s3_bucket, "cut", executor.executor_id)
    assert summary["exit_code"] == 143
    assert summary["totals"]["requests"] == target.stats()["total"]
    keys = [o["Key"] for o in s3_client.list_objects_v2(Bucket=s3_bucket, Prefix="results/cut/")["Contents"]]
    assert any(k.endswith("kpi.jtl") for k in keys) and any(k.endswith("bzt.log") for k in keys)
