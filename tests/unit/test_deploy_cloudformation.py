"""deploy/cloudformation/salvo.yaml: linted (cfn-lint, checkov offline), its resources as AWS receives them
checked against botocore's models, its policies and tasks against deploy/ecs's reviewed JSON files."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from salvo.common.keys import KeyMode
from salvo.common.s3location import S3Location
from salvo.common.settings import load
from salvo.executor.settings import ExecutorSettings
from tests.support.cloudformation import TEMPLATE, Resolver, camel_case_keys, load_template, service_problems
from tests.support.deploy import (
    PLACEHOLDERS,
    SECRET_ARNS,
    ecs_problems,
    keygen_role_json,
    render_ecs,
    resolve_ecs_secrets,
    start_settings,
)
from tests.support.keys import controller_keys, executor_keys

BIN = Path(sys.executable).parent
ACCOUNT, REGION = PLACEHOLDERS["AWS_ACCOUNT_ID"], PLACEHOLDERS["AWS_REGION"]
LOG_GROUP = "/ecs/salvo"
# The stack's parameters, matching deploy/ecs's test placeholders so both render the same policies.
PARAMETERS = {
    "VpcId": "vpc-0123456789abcdef0",
    "SubnetIds": "subnet-0123456789abcdef0,subnet-0fedcba9876543210",
    "ExecutorCidrs": PLACEHOLDERS["EXECUTOR_CIDRS"],
    "ExecutorImage": f"{ACCOUNT}.dkr.ecr.{REGION}.amazonaws.com/salvo-executor:0.1.0",
    "ControllerImage": f"{ACCOUNT}.dkr.ecr.{REGION}.amazonaws.com/salvo-controller:0.1.0",
    "BucketName": PLACEHOLDERS["BUCKET"],
    "ScenarioKey": PLACEHOLDERS["SCENARIO_KEY"],
    "ResultsPrefix": PLACEHOLDERS["RESULTS_PREFIX"],
    "ExecutorKeys": "{}",
    "ControllerKeys": "{}",
}
CLUSTER_ARN = f"arn:aws:ecs:{REGION}:{ACCOUNT}:cluster/salvo"


def _role_arn(logical_id: str) -> str:
    return f"arn:aws:iam::{ACCOUNT}:role/salvo-{logical_id}-ABC123"


def _task_definition_arn(family: str) -> str:
    return f"arn:aws:ecs:{REGION}:{ACCOUNT}:task-definition/{family}:1"


def resolver(**parameters: str) -> Resolver:
    """The template resolved as CloudFormation would create it, physical ids made up in the right shapes."""
    template = load_template()
    roles = [name for name, spec in template["Resources"].items() if spec["Type"] == "AWS::IAM::Role"]
    return Resolver(
        template,
        {**PARAMETERS, **parameters},
        stack_name="salvo",
        region=REGION,
        account=ACCOUNT,
        refs={
            "ResultsBucket": "salvo-resultsbucket-1a2b3c4d5e6f",
            "LogGroup": LOG_GROUP,
            "Cluster": "salvo",
            "ExecutorKeysSecret": SECRET_ARNS["executor"],
            "ControllerKeysSecret": SECRET_ARNS["controller"],
            "ExecutorTaskDefinition": _task_definition_arn("salvo-executor"),
            "ControllerTaskDefinition": _task_definition_arn("salvo-controller"),
            "Schedule": "salvo-Schedule-ABC123",
        },
        attributes={
            ("Cluster", "Arn"): CLUSTER_ARN,
            ("ExecutorSecurityGroup", "GroupId"): "sg-0e0e0e0e0e0e0e0e0",
            ("ControllerSecurityGroup", "GroupId"): "sg-0c0c0c0c0c0c0c0c0",
            ("ResultsBucket", "Arn"): "arn:aws:s3:::salvo-resultsbucket-1a2b3c4d5e6f",
            **{(role, "Arn"): _role_arn(role) for role in roles},
        },
    )


@pytest.fixture(scope="module")
def stack() -> Resolver:
    return resolver()


@pytest.fixture(scope="module")
def rendered(tmp_path_factory) -> dict:
    """deploy/ecs's files rendered for the same bucket, prefix, secrets and log group."""
    return render_ecs(tmp_path_factory.mktemp("ecs"), LOG_GROUP=LOG_GROUP, IMAGE_TAG="0.1.0")


# --- linters -----------------------------------------------------------------------------------------


def _offline_env() -> dict[str, str]:
    """checkov with nothing to fetch: no platform mappings, no package scan, no telemetry, no update check."""
    return {
        "PATH": os.environ["PATH"],
        "HOME": os.environ.get("HOME", "/tmp"),
        "BC_SKIP_MAPPING": "TRUE",
        "CHECKOV_RUN_SCA_PACKAGE_SCAN_V2": "false",
        "CHECKOV_NO_GUIDE": "true",
        "SKIP_CHECKOV_UPDATE_CHECK": "true",
        "BC_API_KEY": "",
        "PRISMA_API_URL": "",
        "CHECKOV_TELEMETRY": "false",
    }


def test_cfn_lint_finds_nothing():
    result = subprocess.run([str(BIN / "cfn-lint"), str(TEMPLATE)], capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr


def _checkov() -> str:
    """checkov's own venv (scripts/install-checkov.sh; SALVO_TEST_CHECKOV names another), else one beside pytest."""
    for candidate in (os.environ.get("SALVO_TEST_CHECKOV"), "/opt/salvo-checkov/bin/checkov", str(BIN / "checkov")):
        if candidate and Path(candidate).is_file():
            return candidate
    if os.environ.get("SALVO_TEST_REQUIRE_CHECKOV"):  # .ci/run installs it: there it runs, never skips
        pytest.fail("SALVO_TEST_REQUIRE_CHECKOV is set but no checkov: run scripts/install-checkov.sh")
    pytest.skip("no checkov: run scripts/install-checkov.sh")


def test_checkov_finds_nothing_unjustified():
    result = subprocess.run(
        [
            _checkov(),
            "--file",
            str(TEMPLATE),
            "--framework",
            "cloudformation",
            "--skip-download",
            "--compact",
            "--quiet",
            "--output",
            "json",
        ],
        capture_output=True,
        text=True,
        timeout=300,
        env=_offline_env(),
    )
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
    summary = json.loads(result.stdout)["summary"]
    assert summary["failed"] == 0 and summary["parsing_errors"] == 0 and summary["passed"] > 50, summary


def test_every_checkov_skip_says_why():
    for name, resource in load_template()["Resources"].items():
        for skip in resource.get("Metadata", {}).get("checkov", {}).get("skip", []):
            assert skip["id"].startswith("CKV") and len(skip.get("comment", "")) > 20, (name, skip)


# --- IAM: the same least privilege as deploy/ecs -------------------------------------------------------


def _inline_policy(stack: Resolver, role: str) -> dict:
    (policy,) = stack.properties(role)["Policies"]
    return policy["PolicyDocument"]


@pytest.mark.parametrize(
    ("role", "policy_file"),
    [
        ("ExecutorExecutionRole", "executor-execution-role-policy.json"),
        ("ControllerExecutionRole", "controller-execution-role-policy.json"),
        ("ExecutorTaskRole", "executor-task-role-policy.json"),
    ],
)
def test_role_policy_is_deploy_ecs_policy(stack, rendered, role, policy_file):
    assert _inline_policy(stack, role) == rendered[policy_file]
    assert stack.properties(role)["AssumeRolePolicyDocument"] == rendered["ecs-tasks-trust-policy.json"]


def test_controller_task_role_is_deploy_ecs_policy_plus_denying_the_executors_keys(stack, rendered):
    """The same statements as deploy/ecs (its S3 and CloudWatch ones to the letter; its launch ones naming this
    stack's task definition, cluster and roles), and a Deny of the executors' secret."""
    policy = _inline_policy(stack, "ControllerTaskRole")
    reviewed = rendered["controller-task-role-policy.json"]["Statement"]
    assert [s["Sid"] for s in policy["Statement"]] == [s["Sid"] for s in reviewed] + ["NeverTheExecutorsKeys"]
    for mine, theirs in zip(policy["Statement"], reviewed, strict=False):  # all but the Deny, last
        if not str(theirs["Action"]).startswith(("ecs:", "iam:")):
            assert mine == theirs
        else:
            assert (mine["Effect"], mine["Action"]) == (theirs["Effect"], theirs["Action"])
            assert {k: set(v) for k, v in mine.get("Condition", {}).items()} == {
                k: set(v) for k, v in theirs.get("Condition", {}).items()
            }
    by_sid = {statement["Sid"]: statement for statement in policy["Statement"]}
    run = by_sid["LaunchExecutorTasksInTheCluster"]
    assert run["Resource"] == f"arn:aws:ecs:{REGION}:{ACCOUNT}:task-definition/salvo-executor:*"
    assert run["Condition"] == {"ArnEquals": {"ecs:cluster": CLUSTER_ARN}}
    assert by_sid["StopOnlySalvoTasksInTheCluster"]["Resource"] == f"arn:aws:ecs:{REGION}:{ACCOUNT}:task/salvo/*"
    passing = by_sid["PassTheExecutorRolesToEcs"]
    assert passing["Resource"] == [_role_arn("ExecutorTaskRole"), _role_arn("ExecutorExecutionRole")]
    assert passing["Condition"] == {"StringEquals": {"iam:PassedToService": "ecs-tasks.amazonaws.com"}}
    assert by_sid["NeverTheExecutorsKeys"]["Effect"] == "Deny"


def test_only_the_controller_side_may_read_the_controllers_secret(stack):
    """Every executor role is denied it; the controller's secret ARN is in no executor task definition."""
    controller_secret = SECRET_ARNS["controller"]
    for role in ("ExecutorExecutionRole", "ExecutorTaskRole"):
        statements = _inline_policy(stack, role)["Statement"]
        allowed = [s for s in statements if s["Effect"] == "Allow" and controller_secret in json.dumps(s)]
        denied = [s for s in statements if s["Effect"] == "Deny" and s["Resource"] == controller_secret]
        assert allowed == [] and len(denied) == 1, role
    assert controller_secret not in json.dumps(stack.properties("ExecutorTaskDefinition"))


# --- the tasks -------------------------------------------------------------------------------------------


def _register_input(stack: Resolver, logical_id: str) -> dict:
    return camel_case_keys(stack.properties(logical_id))


@pytest.mark.parametrize("side", ["executor", "controller"])
def test_task_definition_is_a_valid_register_task_definition_input(stack, side):
    assert ecs_problems("RegisterTaskDefinition", _register_input(stack, f"{side.title()}TaskDefinition")) == []


@pytest.mark.parametrize("side", ["executor", "controller"])
def test_task_definition_keeps_deploy_ecs_hardening(stack, rendered, side):
    """Read-only root, the three volumes, dropped capabilities, ulimits, ports, health check, logs."""
    ours = _register_input(stack, f"{side.title()}TaskDefinition")
    reviewed = rendered[f"{side}-task-definition.json"]
    for key in ("networkMode", "requiresCompatibilities", "runtimePlatform", "cpu", "memory", "volumes"):
        assert ours[key] == reviewed[key], key
    (container,), (reviewed_container,) = ours["containerDefinitions"], reviewed["containerDefinitions"]
    for key in (
        "name",
        "essential",
        "readonlyRootFilesystem",
        "linuxParameters",
        "mountPoints",
        "portMappings",
        "healthCheck",
        "stopTimeout",
        "ulimits",
        "logConfiguration",
    ):
        assert container.get(key) == reviewed_container.get(key), key
    assert [s["name"] for s in container["secrets"]] == [s["name"] for s in reviewed_container["secrets"]]
    assert ours["executionRoleArn"] == _role_arn(f"{side.title()}ExecutionRole")
    assert ours["taskRoleArn"] == _role_arn(f"{side.title()}TaskRole")


def _container_env(stack: Resolver, side: str) -> dict[str, str]:
    (container,) = _register_input(stack, f"{side.title()}TaskDefinition")["containerDefinitions"]
    store = {SECRET_ARNS[role]: keygen_role_json(role) for role in SECRET_ARNS}
    env = {item["name"]: item["value"] for item in container["environment"]}
    return {**env, **resolve_ecs_secrets(container, store)}


@pytest.mark.parametrize("side", ["executor", "controller"])
def test_container_starts_with_its_own_half_of_the_keys(stack, side):
    env = _container_env(stack, side)
    settings = start_settings(side, env)
    assert settings.key_mode() is KeyMode.SPLIT
    assert settings.link_keys() == (executor_keys() if side == "executor" else controller_keys())


LAUNCH_SETTINGS = (
    "SALVO_LAUNCH",
    "SALVO_LAUNCH_COUNT",
    "SALVO_LAUNCH_TASK_DEFINITION",
    "SALVO_LAUNCH_SUBNETS",
    "SALVO_LAUNCH_SECURITY_GROUPS",
    "SALVO_LAUNCH_CLUSTER",
)


def test_controller_launches_the_stacks_fleet(stack):
    env = _container_env(stack, "controller")
    assert {name: env[name] for name in LAUNCH_SETTINGS} == {
        "SALVO_LAUNCH": "ecs",
        "SALVO_LAUNCH_COUNT": "1",
        "SALVO_LAUNCH_CLUSTER": "salvo",
        "SALVO_LAUNCH_TASK_DEFINITION": _task_definition_arn("salvo-executor"),
        "SALVO_LAUNCH_SUBNETS": PARAMETERS["SubnetIds"],
        "SALVO_LAUNCH_SECURITY_GROUPS": "sg-0e0e0e0e0e0e0e0e0",
    }
    assert env["SALVO_EXPECTED_EXECUTORS"] == env["SALVO_LAUNCH_COUNT"]
    assert env["SALVO_RESULTS_URI"] == _container_env(stack, "executor")["SALVO_RESULTS_URI"]


def test_a_created_bucket_is_the_one_every_part_names():
    stack = resolver(BucketName="")
    bucket = "salvo-resultsbucket-1a2b3c4d5e6f"
    assert stack.created("ResultsBucket") and stack.created("ResultsBucketPolicy")
    assert _container_env(stack, "executor")["SALVO_SCENARIO_URI"] == f"s3://{bucket}/{PARAMETERS['ScenarioKey']}"
    assert f"arn:aws:s3:::{bucket}/" in json.dumps(_inline_policy(stack, "ControllerTaskRole"))
    assert stack.resolve(stack.template["Outputs"]["Bucket"]["Value"]) == bucket
    # an existing bucket is used as it is: its policy is its owner's
    assert not resolver().created("ResultsBucket") and not resolver().created("ResultsBucketPolicy")


def test_executor_cidrs_may_be_left_to_the_controllers_subnet():
    env = _container_env(resolver(ExecutorCidrs=""), "controller")
    assert "SALVO_EXECUTOR_CIDRS" not in env


def test_cluster_is_a_valid_create_cluster_input_with_both_fargate_providers(stack):
    cluster = camel_case_keys(stack.properties("Cluster"))
    cluster["settings"] = cluster.pop("clusterSettings")  # the one member CloudFormation names differently
    assert ecs_problems("CreateCluster", cluster) == []
    assert cluster["capacityProviders"] == ["FARGATE", "FARGATE_SPOT"]


# --- network ---------------------------------------------------------------------------------------------


def test_only_the_controllers_group_reaches_the_executors_two_ports(stack):
    settings = load(ExecutorSettings, _container_env(stack, "executor"))
    resources = stack.template["Resources"]
    assert "SecurityGroupIngress" not in stack.properties("ExecutorSecurityGroup")
    assert "SecurityGroupIngress" not in stack.properties("ControllerSecurityGroup")  # nothing calls it
    ingress = [
        stack.properties(name) for name, spec in resources.items() if spec["Type"] == "AWS::EC2::SecurityGroupIngress"
    ]
    assert ingress == [
        {
            "GroupId": "sg-0e0e0e0e0e0e0e0e0",
            "IpProtocol": "tcp",
            "FromPort": settings.command_port,
            "ToPort": settings.status_port,
            "SourceSecurityGroupId": "sg-0c0c0c0c0c0c0c0c0",
            "Description": "the controller's commands and status probes",
        }
    ]
    assert settings.status_port == settings.command_port + 1


# --- schedule ----------------------------------------------------------------------------------------------


def create_schedule_input(stack: Resolver) -> dict:
    """The Schedule's properties as a CreateSchedule call: the API spells one member awsvpcConfiguration."""
    schedule = {"Name": "salvo-Schedule-ABC123", **stack.properties("Schedule")}
    network = schedule["Target"]["EcsParameters"]["NetworkConfiguration"]
    network["awsvpcConfiguration"] = network.pop("AwsvpcConfiguration")
    return schedule


@pytest.mark.parametrize("expression", ["cron(0 3 * * ? *)", "at(2027-01-01T03:00:00)", "rate(1 day)"])
def test_schedule_is_a_valid_create_schedule_input_starting_only_the_controller(expression):
    stack = resolver(ScheduleExpression=expression)
    assert stack.created("Schedule") and stack.created("SchedulerRole")
    schedule = create_schedule_input(stack)
    assert service_problems("scheduler", "CreateSchedule", schedule) == []
    assert schedule["ScheduleExpression"] == expression
    target = schedule["Target"]
    assert (target["Arn"], target["RoleArn"]) == (CLUSTER_ARN, _role_arn("SchedulerRole"))
    ecs = target["EcsParameters"]
    assert (ecs["TaskDefinitionArn"], ecs["TaskCount"]) == (_task_definition_arn("salvo-controller"), 1)
    assert ecs["NetworkConfiguration"]["awsvpcConfiguration"] == {
        "Subnets": PARAMETERS["SubnetIds"].split(","),
        "SecurityGroups": ["sg-0c0c0c0c0c0c0c0c0"],
        "AssignPublicIp": "DISABLED",
    }
    (run, passing) = _inline_policy(stack, "SchedulerRole")["Statement"]
    assert (run["Action"], run["Resource"]) == ("ecs:RunTask", ecs["TaskDefinitionArn"])
    assert passing["Resource"] == [_role_arn("ControllerTaskRole"), _role_arn("ControllerExecutionRole")]


def test_no_schedule_by_default(stack):
    assert not stack.created("Schedule") and not stack.created("SchedulerRole")


def test_the_check_rejects_a_broken_schedule():
    schedule = create_schedule_input(resolver(ScheduleExpression="rate(1 day)"))
    schedule["Target"]["EcsParameters"]["LaunchType"] = "FARGATE_SPOT"  # a capacity provider, not a launch type
    assert "LaunchType" in service_problems("scheduler", "CreateSchedule", schedule)[0]


# --- parameters ----------------------------------------------------------------------------------------------


def test_key_halves_are_noecho_and_go_only_to_their_secret():
    template = load_template()
    for parameter, secret in (("ExecutorKeys", "ExecutorKeysSecret"), ("ControllerKeys", "ControllerKeysSecret")):
        assert template["Parameters"][parameter]["NoEcho"] is True
        users = [name for name, spec in template["Resources"].items() if {"Ref": parameter} in _nodes(spec)]
        assert users == [secret], parameter
        assert {"Ref": parameter} not in _nodes(template["Outputs"]) + _nodes(template.get("Metadata", {}))


def _nodes(value) -> list:
    """Every dict and list inside `value`, itself included."""
    if isinstance(value, dict):
        return [value] + [node for item in value.values() for node in _nodes(item)]
    if isinstance(value, list):
        return [value] + [node for item in value for node in _nodes(item)]
    return []


def test_the_largest_fleet_the_stack_allows_is_one_the_controller_accepts(stack):
    env = _container_env(resolver(FleetSize="2000"), "controller")
    start_settings("controller", env)
    assert int(stack.template["Parameters"]["FleetSize"]["MaxValue"]) == int(env["SALVO_MAX_EXECUTORS"])


@pytest.mark.parametrize(
    "bucket", ["abc", "my-results.bucket", "a" * 63, "ab", "a" * 64, "Upper", "-lead", "trail-", "under_score"]
)
def test_the_bucket_parameter_takes_the_names_salvo_takes(bucket):
    """The template's AllowedPattern is the CloudFormation spelling of S3Location's one bucket rule."""
    pattern = load_template()["Parameters"]["BucketName"]["AllowedPattern"]
    try:
        S3Location.parse(f"s3://{bucket}/key")
        salvo_takes = True
    except ValueError:
        salvo_takes = False
    assert (re.fullmatch(pattern, bucket) is not None) == salvo_takes
