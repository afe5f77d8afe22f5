"""deploy/ecs/run.sh run, with `aws` and `salvo` commands on PATH that record their calls instead of reaching AWS.

The recorded registrations are checked against botocore's ECS model (RegisterTaskDefinition);
the `--query` expressions are evaluated with JMESPath on a response of the API's shape and
printed as the CLI's text output would. `salvo launch` (tested on its own in
tests/integration/test_launch_verb.py) is recorded with the SALVO_* environment it is given,
which is then loaded as the controller's settings.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from salvo.common.settings import load
from salvo.controller.settings import ControllerSettings
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
    arn = f"arn:aws:ecs:eu-west-1:111122223333:task-definition/{family}:7"
    response = {"taskDefinition": {"taskDefinitionArn": arn}}
else:
    sys.exit(f"fake aws: unexpected call {args}")
with open(log, "a") as out:
    out.write(json.dumps(call) + "\n")
result = jmespath.search(option("--query"), response)
# The CLI's text output: scalars as they are, a list of scalars tab-separated on one line.
print("\t".join(str(item) for item in result) if isinstance(result, list) else result)
'''


FAKE_SALVO = r'''#!{python}
"""Records `salvo launch`'s arguments and SALVO_* environment; exits as the controller would (FAKE_SALVO_EXIT)."""
import json, os, sys

with open(os.environ["FAKE_AWS_LOG"], "a") as out:
    out.write(json.dumps({"salvo": sys.argv[1:], "env": {k: v for k, v in os.environ.items()
                                                         if k.startswith(("SALVO_", "AWS_REGION"))}}) + "\n")
sys.exit(int(os.environ.get("FAKE_SALVO_EXIT", "0")))
'''


@pytest.fixture
def fake_aws(tmp_path) -> Path:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for name, text in (("aws", FAKE_AWS), ("salvo", FAKE_SALVO)):
        command = bin_dir / name
        command.write_text(text.replace("{python}", sys.executable))
        command.chmod(0o755)
    return bin_dir


def run_script(fake_aws: Path, tmp_path: Path, **extra: str) -> tuple[subprocess.CompletedProcess, list[dict]]:
    log = tmp_path / "calls.jsonl"
    log.touch()
    env = script_env(
        **{
            "CLUSTER": "loadtests",
            "SUBNETS": "subnet-0a1b,subnet-0c2d",
            "SECURITY_GROUPS": "sg-0e3f",
            "RUN_ID": "checkout-1",
            "FAKE_AWS_LOG": str(log),
            **extra,
        }
    )
    env["PATH"] = f"{fake_aws}:{env['PATH']}"
    result = subprocess.run(["bash", str(RUN_SCRIPT), "run"], env=env, capture_output=True, text=True, timeout=60)
    return result, [json.loads(line) for line in log.read_text().splitlines()]


def test_run_registers_both_then_salvo_launch_starts_the_controller_which_launches_the_fleet(fake_aws, tmp_path):
    result, calls = run_script(fake_aws, tmp_path, EXECUTORS="23", CAPACITY="FARGATE_SPOT")
    assert result.returncode == 0, result.stderr

    registered = [call for call in calls if "args" in call]
    assert [call["input"]["family"] for call in registered] == ["salvo-executor", "salvo-controller"]
    for call in registered:
        assert ecs_problems("RegisterTaskDefinition", call["input"]) == []

    (launch,) = [call for call in calls if "salvo" in call]
    assert launch["salvo"] == [
        "launch",
        "--count",
        "23",
        "--run-id",
        "checkout-1",
        "--task-definition",
        "arn:aws:ecs:eu-west-1:111122223333:task-definition/salvo-controller:7",
    ]
    assert launch["env"] == {
        "AWS_REGION": "eu-west-1",
        "SALVO_LAUNCH_CLUSTER": "loadtests",
        "SALVO_LAUNCH_TASK_DEFINITION": "arn:aws:ecs:eu-west-1:111122223333:task-definition/salvo-executor:7",
        "SALVO_LAUNCH_SUBNETS": "subnet-0a1b,subnet-0c2d",
        "SALVO_LAUNCH_SECURITY_GROUPS": "sg-0e3f",
        "SALVO_LAUNCH_CAPACITY": "FARGATE_SPOT",
        "SALVO_LAUNCH_ASSIGN_PUBLIC_IP": "false",
    }
    # what salvo launch is given is a valid launch for the controller's settings
    settings = load(
        ControllerSettings,
        {
            **launch["env"],
            "SALVO_LAUNCH": "ecs",
            "SALVO_LAUNCH_COUNT": "23",
            "SALVO_RESULTS_URI": "s3://my-loadtests/results/",
        },
    )
    assert settings.expected_executors == 23 and settings.launch_subnets == ("subnet-0a1b", "subnet-0c2d")
    assert "s3://my-loadtests/results/checkout-1/report.html" in result.stderr


def test_run_exits_with_the_runs_exit_code(fake_aws, tmp_path):
    result, _ = run_script(fake_aws, tmp_path, EXECUTORS="3", FAKE_SALVO_EXIT="3")
    assert result.returncode == 3


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        ({"EXECUTORS": "0"}, "EXECUTORS=0 is not a positive number"),
        ({"EXECUTORS": "3", "ASSIGN_PUBLIC_IP": "yes"}, "ASSIGN_PUBLIC_IP=yes"),
        ({"EXECUTORS": "3", "RUN_ID": "a/b"}, "RUN_ID=a/b"),
        ({}, "EXECUTORS is not set"),
    ],
)
def test_run_refuses_bad_settings_before_calling_aws(fake_aws, tmp_path, extra, message):
    result, calls = run_script(fake_aws, tmp_path, **extra)
    assert result.returncode == 2
    assert message in result.stderr
    assert calls == []


def test_help_names_every_variable_the_script_reads():
    result = subprocess.run(["bash", str(RUN_SCRIPT), "--help"], capture_output=True, text=True, timeout=30)
    assert result.returncode == 0
    script = RUN_SCRIPT.read_text()
    for name in (
        "CLUSTER",
        "SUBNETS",
        "SECURITY_GROUPS",
        "EXECUTORS",
        "ASSIGN_PUBLIC_IP",
        "CAPACITY",
        "RUN_ID",
        *script.split("PLACEHOLDERS=(", 1)[1].split(")", 1)[0].split(),
    ):
        assert f"\n  {name} " in result.stdout, name
