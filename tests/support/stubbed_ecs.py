"""An ECS that answers from a plan: botocore's Stubber on a real ECS client (moto's RunTask cannot start awsvpc tasks).

moto 5.2's RunTask fails (500) for a task with a network configuration, so it never
gives a task an ENI or an address, and it never returns `failures`. The Stubber
checks every request against botocore's ECS model (parameter names, types, limits)
and every planned response against the model's output shape; each call made is
recorded. Helpers build the responses: `run_task_ok`, `run_task_failures`,
`describe_with_addresses`, `listed`, `stop_ok`, `error`.

As a process, it runs `salvo controller` with the launcher's ECS client replaced:

    python -m tests.support.stubbed_ecs PLAN.json RECORD.json

and says `stubbed ECS answered <Operation>` on stderr after each call.

PLAN.json is a list of {"operation", "response"} or {"operation", "error": {"code", "message"}};
RECORD.json receives [{"operation", "params"}] of the calls made, when the controller ends.
"""

from __future__ import annotations

import json
import sys
from typing import Any

import botocore.session
from botocore.stub import Stubber

CLUSTER_ARN = "arn:aws:ecs:us-east-1:111122223333:cluster/loadtests"


def task_arn(number: int) -> str:
    return f"arn:aws:ecs:us-east-1:111122223333:task/loadtests/{number:032x}"


def run_task_ok(first: int, count: int) -> dict:
    return {
        "operation": "RunTask",
        "response": {
            "tasks": [
                {"taskArn": task_arn(first + n), "clusterArn": CLUSTER_ARN, "lastStatus": "PROVISIONING"}
                for n in range(count)
            ],
            "failures": [],
        },
    }


def run_task_failures(first: int, started: int, reasons: list[str]) -> dict:
    """`started` tasks, and one failure per reason (ECS answers 200 with a `failures` list)."""
    planned = run_task_ok(first, started)
    planned["response"]["failures"] = [{"reason": reason} for reason in reasons]
    return planned


def describe_with_addresses(tasks: dict[int, str], stopped: dict[int, str] | None = None) -> dict:
    """DescribeTasks: each task number with its private IPv4 address in its ENI attachment's details."""
    described = [
        {
            "taskArn": task_arn(number),
            "clusterArn": CLUSTER_ARN,
            "lastStatus": "RUNNING",
            "attachments": [
                {
                    "id": f"eni-attach-{number}",
                    "type": "ElasticNetworkInterface",
                    "status": "ATTACHED",
                    "details": [
                        {"name": "subnetId", "value": "subnet-0a1b"},
                        {"name": "networkInterfaceId", "value": f"eni-{number:08x}"},
                        {"name": "privateIPv4Address", "value": address},
                    ],
                }
            ],
        }
        for number, address in tasks.items()
    ]
    for number, reason in (stopped or {}).items():
        described.append(
            {
                "taskArn": task_arn(number),
                "clusterArn": CLUSTER_ARN,
                "lastStatus": "STOPPED",
                "stoppedReason": reason,
                "attachments": [],
            }
        )
    return {"operation": "DescribeTasks", "response": {"tasks": described, "failures": []}}


def listed(numbers: range | list[int]) -> dict:
    """ListTasks by startedBy: the tasks of the run ECS knows of (before the final StopTasks)."""
    return {"operation": "ListTasks", "response": {"taskArns": [task_arn(n) for n in numbers]}}


def stop_ok(number: int) -> dict:
    return {
        "operation": "StopTask",
        "response": {"task": {"taskArn": task_arn(number), "lastStatus": "RUNNING", "desiredStatus": "STOPPED"}},
    }


def error(operation: str, code: str, message: str) -> dict:
    return {"operation": operation, "error": {"code": code, "message": message}}


def _snake(operation: str) -> str:
    return "".join(f"_{c.lower()}" if c.isupper() else c for c in operation).lstrip("_")


class StubbedEcs:
    """A botocore ECS client answering `plan` in order; `calls` records (operation, params) of each request."""

    def __init__(self, plan: list[dict]):
        session = botocore.session.get_session()
        self.client = session.create_client(
            "ecs", region_name="us-east-1", aws_access_key_id="testing", aws_secret_access_key="testing"
        )
        self.calls: list[dict] = []
        self.client.meta.events.register("before-parameter-build.ecs", self._record)
        self.stubber = Stubber(self.client)
        for step in plan:
            method = _snake(step["operation"])
            if "error" in step:
                self.stubber.add_client_error(method, step["error"]["code"], step["error"]["message"])
            else:
                self.stubber.add_response(method, step["response"])
        self.stubber.activate()

    def _record(self, params: dict, model: Any, **_: Any) -> None:
        self.calls.append({"operation": model.name, "params": json.loads(json.dumps(params, default=str))})

    def operations(self) -> list[str]:
        return [call["operation"] for call in self.calls]


def main(argv: list[str]) -> int:
    plan_path, record_path = argv
    with open(plan_path) as source:
        ecs = StubbedEcs(json.load(source))
    # each call answered, as a line on stderr: tests act on it (a SIGTERM once the tasks were described)
    ecs.client.meta.events.register(
        "after-call.ecs", lambda model, **_: print(f"stubbed ECS answered {model.name}", file=sys.stderr, flush=True)
    )

    import salvo.controller.launch as launch
    from salvo.cli import main as salvo_main

    production = launch.ecs_launcher
    launch.ecs_launcher = lambda settings, run_id, clock: production(  # the one part replaced: the ECS client
        settings, run_id, clock, client_factory=lambda region: ecs.client
    )
    try:
        return salvo_main(["controller"])
    finally:
        with open(record_path, "w") as out:
            json.dump(ecs.calls, out)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))


def controller_task(status: str, exit_code: int | None = None, reason: str | None = None) -> dict:
    """DescribeTasks of the controller task (task number 999), with its container's exit code once stopped."""
    container = {"name": "controller", "lastStatus": status}
    if exit_code is not None:
        container["exitCode"] = exit_code
    if reason is not None:
        container["reason"] = reason
    task = {"taskArn": task_arn(999), "clusterArn": CLUSTER_ARN, "lastStatus": status, "containers": [container]}
    if status == "STOPPED":
        task["stoppedReason"] = reason or "Essential container in task exited"
    return {"operation": "DescribeTasks", "response": {"tasks": [task], "failures": []}}


def controller_definition(log_group: str = "/ecs/salvo") -> dict:
    """DescribeTaskDefinition of salvo-controller, logging to `log_group` with the template's stream prefix."""
    return {
        "operation": "DescribeTaskDefinition",
        "response": {
            "taskDefinition": {
                "taskDefinitionArn": "arn:aws:ecs:us-east-1:111122223333:task-definition/salvo-controller:7",
                "family": "salvo-controller",
                "containerDefinitions": [
                    {
                        "name": "controller",
                        "image": "salvo-controller:0.1.0",
                        "logConfiguration": {
                            "logDriver": "awslogs",
                            "options": {
                                "awslogs-group": log_group,
                                "awslogs-region": "us-east-1",
                                "awslogs-stream-prefix": "salvo",
                            },
                        },
                    }
                ],
            }
        },
    }
