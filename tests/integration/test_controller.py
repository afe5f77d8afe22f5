"""The controller end to end on loopback: scan a /27, start five executors, merge, judge."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.support.executors import REPO, free_port, start_executor, wait_for

pytestmark = pytest.mark.integration

LOCUSTFILE = """
import os
from locust import FastHttpUser, constant, task

class Visitor(FastHttpUser):
    wait_time = constant(0.1)

    @task(3)
    def index(self):
        self.client.get("/", headers={"X-Salvo-Executor": os.environ["SALVO_EXECUTOR_ID"]})

    @task(1)
    def about(self):
        self.client.get("/about", headers={"X-Salvo-Executor": os.environ["SALVO_EXECUTOR_ID"]})
"""


class Fleet:
    def __init__(self, tmp_path, aws_env, bucket, target, count, duration="3s", extra_env=None):
        self.tmp_path, self.aws_env, self.bucket, self.target = tmp_path, aws_env, bucket, target
        self.command_port, self.status_port = free_port(), free_port()
        self.executors = [
            start_executor(
                tmp_path,
                aws_env,
                executor_id=f"node-{n}",
                host=f"127.0.1.{10 + n}",
                command_port=self.command_port,
                status_port=self.status_port,
                scenario_uri=f"s3://{bucket}/scenarios/fleet.py",
                results_uri=f"s3://{bucket}/results/",
                extra_env={
                    "SALVO_USERS": "2",
                    "SALVO_DURATION": duration,
                    "SALVO_TARGET_HOST": target.url,
                    "SALVO_KILL_SWITCH_TIMEOUT": "4s",
                    **(extra_env or {}),
                },
            )
            for n in range(count)
        ]

    def wait_armed(self):
        for executor in self.executors:
            executor.wait_state("armed")

    def controller(self, run_id: str, **env) -> ControllerProcess:
        report_dir = self.tmp_path / f"report-{run_id}"
        environment = {k: v for k, v in os.environ.items() if not k.startswith("SALVO_")}
        environment.update(self.aws_env)
        environment.update(
            {
                "SALVO_EXECUTOR_CIDRS": "127.0.1.0/27",
                "SALVO_COMMAND_PORT": str(self.command_port),
                "SALVO_STATUS_PORT": str(self.status_port),
                "SALVO_RESULTS_URI": f"s3://{self.bucket}/results/",
                "SALVO_RUN_ID": run_id,
                "SALVO_EXPECTED_EXECUTORS": str(len(self.executors)),
                "SALVO_DISCOVERY_TIMEOUT": "60s",
                "SALVO_REPORT_DIR": str(report_dir),
                "SALVO_LIVE_INTERVAL": "1s",
                "SALVO_LOG_LEVEL": "DEBUG",
                "PYTHONUNBUFFERED": "1",
                "SALVO_INSECURE": "true",  # like its executors (start_executor): keys are tests/security's subject
            }
        )
        environment.update({k: str(v) for k, v in env.items()})
        log = self.tmp_path / f"controller-{run_id}.log"
        with open(log, "wb") as output:  # the child keeps its own descriptor
            process = subprocess.Popen(
                [sys.executable, "-m", "salvo.cli", "controller"],
                env=environment,
                cwd=REPO,
                stdout=output,
                stderr=subprocess.STDOUT,
            )
        return ControllerProcess(process, log, report_dir)

    def kill(self):
        for executor in self.executors:
            executor.kill()


class ControllerProcess:
    def __init__(self, process, log: Path, report_dir: Path):
        self.process, self.log_path, self.report_dir = process, log, report_dir

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def wait(self, timeout=180) -> int:
        try:
            return self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            raise AssertionError("controller did not finish:\n" + self.log()[-4000:]) from None

    def report(self) -> dict:
        return json.loads((self.report_dir / "report.json").read_text())


@pytest.fixture
def fleet_factory(tmp_path, aws_env, s3_bucket, s3_client, target):
    s3_client.put_object(Bucket=s3_bucket, Key="scenarios/fleet.py", Body=LOCUSTFILE.encode())
    fleets = []

    def make(count, **kwargs):
        fleet = Fleet(tmp_path, aws_env, s3_bucket, target, count, **kwargs)
        fleets.append(fleet)
        return fleet

    yield make
    for fleet in fleets:
        fleet.kill()


def test_five_executors_scanned_started_merged_and_judged(fleet_factory, target, s3_bucket, aws_env):
    fleet = fleet_factory(5)
    fleet.wait_armed()
    controller = fleet.controller("passing", SALVO_CRITERIA="p99<2s; error_rate<1%; rps>=5; label:/about:p95<2s")
    assert controller.wait() == 0, controller.log()[-4000:]
    for executor in fleet.executors:
        assert executor.wait_exit(60) == 0
    report = controller.report()
    seen = target.stats()
    print(
        f"merged {report['overall']['requests']} requests, target saw {seen['total']}; "
        f"start skew {report['start_skew_ms']:.2f} ms; p95 {report['overall']['p95']} ms"
    )
    assert report["overall"]["requests"] == seen["total"] > 0
    assert sorted(report["contributors"]) == [f"node-{n}" for n in range(5)]
    assert report["status"] == "complete" and report["verdict"] == "pass" and report["lost"] == []
    assert report["start_skew_ms"] <= 10
    at_target = [seen["executors"][f"node-{n}"]["first"] for n in range(5)]
    assert (max(at_target) - min(at_target)) * 1000 <= 10
    output = controller.log()
    assert "executors 5 active" in output  # the live line
    assert "| OVERALL" in output and "verdict: PASS" in output  # the final table
    for name in ("report.json", "report.html", "junit.xml"):
        assert (controller.report_dir / name).stat().st_size > 0
    page = (controller.report_dir / "report.html").read_text()
    assert 'id="salvo-chart-data"' in page and "uPlot" in page and page.count('<tr class="overall">') == 1

    # `salvo report` re-merges the finished run from S3 and reproduces the numbers
    again = subprocess.run(
        [sys.executable, "-m", "salvo.cli", "report", f"s3://{s3_bucket}/results/passing/"],
        env={**os.environ, **aws_env},
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert again.returncode == 0, again.stderr
    overall_line = next(line for line in again.stdout.splitlines() if line.startswith("| OVERALL"))
    assert overall_line in output


def test_failing_criteria_exit_1(fleet_factory):
    fleet = fleet_factory(2, duration="2s")
    fleet.wait_armed()
    controller = fleet.controller("failing", SALVO_CRITERIA="rps>=100000; p50<0.001ms")
    assert controller.wait() == 1, controller.log()[-4000:]
    report = controller.report()
    assert report["verdict"] == "fail" and [c["passed"] for c in report["criteria"]] == [False, False]
    junit = (controller.report_dir / "junit.xml").read_text()
    assert junit.count("<failure") >= 2


@pytest.mark.parametrize(
    ("policy", "short_fleet", "expected_exit"),
    [
        ("continue", "pass", 0),  # the operator said a short fleet's results may pass
        ("continue", "fail", 1),  # the default: PARTIAL is not PASS
        ("fail", "fail", 4),
    ],
)
def test_executor_killed_mid_run_is_marked_lost(fleet_factory, target, policy, short_fleet, expected_exit):
    fleet = fleet_factory(3, duration="8s")
    fleet.wait_armed()
    controller = fleet.controller(
        f"lost-{policy}-{short_fleet}",
        SALVO_LOST_EXECUTOR_POLICY=policy,
        SALVO_SHORT_FLEET=short_fleet,
        SALVO_CRITERIA="error_rate<5%",
    )
    victim = fleet.executors[0]
    wait_for(lambda: victim.state() == "running", 60, "the run to start")
    wait_for(lambda: target.stats()["executors"].get("node-0", {}).get("count", 0) >= 3, 30, "the victim's load")
    victim.process.send_signal(signal.SIGKILL)
    killed_at = time.monotonic()
    wait_for(lambda: "node-0 (127.0.1.10) lost" in controller.log(), 10, "the controller to mark it lost")
    assert time.monotonic() - killed_at <= 5
    assert controller.wait() == expected_exit, controller.log()[-4000:]
    report = controller.report()
    assert report["lost"] == ["node-0"] and report["status"] == "partial"
    assert report["missing"] == [] and report["executors"]["node-0"]["outcome"] == "lost"  # one outcome each
    assert report["exit_code"] == expected_exit and report["verdict"] == ("pass" if expected_exit == 0 else "fail")
    assert sorted(report["contributors"]) == ["node-1", "node-2"]
    if policy == "continue":  # the survivors ran to completion
        for executor in fleet.executors[1:]:
            assert executor.wait_exit(60) == 0
    # the killed executor's bzt got SIGTERM from the kernel and stopped its locust: no orphaned load
    wait_for(lambda: not _load_processes_of(victim), 30, "the killed executor's load processes to stop")


def _load_processes_of(executor) -> list[str]:
    marker = str(executor.work_dir)
    found = []
    for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
        try:
            text = cmdline.read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if marker in text:
            found.append(text)
    return found


def test_controller_killed_mid_run_executors_stop_and_upload(fleet_factory, target, s3_client, s3_bucket):
    fleet = fleet_factory(2, duration="60s")
    fleet.wait_armed()
    controller = fleet.controller("orphaned")
    wait_for(lambda: all(e.state() == "running" for e in fleet.executors), 60, "the run to start")
    wait_for(lambda: target.stats()["total"] >= 10, 30, "load to flow")
    controller.process.send_signal(signal.SIGKILL)
    killed_at = time.monotonic()
    for executor in fleet.executors:
        assert executor.wait_exit(60) == 4
        assert "kill switch" in executor.log()
    assert time.monotonic() - killed_at < 4 + 15  # kill switch (4 s) plus a graceful stop and upload
    total = 0
    for executor in fleet.executors:
        key = f"results/orphaned/executors/{executor.executor_id}/summary.json"
        summary = json.loads(s3_client.get_object(Bucket=s3_bucket, Key=key)["Body"].read())
        assert summary["exit_code"] == 4
        total += summary["totals"]["requests"]
    assert total == target.stats()["total"]


def test_controller_sigterm_broadcasts_stop_and_writes_partial_report(fleet_factory, target):
    fleet = fleet_factory(2, duration="60s")
    fleet.wait_armed()
    controller = fleet.controller("interrupted")
    wait_for(lambda: all(e.state() == "running" for e in fleet.executors), 60, "the run to start")
    wait_for(lambda: target.stats()["total"] >= 10, 30, "load to flow")
    controller.process.send_signal(signal.SIGTERM)
    assert controller.wait(90) == 143, controller.log()[-4000:]
    for executor in fleet.executors:
        assert executor.wait_exit(30) == 0 and "stopped by controller" in executor.log()
    report = controller.report()
    assert report["status"] == "partial" and report["overall"]["requests"] == target.stats()["total"]


def test_too_few_executors_exit_3_listing_what_was_found(fleet_factory):
    fleet = fleet_factory(1)
    fleet.wait_armed()
    controller = fleet.controller(
        "small", SALVO_EXPECTED_EXECUTORS=3, SALVO_MIN_EXECUTORS=2, SALVO_DISCOVERY_TIMEOUT="3s"
    )
    assert controller.wait(60) == 3
    assert "fewer than SALVO_MIN_EXECUTORS=2" in controller.log() and "127.0.1.10: node-0 armed" in controller.log()
    assert "Traceback" not in controller.log()


def test_failing_pre_start_command_exits_4_before_any_load(fleet_factory, target):
    fleet = fleet_factory(1)
    fleet.wait_armed()
    controller = fleet.controller("reset-fails", SALVO_PRE_START_COMMAND="echo resetting the target; exit 7")
    assert controller.wait(60) == 4
    assert "pre-start | resetting the target" in controller.log() and "exited with 7" in controller.log()
    assert target.stats()["total"] == 0


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"SALVO_EXECUTOR_CIDRS": "10.0.0.0/8"}, "more than the limit"),
        ({"SALVO_CRITERIA": "p95 faster than light"}, "SALVO_CRITERIA"),
        ({"SALVO_EXPECTED_EXECUTORS": "zero"}, "SALVO_EXPECTED_EXECUTORS='zero'"),
    ],
    ids=["slash-8-refused", "bad-criteria", "bad-number"],
)
def test_controller_configuration_errors_exit_2(tmp_path, aws_env, env, message):
    environment = {k: v for k, v in os.environ.items() if not k.startswith("SALVO_")}
    environment.update(aws_env)
    environment.update({"SALVO_RESULTS_URI": "s3://some-bucket/results/", "SALVO_INSECURE": "true", **env})
    result = subprocess.run(
        [sys.executable, "-m", "salvo.cli", "controller"],
        env=environment,
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2, result.stderr
    assert message in result.stderr and "Traceback" not in result.stderr
