"""The ECS launcher (SALVO_LAUNCH=ecs) against botocore's Stubber on a real ECS client: every request is checked
against botocore's ECS model, every answer against its output shape (moto's RunTask cannot start awsvpc tasks)."""

from __future__ import annotations

import re

import pytest

from salvo.common.errors import ConfigError, ExitCode
from salvo.common.settings import load
from salvo.controller.launch import FleetLauncher, LaunchFailed, ecs_launcher, task_address
from salvo.controller.launch_settings import parse_capacity
from salvo.controller.settings import ControllerSettings
from tests.support.fakes import FakeClock
from tests.support.stubbed_ecs import (
    StubbedEcs,
    describe_with_addresses,
    error,
    listed,
    run_task_failures,
    run_task_ok,
    stop_ok,
    task_arn,
)

CAPACITY_UNAVAILABLE = (
    "Capacity is unavailable at this time. Please try again later or in a different availability zone"
)


BASE = {
    "SALVO_RESULTS_URI": "s3://bucket/results/",
    "SALVO_INSECURE": "true",
    "SALVO_LAUNCH": "ecs",
    "SALVO_LAUNCH_CLUSTER": "loadtests",
    "SALVO_LAUNCH_TASK_DEFINITION": "salvo-executor:7",
}


def settings(**extra: str) -> ControllerSettings:
    return load(
        ControllerSettings,
        {
            "SALVO_RESULTS_URI": "s3://bucket/results/",
            "SALVO_INSECURE": "true",
            "SALVO_LAUNCH": "ecs",
            "SALVO_LAUNCH_COUNT": "23",
            "SALVO_LAUNCH_CLUSTER": "loadtests",
            "SALVO_LAUNCH_TASK_DEFINITION": "salvo-executor:7",
            "SALVO_LAUNCH_SUBNETS": "subnet-0a1b,subnet-0c2d",
            "SALVO_LAUNCH_SECURITY_GROUPS": "sg-0e3f",
            **extra,
        },
    )


def launcher(plan: list[dict], **extra: str) -> tuple[FleetLauncher, StubbedEcs]:
    ecs = StubbedEcs(plan)
    return ecs_launcher(
        settings(**extra), "checkout-1", FakeClock(), client_factory=lambda region: ecs.client, backoff=0.01
    ), ecs


def params(ecs: StubbedEcs, operation: str) -> list[dict]:
    return [call["params"] for call in ecs.calls if call["operation"] == operation]


def test_twenty_three_start_in_batches_of_ten_are_found_by_describe_tasks_and_all_stopped():
    plan = [
        run_task_ok(0, 10),
        run_task_ok(10, 10),
        run_task_ok(20, 3),
        describe_with_addresses({n: f"10.0.1.{n + 10}" for n in range(23)}),
        listed(range(23)),
        *[stop_ok(n) for n in range(23)],
    ]
    launch, ecs = launcher(plan)
    launch.launch()
    runs = params(ecs, "RunTask")
    assert [p["count"] for p in runs] == [10, 10, 3]  # ECS starts at most 10 per call
    assert runs[0] == {
        "cluster": "loadtests",
        "taskDefinition": "salvo-executor:7",
        "count": 10,
        "startedBy": "salvo-checkout-1",
        "launchType": "FARGATE",
        "tags": [{"key": "salvo:run-id", "value": "checkout-1"}],
        "networkConfiguration": {
            "awsvpcConfiguration": {
                "subnets": ["subnet-0a1b", "subnet-0c2d"],
                "securityGroups": ["sg-0e3f"],
                "assignPublicIp": "DISABLED",
            }
        },
    }
    assert launch.addresses() == [f"10.0.1.{n + 10}" for n in range(23)]  # exactly the tasks started: no scan
    assert launch.addresses() == [f"10.0.1.{n + 10}" for n in range(23)]  # known: not described again
    assert ecs.operations().count("DescribeTasks") == 1
    launch.stop_all("the run ended (exit 0)")
    launch.stop_all("asked again")  # once only
    stops = params(ecs, "StopTask")
    assert [p["task"] for p in stops] == [task_arn(n) for n in range(23)]
    assert stops[0]["reason"] == "salvo checkout-1: the run ended (exit 0)"
    ecs.stubber.assert_no_pending_responses()


def test_addresses_come_as_tasks_get_them_and_a_stopped_task_is_named(caplog):
    plan = [
        run_task_ok(0, 3),
        describe_with_addresses({0: "10.0.1.5"}, stopped={2: "CannotPullContainerError: pull access denied"}),
        describe_with_addresses({1: "10.0.1.6"}),
    ]
    launch, ecs = launcher(plan, SALVO_LAUNCH_COUNT="3")
    launch.launch()
    assert launch.addresses() == ["10.0.1.5"]
    assert launch.addresses() == ["10.0.1.5"]  # too soon to ask ECS again
    launch.launchers[0].clock.advance(2)
    assert launch.addresses() == ["10.0.1.5", "10.0.1.6"]
    assert params(ecs, "DescribeTasks")[1]["tasks"] == [task_arn(1)]  # only the task still without an address
    assert "stopped before the run: CannotPullContainerError" in caplog.text


def test_capacity_shortfall_and_throttling_are_retried_one_subnet_after_another():
    plan = [
        run_task_failures(0, 7, [CAPACITY_UNAVAILABLE] * 3),
        error("RunTask", "ThrottlingException", "Rate exceeded"),
        run_task_ok(7, 3),
        listed(range(10)),
        *[stop_ok(n) for n in range(10)],
    ]
    launch, ecs = launcher(plan, SALVO_LAUNCH_COUNT="10")
    launch.launch()
    runs = params(ecs, "RunTask")
    assert [p["count"] for p in runs] == [10, 3, 3]  # the retry asks only for the missing tasks
    assert [p["networkConfiguration"]["awsvpcConfiguration"]["subnets"] for p in runs] == [
        ["subnet-0a1b", "subnet-0c2d"],
        ["subnet-0c2d"],
        ["subnet-0a1b"],
    ]
    assert len(launch.started) == 10 and not launch.failure_summary()
    launch.stop_all("the run ended (exit 0)")
    ecs.stubber.assert_no_pending_responses()


def test_a_batch_that_cannot_start_stops_what_started_and_names_the_reasons():
    plan = [
        run_task_ok(0, 10),
        error("RunTask", "AccessDeniedException", "not authorized to perform ecs:RunTask"),
        listed(range(10)),
        *[stop_ok(n) for n in range(10)],
    ]
    launch, ecs = launcher(plan, SALVO_LAUNCH_COUNT="15")
    with pytest.raises(LaunchFailed) as raised:
        launch.launch()
    assert raised.value.exit_code is ExitCode.SCENARIO
    message = str(raised.value)
    assert "\n" not in message
    assert message.startswith(
        "10 of 15 executor task(s) started on loadtests, fewer than the quorum of 15; stopped the 10 started"
    )
    assert "AccessDeniedException: not authorized to perform ecs:RunTask (5)" in message
    assert [p["task"] for p in params(ecs, "StopTask")] == [task_arn(n) for n in range(10)]
    ecs.stubber.assert_no_pending_responses()


def test_reasons_that_persist_are_retried_then_reported_and_no_further_batch_is_asked_for():
    plan = [run_task_failures(0, 6, ["RESOURCE:MEMORY"] * 2 + ["AGENT"] * 2)]
    plan += [run_task_failures(6, 0, ["RESOURCE:MEMORY"] * 4)] * 4
    plan += [listed(range(6)), *[stop_ok(n) for n in range(6)]]
    launch, ecs = launcher(plan)  # 23 asked: once 4 of the first 10 cannot start, 23 is out of reach
    with pytest.raises(LaunchFailed, match=r"ECS failures: RESOURCE:MEMORY \(4\)$"):
        launch.launch()
    assert [p["count"] for p in params(ecs, "RunTask")] == [10, 4, 4, 4, 4]
    assert len(params(ecs, "StopTask")) == 6
    ecs.stubber.assert_no_pending_responses()


def test_a_lower_quorum_starts_short_with_a_warning(caplog):
    plan = [run_task_ok(0, 10), run_task_failures(10, 3, ["RESOURCE:ENI", "MISSING"])]
    plan += [run_task_failures(13, 0, ["RESOURCE:ENI", "MISSING"])] * 4  # ECS gives one failure per task
    launch, _ecs = launcher(plan, SALVO_LAUNCH_COUNT="15", SALVO_MIN_EXECUTORS="12")
    launch.launch()
    assert len(launch.started) == 13
    assert "13 of 15 executor task(s) started on loadtests (quorum 12)" in caplog.text
    assert launch.failure_summary() == "RESOURCE:ENI (1), MISSING (1)"


def test_a_stop_that_keeps_failing_names_the_task_to_stop_by_hand(caplog):
    plan = [run_task_ok(0, 2), error("ListTasks", "ThrottlingException", "Rate exceeded"), stop_ok(0)]
    plan += [error("StopTask", "ThrottlingException", "Rate exceeded")] * 5
    launch, _ = launcher(plan, SALVO_LAUNCH_COUNT="2")
    launch.launch()
    launch.stop_all("the run ended (exit 0)")
    assert "1 executor task(s) could not be stopped, stop them by hand" in caplog.text
    assert task_arn(1).rsplit("/", 1)[1] in caplog.text


def test_tasks_whose_run_task_answer_never_arrived_are_found_by_started_by_and_stopped(caplog):
    plan = [run_task_ok(0, 10), listed([*range(10), 10, 11]), *[stop_ok(n) for n in range(12)]]
    launch, ecs = launcher(plan, SALVO_LAUNCH_COUNT="10")
    launch.launch()
    launch.stop_all("controller interrupted by SIGTERM")
    assert params(ecs, "ListTasks") == [{"cluster": "loadtests", "startedBy": "salvo-checkout-1"}]
    assert [p["task"] for p in params(ecs, "StopTask")] == [task_arn(n) for n in range(12)]
    assert "2 task(s) of this run were started without RunTask's answer arriving" in caplog.text
    ecs.stubber.assert_no_pending_responses()


def test_capacity_provider_strategy_replaces_the_launch_type():
    plan = [run_task_ok(0, 2)]
    launch, ecs = launcher(
        plan, SALVO_LAUNCH_COUNT="2", SALVO_LAUNCH_CAPACITY="FARGATE_SPOT", SALVO_LAUNCH_ASSIGN_PUBLIC_IP="true"
    )
    launch.launch()
    (run,) = params(ecs, "RunTask")
    assert "launchType" not in run
    assert run["capacityProviderStrategy"] == [{"capacityProvider": "FARGATE_SPOT", "weight": 1, "base": 0}]
    assert run["networkConfiguration"]["awsvpcConfiguration"]["assignPublicIp"] == "ENABLED"


REGIONS = {
    "SALVO_LAUNCH_REGIONS": "us-east-1:12,eu-west-1:3",
    "SALVO_LAUNCH_COUNT": "",
    "SALVO_LAUNCH_SUBNETS": "us-east-1/subnet-0a1b,us-east-1/subnet-0c2d,eu-west-1/subnet-0e3f",
    "SALVO_LAUNCH_SECURITY_GROUPS": "us-east-1/sg-0a,eu-west-1/sg-0b",
}


def regional(plans: dict[str, list[dict]], **extra: str) -> tuple[FleetLauncher, dict[str, StubbedEcs]]:
    stubs = {region: StubbedEcs(plan) for region, plan in plans.items()}
    environ = {name: value for name, value in {**REGIONS, **extra}.items() if value}
    launch = ecs_launcher(
        load(ControllerSettings, {**BASE, **environ}),
        "checkout-1",
        FakeClock(),
        client_factory=lambda region: stubs[region].client,
        backoff=0.01,
    )
    return launch, stubs


def test_regions_each_start_their_share_in_their_own_subnets_and_are_found_and_stopped_together():
    launch, stubs = regional(
        {
            "us-east-1": [
                run_task_ok(0, 10),
                run_task_ok(10, 2),
                describe_with_addresses({n: f"10.1.0.{n}" for n in range(12)}),
                listed(range(12)),
                *[stop_ok(n) for n in range(12)],
            ],
            "eu-west-1": [
                run_task_ok(100, 3),
                describe_with_addresses({n: f"10.2.0.{n}" for n in range(100, 103)}),
                listed(range(100, 103)),
                *[stop_ok(n) for n in range(100, 103)],
            ],
        }
    )
    assert launch.settings.expected_executors == 15  # the regions' counts add up to the launch count
    launch.launch()
    east, west = params(stubs["us-east-1"], "RunTask"), params(stubs["eu-west-1"], "RunTask")
    assert [p["count"] for p in east] == [10, 2] and [p["count"] for p in west] == [3]
    assert east[0]["networkConfiguration"]["awsvpcConfiguration"]["subnets"] == ["subnet-0a1b", "subnet-0c2d"]
    assert west[0]["networkConfiguration"]["awsvpcConfiguration"] == {
        "subnets": ["subnet-0e3f"],
        "securityGroups": ["sg-0b"],
        "assignPublicIp": "DISABLED",
    }
    assert launch.addresses() == [f"10.1.0.{n}" for n in range(12)] + [f"10.2.0.{n}" for n in range(100, 103)]
    launch.stop_all("the run ended (exit 0)")
    for stub in stubs.values():
        stub.stubber.assert_no_pending_responses()


def test_a_region_that_cannot_start_fails_the_launch_naming_the_region():
    launch, stubs = regional(
        {
            "us-east-1": [run_task_ok(0, 10), run_task_ok(10, 2), listed(range(12)), *[stop_ok(n) for n in range(12)]],
            "eu-west-1": [error("RunTask", "ClusterNotFoundException", "Cluster not found."), listed([])],
        }
    )
    with pytest.raises(LaunchFailed) as raised:
        launch.launch()
    assert str(raised.value).startswith(
        "12 of 15 executor task(s) started on loadtests (us-east-1: 12 of 12, "
        "eu-west-1: 0 of 3), fewer than the quorum of 15"
    )
    assert str(raised.value).endswith("ECS failures: eu-west-1: ClusterNotFoundException: Cluster not found. (3)")
    assert len(params(stubs["us-east-1"], "StopTask")) == 12


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (
            {"SALVO_LAUNCH_SUBNETS": "subnet-0a1b"},
            "with SALVO_LAUNCH_REGIONS, name each one's region, e.g. 'us-east-1/subnet-0a1b'",
        ),
        ({"SALVO_LAUNCH_SUBNETS": "us-east-1/subnet-0a1b"}, "SALVO_LAUNCH_SUBNETS has no subnet in eu-west-1"),
        ({"SALVO_LAUNCH_SECURITY_GROUPS": "ap-south-1/sg-0a"}, "SALVO_LAUNCH_SECURITY_GROUPS names ap-south-1"),
        ({"SALVO_LAUNCH_COUNT": "20"}, "SALVO_LAUNCH_COUNT=20 but SALVO_LAUNCH_REGIONS adds up to 15"),
        ({"SALVO_LAUNCH_REGIONS": "us-east-1:3,us-east-1:2"}, "names a region twice"),
        ({"SALVO_LAUNCH_REGIONS": "mars:3"}, "expected region:count"),
    ],
)
def test_regions_are_refused_when_inconsistent(extra, message):
    environ = {name: value for name, value in {**REGIONS, **extra}.items() if value}
    with pytest.raises(ConfigError, match=re.escape(message)):
        load(ControllerSettings, {**BASE, **environ})


def test_task_address_reads_the_eni_attachment_only():
    assert (
        task_address(
            {
                "attachments": [
                    {"type": "ServiceConnect", "details": [{"name": "privateIPv4Address", "value": "1.2.3.4"}]}
                ]
            }
        )
        is None
    )
    assert task_address({}) is None


def test_launch_settings_default_the_expected_fleet_and_refuse_what_cannot_work():
    assert settings().expected_executors == 23
    assert settings(SALVO_EXPECTED_EXECUTORS="20").quorum == 20
    with pytest.raises(ConfigError, match="SALVO_EXPECTED_EXECUTORS=30 is more than the SALVO_LAUNCH_COUNT=23"):
        settings(SALVO_EXPECTED_EXECUTORS="30")
    with pytest.raises(ConfigError, match="SALVO_LAUNCH=ecs needs SALVO_LAUNCH_SUBNETS"):
        settings(SALVO_LAUNCH_SUBNETS="")
    with pytest.raises(ConfigError, match="SALVO_LAUNCH_COUNT=23 is larger than SALVO_MAX_EXECUTORS=10"):
        settings(SALVO_MAX_EXECUTORS="10", SALVO_EXPECTED_EXECUTORS="10")


@pytest.mark.parametrize(
    ("text", "strategy"),
    [
        ("FARGATE", None),
        ("FARGATE_SPOT", [("FARGATE_SPOT", 1, 0)]),
        ("FARGATE:1:2, FARGATE_SPOT:3", [("FARGATE", 1, 2), ("FARGATE_SPOT", 3, 0)]),
    ],
)
def test_capacity_is_parsed_once(text, strategy):
    parameters = parse_capacity(text).run_task_parameters()
    if strategy is None:
        assert parameters == {"launchType": "FARGATE"}
    else:
        assert parameters == {
            "capacityProviderStrategy": [{"capacityProvider": p, "weight": w, "base": b} for p, w, b in strategy]
        }


@pytest.mark.parametrize("text", ["FARGATE:x", "A:1,A:2", "FARGATE_SPOT:0", ":1", "A:1:2:3", "A:1:1,B:1:1"])
def test_a_malformed_capacity_is_refused(text):
    with pytest.raises(ValueError):
        parse_capacity(text)
