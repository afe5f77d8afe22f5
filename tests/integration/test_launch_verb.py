"""`salvo launch`: the controller task started with the launch overrides, its CloudWatch log streamed, its exit code
returned. CloudWatch Logs is moto's; ECS is botocore's Stubber (moto's RunTask cannot start awsvpc tasks)."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import time
import uuid

import pytest

from salvo.common.errors import ConfigError, ExitCode
from salvo.common.settings import load
from salvo.controller.remote_run import ControllerNotStarted, RemoteRun, launch_and_follow
from salvo.controller.settings import ControllerSettings
from tests.support.executors import REPO
from tests.support.fakes import FakeClock
from tests.support.stubbed_ecs import (
    StubbedEcs,
    controller_definition,
    controller_task,
    error,
    stop_ok,
    task_arn,
)

pytestmark = pytest.mark.integration

STREAM = f"salvo/controller/{task_arn(999).rsplit('/', 1)[1]}"


def settings(**extra: str) -> ControllerSettings:
    if "SALVO_LAUNCH_REGIONS" in extra:
        extra = {"SALVO_LAUNCH_COUNT": "", **extra}
    return load(
        ControllerSettings,
        {
            name: value
            for name, value in {
                "SALVO_RESULTS_URI": "s3://unused-by-this-verb/",
                "SALVO_LAUNCH": "ecs",
                "SALVO_LAUNCH_COUNT": "23",
                "SALVO_LAUNCH_CLUSTER": "loadtests",
                "SALVO_LAUNCH_TASK_DEFINITION": "salvo-executor",
                "SALVO_LAUNCH_SUBNETS": "subnet-0a1b,subnet-0c2d",
                "SALVO_LAUNCH_SECURITY_GROUPS": "sg-0e3f",
                "SALVO_LAUNCH_CAPACITY": "FARGATE_SPOT",
                **extra,
            }.items()
            if value
        },
    )


def controller_started() -> dict:
    return {
        "operation": "RunTask",
        "response": {"tasks": [{"taskArn": task_arn(999), "lastStatus": "PROVISIONING"}], "failures": []},
    }


@pytest.fixture
def log_group(moto_server, aws_env) -> tuple[object, str]:
    logs = moto_server.client("logs")
    group = f"/ecs/salvo-{uuid.uuid4().hex[:8]}"
    logs.create_log_group(logGroupName=group)
    return logs, group


def put(logs, group: str, *messages: str) -> None:
    at = int(time.time() * 1000)  # CloudWatch refuses events from the future
    logs.put_log_events(
        logGroupName=group,
        logStreamName=STREAM,
        logEvents=[{"timestamp": at + n, "message": message} for n, message in enumerate(messages)],
    )


def remote(ecs: StubbedEcs, logs, out: io.StringIO, clock: FakeClock, **extra: str) -> RemoteRun:
    return RemoteRun(
        ecs.client,
        logs,
        settings(**extra),
        "checkout-1",
        "salvo-controller",
        "controller",
        clock,
        out=out,
        extra_environment={"SALVO_CRITERIA": "p95<300ms"},
    )


def test_launch_starts_the_controller_streams_its_log_and_exits_with_its_code(log_group):
    logs, group = log_group
    ecs = StubbedEcs(
        [
            controller_definition(group),
            controller_started(),
            controller_task("PROVISIONING"),
            controller_task("RUNNING"),
            controller_task("RUNNING"),
            controller_task("STOPPED", exit_code=1),
        ]
    )
    out, clock = io.StringIO(), FakeClock()
    run = remote(ecs, logs, out, clock)
    # The stream appears when the container starts (the first poll finds none), then grows between polls.
    clock.call_at(
        clock.time() + 1,
        lambda: (
            logs.create_log_stream(logGroupName=group, logStreamName=STREAM),
            put(logs, group, "launching 23 executor task(s)", "fleet: 23 armed"),
        ),
    )
    clock.call_at(clock.time() + 3, lambda: put(logs, group, "live: 23 running, 1200 rps"))
    clock.call_at(
        clock.time() + 5,
        lambda: put(
            logs,
            group,
            json.dumps(  # SALVO_LOG_FORMAT=json, as deployed
                {
                    "time": "2026-12-06T05:00:00.000Z",
                    "level": "INFO",
                    "logger": "salvo",
                    "message": "verdict: FAIL (exit 1)",
                }
            ),
        ),
    )
    code = launch_and_follow(run, lambda handler: None)
    assert code == 1
    assert out.getvalue().splitlines() == [
        task_arn(999),
        "launching 23 executor task(s)",
        "fleet: 23 armed",
        "live: 23 running, 1200 rps",
        "2026-12-06T05:00:00.000Z INFO verdict: FAIL (exit 1)",
    ]
    (run_task,) = [call["params"] for call in ecs.calls if call["operation"] == "RunTask"]
    assert run_task["taskDefinition"].endswith("task-definition/salvo-controller:7")
    assert run_task["launchType"] == "FARGATE"  # the controller is not put on Spot, whatever its executors use
    assert run_task["networkConfiguration"]["awsvpcConfiguration"]["subnets"] == ["subnet-0a1b", "subnet-0c2d"]
    (override,) = run_task["overrides"]["containerOverrides"]
    assert override["name"] == "controller"
    assert {item["name"]: item["value"] for item in override["environment"]} == {
        "SALVO_LAUNCH": "ecs",
        "SALVO_LAUNCH_COUNT": "23",
        "SALVO_LAUNCH_CLUSTER": "loadtests",
        "SALVO_LAUNCH_TASK_DEFINITION": "salvo-executor",
        "SALVO_LAUNCH_SUBNETS": "subnet-0a1b,subnet-0c2d",
        "SALVO_LAUNCH_SECURITY_GROUPS": "sg-0e3f",
        "SALVO_LAUNCH_CAPACITY": "FARGATE_SPOT:1",
        "SALVO_LAUNCH_ASSIGN_PUBLIC_IP": "false",
        "SALVO_EXPECTED_EXECUTORS": "23",
        "SALVO_RUN_ID": "checkout-1",
        "SALVO_CRITERIA": "p95<300ms",
    }
    ecs.stubber.assert_no_pending_responses()


def test_a_signal_stops_the_controller_task_and_its_exit_code_is_returned(log_group):
    logs, group = log_group
    ecs = StubbedEcs(
        [
            controller_definition(group),
            controller_started(),
            controller_task("RUNNING"),
            stop_ok(999),
            controller_task("RUNNING"),
            controller_task("STOPPED", exit_code=143),
        ]
    )
    out, clock = io.StringIO(), FakeClock()
    run = remote(ecs, logs, out, clock)
    handlers = []
    clock.call_at(clock.time() + 1, lambda: handlers[0](15))  # CI cancels the job: SIGTERM
    assert launch_and_follow(run, handlers.append) == 143
    (stop,) = [call["params"] for call in ecs.calls if call["operation"] == "StopTask"]
    assert stop == {"cluster": "loadtests", "task": task_arn(999), "reason": "salvo launch: SIGTERM received"}
    ecs.stubber.assert_no_pending_responses()


def test_a_controller_task_that_never_ran_is_exit_3_with_ecs_reason(log_group):
    logs, group = log_group
    reason = "CannotPullContainerError: pull image manifest has been retried 5 time(s)"
    ecs = StubbedEcs([controller_definition(group), controller_started(), controller_task("STOPPED", reason=reason)])
    with pytest.raises(
        ControllerNotStarted, match="stopped without running the controller: CannotPullContainer"
    ) as raised:
        launch_and_follow(remote(ecs, logs, io.StringIO(), FakeClock()), lambda handler: None)
    assert raised.value.exit_code is ExitCode.SCENARIO


def test_run_task_failures_are_exit_3_naming_them(log_group):
    logs, group = log_group
    ecs = StubbedEcs(
        [
            controller_definition(group),
            {
                "operation": "RunTask",
                "response": {"tasks": [], "failures": [{"reason": "MISSING", "detail": "subnet-0a1b not found"}]},
            },
        ]
    )
    with pytest.raises(
        ControllerNotStarted,
        match=r"did not start the controller task \(salvo-controller\): "
        r"MISSING \(subnet-0a1b not found\)",
    ):
        remote(ecs, logs, io.StringIO(), FakeClock()).start()
    ecs2 = StubbedEcs([error("DescribeTaskDefinition", "ClientException", "Unable to describe task definition.")])
    with pytest.raises(ControllerNotStarted, match="ClientException: Unable to describe task definition"):
        remote(ecs2, logs, io.StringIO(), FakeClock()).start()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--env", "SALVO_CRITERIAS=p95<1s"], "--env SALVO_CRITERIAS=p95<1s: expected NAME=VALUE naming a controller"),
        (["--env", "SALVO_FLEET_KEY=abc"], "key material never goes into task overrides"),
        (["--env", "SALVO_CRITERIA=p95<<1s"], "SALVO_CRITERIA"),
        ([], "SALVO_LAUNCH=ecs needs SALVO_LAUNCH_CLUSTER"),
        (["--count", "0"], "SALVO_LAUNCH_COUNT='0' is invalid"),
    ],
)
def test_launch_refuses_a_mistake_before_calling_aws(args, message):
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SALVO_", "AWS_"))}
    env.update(
        {
            "SALVO_LAUNCH_COUNT": "3",
            "SALVO_LAUNCH_TASK_DEFINITION": "salvo-executor",
            "SALVO_LAUNCH_SUBNETS": "subnet-0a1b",
            "AWS_ENDPOINT_URL": "http://127.0.0.1:9",
        }
    )
    if args:
        env["SALVO_LAUNCH_CLUSTER"] = "loadtests"
    result = subprocess.run(
        [sys.executable, "-m", "salvo.cli", "launch", *args],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2, result.stderr
    assert message in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_with_regions_the_controller_runs_in_the_verbs_region_and_passes_the_regions_on(log_group):
    logs, group = log_group
    ecs = StubbedEcs([controller_definition(group), controller_started()])
    regions = {
        "SALVO_LAUNCH_REGIONS": "us-east-1:20,eu-west-1:3",
        "SALVO_LAUNCH_SUBNETS": "eu-west-1/subnet-0e3f,us-east-1/subnet-0a1b",
        "SALVO_LAUNCH_SECURITY_GROUPS": "us-east-1/sg-0a,eu-west-1/sg-0b",
    }
    remote(ecs, logs, io.StringIO(), FakeClock(), **regions).start()  # the stub client is us-east-1's
    (run_task,) = [call["params"] for call in ecs.calls if call["operation"] == "RunTask"]
    assert run_task["networkConfiguration"]["awsvpcConfiguration"] == {
        "subnets": ["subnet-0a1b"],
        "securityGroups": ["sg-0a"],
        "assignPublicIp": "DISABLED",
    }
    environment = {
        item["name"]: item["value"] for item in run_task["overrides"]["containerOverrides"][0]["environment"]
    }
    assert environment["SALVO_LAUNCH_REGIONS"] == "us-east-1:20,eu-west-1:3"
    assert environment["SALVO_LAUNCH_SUBNETS"] == "eu-west-1/subnet-0e3f,us-east-1/subnet-0a1b"
    assert environment["SALVO_LAUNCH_COUNT"] == "23"
    elsewhere = {
        **regions,
        "SALVO_LAUNCH_REGIONS": "eu-west-1:20,ap-south-1:3",
        "SALVO_LAUNCH_SUBNETS": "eu-west-1/subnet-0e3f,ap-south-1/subnet-0c",
        "SALVO_LAUNCH_SECURITY_GROUPS": "eu-west-1/sg-0b",
    }
    with pytest.raises(ConfigError, match="AWS_REGION=us-east-1 is not one of SALVO_LAUNCH_REGIONS"):
        remote(StubbedEcs([controller_definition(group)]), logs, io.StringIO(), FakeClock(), **elsewhere).start()


def test_the_controller_task_can_have_a_security_group_of_its_own(log_group):
    """The stack's executors admit only the controller's group: `--security-groups` puts the controller in it."""
    logs, group = log_group
    ecs = StubbedEcs([controller_definition(group), controller_started()])
    run = RemoteRun(
        ecs.client,
        logs,
        settings(),
        "checkout-1",
        "salvo-controller",
        "controller",
        FakeClock(),
        out=io.StringIO(),
        controller_security_groups=("sg-controller",),
    )
    run.start()
    (started,) = [call["params"] for call in ecs.calls if call["operation"] == "RunTask"]
    assert started["networkConfiguration"]["awsvpcConfiguration"]["securityGroups"] == ["sg-controller"]
    overrides = started["overrides"]["containerOverrides"][0]["environment"]
    executor_groups = [item["value"] for item in overrides if item["name"] == "SALVO_LAUNCH_SECURITY_GROUPS"]
    assert executor_groups and executor_groups[0] != "sg-controller"  # the executors keep theirs
