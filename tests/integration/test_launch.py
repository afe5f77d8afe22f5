"""SALVO_LAUNCH=ecs end to end: a real `salvo controller` process launches its fleet, runs it, stops every task.

ECS is botocore's Stubber in the controller's process (tests/support/stubbed_ecs.py: moto's
RunTask cannot start awsvpc tasks); the tasks' "private addresses" it returns are loopback
addresses where simulated executors (real ZeroMQ, real protocol) listen; S3 is moto.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys

import pytest
from botocore.exceptions import ClientError

from tests.support.executors import REPO, free_port
from tests.support.stubbed_ecs import describe_with_addresses, error, listed, run_task_ok, stop_ok, task_arn

pytestmark = pytest.mark.integration

COUNT = 23
FIRST = "127.6.0.1"


def controller_env(tmp_path, aws_env, bucket: str, command_port: int, status_port: int, **extra: str) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SALVO_")}
    env.update(aws_env)
    env.update(
        {
            "SALVO_LAUNCH": "ecs",
            "SALVO_LAUNCH_COUNT": str(COUNT),
            "SALVO_LAUNCH_CLUSTER": "loadtests",
            "SALVO_LAUNCH_TASK_DEFINITION": "salvo-executor:7",
            "SALVO_LAUNCH_SUBNETS": "subnet-0a1b,subnet-0c2d",
            "SALVO_LAUNCH_SECURITY_GROUPS": "sg-0e3f",
            "SALVO_COMMAND_PORT": str(command_port),
            "SALVO_STATUS_PORT": str(status_port),
            "SALVO_RESULTS_URI": f"s3://{bucket}/results/",
            "SALVO_RUN_ID": "launched",
            "SALVO_DISCOVERY_TIMEOUT": "60",
            "SALVO_INSECURE": "true",
            "SALVO_REPORT_DIR": str(tmp_path / "report"),
            "SALVO_PROBE_TIMEOUT": "0.2",
            "PYTHONUNBUFFERED": "1",
            **extra,
        }
    )
    return env


def stubbed_controller(tmp_path, plan: list[dict]) -> list[str]:
    (tmp_path / "plan.json").write_text(json.dumps(plan))
    return [
        sys.executable,
        "-m",
        "tests.support.stubbed_ecs",
        str(tmp_path / "plan.json"),
        str(tmp_path / "calls.json"),
    ]


def launching_controller(
    tmp_path, aws_env, bucket: str, plan: list[dict], command_port: int, status_port: int, **extra: str
) -> tuple[subprocess.CompletedProcess, list[dict]]:
    result = subprocess.run(
        stubbed_controller(tmp_path, plan),
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=180,
        env=controller_env(tmp_path, aws_env, bucket, command_port, status_port, **extra),
    )
    return result, json.loads((tmp_path / "calls.json").read_text())


def start_sims(aws_env, bucket: str, command_port: int, status_port: int, run_seconds: float) -> subprocess.Popen:
    sims = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "tests.support.simexecutor",
            "--first",
            FIRST,
            "--count",
            str(COUNT),
            "--command-port",
            str(command_port),
            "--status-port",
            str(status_port),
            "--run-seconds",
            str(run_seconds),
            "--results-uri",
            f"s3://{bucket}/results/",
            "--lifetime",
            "150",
        ],
        cwd=REPO,
        env={**os.environ, **aws_env, "PYTHONUNBUFFERED": "1"},
        stdout=subprocess.PIPE,
        text=True,
    )
    assert sims.stdout.readline().strip() == f"ready {COUNT}"
    return sims


def fleet_plan() -> list[dict]:
    addresses = {n: f"127.6.0.{n + 1}" for n in range(COUNT)}
    return [
        run_task_ok(0, 10),
        run_task_ok(10, 10),
        run_task_ok(20, 3),
        describe_with_addresses(addresses),
        listed(range(COUNT)),
        *[stop_ok(n) for n in range(COUNT)],
    ]


def test_the_controller_launches_finds_runs_and_stops_its_fleet(tmp_path, aws_env, s3_bucket):
    command_port, status_port = free_port(), free_port()
    sims = start_sims(aws_env, s3_bucket, command_port, status_port, run_seconds=2)
    try:
        result, calls = launching_controller(tmp_path, aws_env, s3_bucket, fleet_plan(), command_port, status_port)
    finally:
        sims.terminate()
        sims.wait(60)
    assert result.returncode == 0, result.stderr[-4000:]
    assert "Traceback" not in result.stderr
    operations = [call["operation"] for call in calls]
    assert operations == ["RunTask"] * 3 + ["DescribeTasks", "ListTasks"] + ["StopTask"] * COUNT
    assert [call["params"]["count"] for call in calls[:3]] == [10, 10, 3]
    assert [call["params"]["task"] for call in calls[5:]] == [task_arn(n) for n in range(COUNT)]
    report = json.loads((tmp_path / "report" / "report.json").read_text())
    assert report["verdict"] == "pass" and len(report["contributors"]) == COUNT
    # the tasks are stopped after the report is written, and the log says so
    log = result.stderr
    assert log.index("verdict: PASS") < log.index(f"stopping the {COUNT} executor task(s) this run started")
    assert f"stopped all {COUNT} executor task(s)" in log


def test_a_launch_short_of_the_quorum_stops_what_started_and_exits_3_naming_the_reasons(tmp_path, aws_env, s3_bucket):
    plan = [
        run_task_ok(0, 10),
        error("RunTask", "AccessDeniedException", "not authorized to perform ecs:RunTask"),
        listed(range(10)),
        *[stop_ok(n) for n in range(10)],
    ]
    result, calls = launching_controller(
        tmp_path, aws_env, s3_bucket, plan, free_port(), free_port(), SALVO_LAUNCH_COUNT="15"
    )
    assert result.returncode == 3, result.stderr[-4000:]
    assert "Traceback" not in result.stderr
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith("salvo: 10 of 15 executor task(s) started on loadtests, fewer than the quorum of 15")
    assert last.endswith("ECS failures: AccessDeniedException: not authorized to perform ecs:RunTask (5)")
    assert [call["operation"] for call in calls] == ["RunTask"] * 2 + ["ListTasks"] + ["StopTask"] * 10


def test_sigterm_mid_run_stops_the_fleet_reports_and_stops_every_task(tmp_path, aws_env, s3_bucket):
    command_port, status_port = free_port(), free_port()
    sims = start_sims(aws_env, s3_bucket, command_port, status_port, run_seconds=60)
    try:
        controller = subprocess.Popen(
            stubbed_controller(tmp_path, fleet_plan()),
            cwd=REPO,
            stderr=subprocess.PIPE,
            text=True,
            env=controller_env(tmp_path, aws_env, s3_bucket, command_port, status_port),
        )
        log = []
        for line in controller.stderr:
            log.append(line)
            if "start published" in line:
                break
        assert sims.stdout.readline().strip() == "running"  # a simulated executor has passed start_at
        controller.send_signal(signal.SIGTERM)
        log.extend(controller.stderr)
        assert controller.wait(120) == 143, "".join(log)[-4000:]
    finally:
        sims.terminate()
        sims.wait(60)
    text = "".join(log)
    assert "Traceback" not in text
    calls = json.loads((tmp_path / "calls.json").read_text())
    assert [call["params"]["task"] for call in calls if call["operation"] == "StopTask"] == [
        task_arn(n) for n in range(COUNT)
    ]
    assert calls[-1]["params"]["reason"] == "salvo launched: the run ended (exit 143)"
    assert (tmp_path / "report" / "report.json").exists()  # reported first, then the tasks stopped
    assert text.index("verdict:") < text.index("stopping the 23 executor task(s)")


def test_sigterm_during_discovery_stops_every_task_started_and_exits_143(tmp_path, aws_env, s3_bucket):
    plan = [
        run_task_ok(0, 10),
        run_task_ok(10, 10),
        run_task_ok(20, 3),
        describe_with_addresses({n: f"127.6.1.{n + 1}" for n in range(COUNT)}),  # nobody answers there
        listed(range(COUNT)),
        *[stop_ok(n) for n in range(COUNT)],
    ]
    controller = subprocess.Popen(
        stubbed_controller(tmp_path, plan),
        cwd=REPO,
        stderr=subprocess.PIPE,
        text=True,
        env=controller_env(tmp_path, aws_env, s3_bucket, free_port(), free_port()),
    )
    log = []
    for line in controller.stderr:
        log.append(line)
        if "stubbed ECS answered DescribeTasks" in line:  # discovering: the tasks' addresses are known
            break
    controller.send_signal(signal.SIGTERM)
    log.extend(controller.stderr)
    text = "".join(log)
    assert controller.wait(60) == 143, text[-4000:]
    assert "Traceback" not in text
    assert "no load was started" in text
    calls = json.loads((tmp_path / "calls.json").read_text())
    assert [call["params"]["task"] for call in calls if call["operation"] == "StopTask"] == [
        task_arn(n) for n in range(COUNT)
    ]
    assert f"stopped all {COUNT} executor task(s)" in text


def test_moto_still_cannot_run_an_awsvpc_task(moto_server, aws_env):
    """Why ECS is stubbed here: moto's RunTask answers 500 for a task with a network configuration (no ENI, no
    address, never `failures`). When this fails, moto can run them: move these tests onto moto's ECS."""
    ec2, ecs = moto_server.client("ec2"), moto_server.client("ecs")
    vpc = ec2.create_vpc(CidrBlock="10.9.0.0/16")["Vpc"]["VpcId"]
    subnet = ec2.create_subnet(VpcId=vpc, CidrBlock="10.9.1.0/24")["Subnet"]["SubnetId"]
    group = ec2.create_security_group(GroupName=f"salvo-{vpc}", Description="executors", VpcId=vpc)["GroupId"]
    ecs.create_cluster(clusterName="canary")
    definition = ecs.register_task_definition(
        family="salvo-executor",
        networkMode="awsvpc",
        requiresCompatibilities=["FARGATE"],
        cpu="1024",
        memory="2048",
        containerDefinitions=[{"name": "executor", "image": "salvo-executor", "memory": 2048}],
    )["taskDefinition"]["taskDefinitionArn"]
    with pytest.raises(ClientError) as raised:
        ecs.run_task(
            cluster="canary",
            taskDefinition=definition,
            count=1,
            launchType="FARGATE",
            networkConfiguration={"awsvpcConfiguration": {"subnets": [subnet], "securityGroups": [group]}},
        )
    assert raised.value.response["ResponseMetadata"]["HTTPStatusCode"] == 500
