"""deploy/ecs/run.sh run, with an `aws` command on PATH that records its calls instead of reaching AWS.

The recorded calls are turned back into API parameters and checked against botocore's ECS
model (RegisterTaskDefinition, RunTask); the `--query` expressions are evaluated with
JMESPath on a response of the API's shape and printed as the CLI's text output would.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.deploy import RUN_SCRIPT, ecs_problems, script_env

FAKE_AWS = r'''#!{python}
"""Records each call (and the registered task definition) as a JSON line; answers like the AWS CLI."""
import itertools, json, os, sys
import jmespath

args = sys.argv[1:]
option = lambda name: args[args.index(name) + 1]
call = {"args": args}
log = os.environ["FAKE_AWS_LOG"]
if args[:2] == ["ecs", "register-task-definition"]:
    with open(option("--cli-input-json").removeprefix("file://")) as source:
        call["input"] = json.load(source)
    family = call["input"]["family"]
    response = {"taskDefinition": {"taskDefinitionArn": f"arn:aws:ecs:eu-west-1:111122223333:task-definition/{family}:7"}}
elif args[:2] == ["ecs", "run-task"]:
    with open(log) as previous:
        started = sum(1 for line in previous if '"run-task"' in line)
    count = int(option("--count"))
    fail = started + 1 == int(os.environ.get("FAKE_AWS_FAIL_CALL", "0"))
    tasks = [] if fail else [{"taskArn": f"arn:aws:ecs:eu-west-1:111122223333:task/c/{started}-{i}"} for i in range(count)]
    failures = [{"reason": "RESOURCE:ENI"}] * count if fail else []
    response = {"tasks": tasks, "failures": failures}
elif args[:2] == ["ecs", "stop-task"]:
    response = {"task": {"taskArn": option("--task")}}
else:
    sys.exit(f"fake aws: unexpected call {args}")
with open(log, "a") as out:
    out.write(json.dumps(call) + "\n")
result = jmespath.search(option("--query"), response)
# The CLI's text output: scalars as they are, a list of scalars tab-separated on one line.
print("\t".join(str(item) for item in result) if isinstance(result, list) else result)
'''


@pytest.fixture
def fake_aws(tmp_path) -> Path:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    aws = bin_dir / "aws"
    aws.write_text(FAKE_AWS.replace("{python}", sys.executable))
    aws.chmod(0o755)
    return bin_dir


def run_script(fake_aws: Path, tmp_path: Path, **extra: str) -> tuple[subprocess.CompletedProcess, list[dict]]:
    log = tmp_path / "calls.jsonl"
    log.touch()
    env = script_env(**{
        "CLUSTER": "loadtests", "SUBNETS": "subnet-0a1b,subnet-0c2d", "SECURITY_GROUPS": "sg-0e3f",
        "RUN_ID": "checkout-1", "FAKE_AWS_LOG": str(log), **extra,
    })
    env["PATH"] = f"{fake_aws}:{env['PATH']}"
    result = subprocess.run(["bash", str(RUN_SCRIPT), "run"], env=env, capture_output=True, text=True, timeout=60)
    return result, [json.loads(line) for line in log.read_text().splitlines()]


def run_task_params(args: list[str]) -> dict:
    """The RunTask parameters the AWS CLI would send for these arguments."""
    option = {flag: args[i + 1] for i, flag in enumerate(args) if flag.startswith("--")}
    params = {
        "cluster": option["--cluster"], "taskDefinition": option["--task-definition"], "count": int(option["--count"]),
        "launchType": option["--launch-type"], "platformVersion": option["--platform-version"],
        "startedBy": option["--started-by"], "networkConfiguration": json.loads(option["--network-configuration"]),
    }
    if "--overrides" in option:
        params["overrides"] = json.loads(option["--overrides"])
    return params


def test_run_registers_both_then_starts_the_fleet_before_the_controller(fake_aws, tmp_path):
    result, calls = run_script(fake_aws, tmp_path, EXECUTORS="23")
    assert result.returncode == 0, result.stderr

    registered = [call for call in calls if call["args"][1] == "register-task-definition"]
    assert [call["input"]["family"] for call in registered] == ["salvo-executor", "salvo-controller"]
    for call in registered:
        assert ecs_problems("RegisterTaskDefinition", call["input"]) == []

    runs = [run_task_params(call["args"]) for call in calls if call["args"][1] == "run-task"]
    for params in runs:
        assert ecs_problems("RunTask", params) == []
        assert params["networkConfiguration"]["awsvpcConfiguration"] == {
            "subnets": ["subnet-0a1b", "subnet-0c2d"], "securityGroups": ["sg-0e3f"], "assignPublicIp": "DISABLED",
        }
    *executors, controller = runs
    assert [params["count"] for params in executors] == [10, 10, 3]  # ECS starts at most 10 per call
    assert {params["taskDefinition"] for params in executors} == {
        "arn:aws:ecs:eu-west-1:111122223333:task-definition/salvo-executor:7"}
    assert controller["taskDefinition"].endswith("task-definition/salvo-controller:7")
    assert controller["count"] == 1
    (override,) = controller["overrides"]["containerOverrides"]
    assert override["name"] == "controller"
    assert {item["name"]: item["value"] for item in override["environment"]} == {
        "SALVO_EXPECTED_EXECUTORS": "23", "SALVO_RUN_ID": "checkout-1"}
    assert result.stdout.strip() == "arn:aws:ecs:eu-west-1:111122223333:task/c/3-0"
    assert "s3://my-loadtests/results/checkout-1/report.html" in result.stderr


def test_a_batch_that_cannot_start_stops_the_started_executors(fake_aws, tmp_path):
    result, calls = run_script(fake_aws, tmp_path, EXECUTORS="15", FAKE_AWS_FAIL_CALL="2")
    assert result.returncode == 1
    assert "could not start 5 of 5 tasks" in result.stderr
    stopped = [call["args"][call["args"].index("--task") + 1] for call in calls if call["args"][1] == "stop-task"]
    assert stopped == [f"arn:aws:ecs:eu-west-1:111122223333:task/c/0-{i}" for i in range(10)]
    assert not any("salvo-controller" in json.dumps(call["args"]) for call in calls if call["args"][1] == "run-task")


@pytest.mark.parametrize(("extra", "message"), [
    ({"EXECUTORS": "0"}, "EXECUTORS=0 is not a positive number"),
    ({"EXECUTORS": "3", "ASSIGN_PUBLIC_IP": "yes"}, "ASSIGN_PUBLIC_IP=yes"),
    ({"EXECUTORS": "3", "RUN_ID": "a/b"}, "RUN_ID=a/b"),
    ({}, "EXECUTORS is not set"),
])
def test_run_refuses_bad_settings_before_calling_aws(fake_aws, tmp_path, extra, message):
    result, calls = run_script(fake_aws, tmp_path, **extra)
    assert result.returncode == 2
    assert message in result.stderr
    assert calls == []


def test_help_names_every_variable_the_script_reads():
    result = subprocess.run(["bash", str(RUN_SCRIPT), "--help"], capture_output=True, text=True, timeout=30)
    assert result.returncode == 0
    script = RUN_SCRIPT.read_text()
    for name in ("CLUSTER", "SUBNETS", "SECURITY_GROUPS", "EXECUTORS", "ASSIGN_PUBLIC_IP", "RUN_ID",
                 *script.split("PLACEHOLDERS=(", 1)[1].split(")", 1)[0].split()):
        assert f"\n  {name} " in result.stdout, name
