"""`salvo launch`: start the controller task on ECS, stream its log, wait for it, exit with its exit code.

From a laptop or a CI job: one RunTask of the controller's task definition with
SALVO_LAUNCH=ecs and the SALVO_LAUNCH_* settings as container overrides (the
controller then starts, runs and stops its own executors), its CloudWatch log
stream followed (the stream's name comes from the task definition's awslogs
options), and the container's exit code returned: the run's verdict.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TextIO

from botocore.exceptions import BotoCoreError, ClientError

from salvo.common.clock import Clock
from salvo.common.errors import ConfigError, ExitCode, SalvoError
from salvo.common.logs import readable
from salvo.controller.launch import error_line, failure_reason, task_id
from salvo.controller.launch_settings import LaunchPlan
from salvo.controller.settings import ControllerSettings

log = logging.getLogger(__name__)

POLL_SECONDS = 2.0
LOG_PAGES_PER_POLL = 20  # GetLogEvents returns at most 10,000 events a page; a long backlog is read over a few polls


class ControllerNotStarted(SalvoError):
    """ECS did not start the controller task, or it stopped without running the controller.

    The message gives ECS's reason: fix the task definition, the cluster, the subnets or
    the permissions it names (docs/launch.md lists what `salvo launch` needs). No load was started.
    """

    exit_code = ExitCode.SCENARIO


@dataclass(frozen=True)
class LogStream:
    group: str
    name: str

    def __str__(self) -> str:
        return f"{self.group} {self.name}"


def controller_overrides(settings: ControllerSettings, run_id: str, extra: dict[str, str]) -> dict[str, str]:
    """The controller's environment overrides: launch its own fleet, as this verb's settings say."""
    s = settings
    environment = {
        "SALVO_LAUNCH": "ecs",
        "SALVO_LAUNCH_COUNT": str(s.launch_count),
        "SALVO_LAUNCH_CLUSTER": s.launch_cluster,
        "SALVO_LAUNCH_TASK_DEFINITION": s.launch_task_definition,
        "SALVO_LAUNCH_SUBNETS": ",".join(s.launch_subnets),
        "SALVO_LAUNCH_CAPACITY": str(s.launch_capacity),
        "SALVO_LAUNCH_ASSIGN_PUBLIC_IP": "true" if s.launch_assign_public_ip else "false",
        "SALVO_EXPECTED_EXECUTORS": str(s.expected_executors),
        "SALVO_RUN_ID": run_id,
    }
    if s.launch_security_groups:
        environment["SALVO_LAUNCH_SECURITY_GROUPS"] = ",".join(s.launch_security_groups)
    if s.min_executors is not None:
        environment["SALVO_MIN_EXECUTORS"] = str(s.min_executors)
    if s.launch_regions:
        environment["SALVO_LAUNCH_REGIONS"] = ",".join(f"{share.region}:{share.count}" for share in s.launch_regions)
    return {**environment, **extra}


@dataclass
class RemoteRun:
    """One controller task: started, followed, its exit code read. `ecs` and `logs` are boto3 clients."""

    ecs: Any
    logs: Any
    settings: ControllerSettings
    run_id: str
    task_definition: str
    container: str
    clock: Clock
    out: TextIO = sys.stdout
    extra_environment: dict[str, str] = field(default_factory=dict)
    # The controller task's own security groups (default: the executors', SALVO_LAUNCH_SECURITY_GROUPS). A
    # deployment whose executors admit only a controller group (deploy/cloudformation) names that group here.
    controller_security_groups: tuple[str, ...] = ()
    task_arn: str | None = None
    stream: LogStream | None = None
    _token: str | None = None
    _stop_requested: str | None = None
    _stop_sent: bool = False

    def start(self) -> str:
        """RunTask of the controller (plain FARGATE: the run's referee is not put on Spot capacity)."""
        s = self.settings
        environment = controller_overrides(s, self.run_id, self.extra_environment)
        plan = self._home_plan()
        network = {
            "subnets": list(plan.subnets),
            "assignPublicIp": "ENABLED" if s.launch_assign_public_ip else "DISABLED",
        }
        groups = self.controller_security_groups or plan.security_groups
        if groups:
            network["securityGroups"] = list(groups)
        try:
            definition = self.ecs.describe_task_definition(taskDefinition=self.task_definition)["taskDefinition"]
            self.stream = self._log_stream(definition)
            response = self.ecs.run_task(
                cluster=s.launch_cluster,
                taskDefinition=definition["taskDefinitionArn"],
                count=1,
                launchType="FARGATE",
                startedBy=f"salvo-{self.run_id}"[:128],
                networkConfiguration={"awsvpcConfiguration": network},
                tags=[{"key": "salvo:run-id", "value": self.run_id}],
                overrides={
                    "containerOverrides": [
                        {
                            "name": self.container,
                            "environment": [{"name": name, "value": value} for name, value in environment.items()],
                        }
                    ]
                },
            )
        except (ClientError, BotoCoreError) as exc:
            raise ControllerNotStarted(
                f"the controller task ({self.task_definition}) was not started: {error_line(exc)}"
            ) from None
        if not response.get("tasks"):
            reasons = ", ".join(failure_reason(f) for f in response.get("failures", [])) or "no reason given"
            raise ControllerNotStarted(f"ECS did not start the controller task ({self.task_definition}): {reasons}")
        self.task_arn = response["tasks"][0]["taskArn"]
        if self.stream is not None:
            self.stream = LogStream(self.stream.group, self.stream.name + task_id(self.task_arn))
        log.info(
            "run %s: controller task %s on %s, launching %d executor(s); log: %s",
            self.run_id,
            task_id(self.task_arn),
            s.launch_cluster,
            s.launch_count,
            self.stream or "no awslogs configuration",
        )
        return self.task_arn

    def _home_plan(self) -> LaunchPlan:
        """The controller runs in the region this verb's ECS client uses, in that region's subnets."""
        plans = self.settings.launch_plans()
        if not self.settings.launch_regions:
            return plans[0]
        region = self.ecs.meta.region_name
        for plan in plans:
            if plan.region == region:
                return plan
        raise ConfigError(
            f"AWS_REGION={region} is not one of SALVO_LAUNCH_REGIONS: the controller runs in one of "
            "the fleet's regions, in its subnets"
        )

    def _log_stream(self, definition: dict) -> LogStream | None:
        """awslogs names a task's stream PREFIX/CONTAINER/TASK-ID (the task id is appended once known)."""
        for container in definition.get("containerDefinitions", []):
            if container.get("name") != self.container:
                continue
            config = container.get("logConfiguration") or {}
            options = config.get("options") or {}
            if (
                config.get("logDriver") == "awslogs"
                and "awslogs-group" in options
                and "awslogs-stream-prefix" in options
            ):
                return LogStream(options["awslogs-group"], f"{options['awslogs-stream-prefix']}/{self.container}/")
            return None
        raise ControllerNotStarted(
            f"the task definition {self.task_definition} has no container named {self.container!r} (--container)"
        )

    def request_stop(self, why: str) -> None:
        """A signal to this verb (CI cancelled the job): the controller task is stopped; it stops its fleet."""
        self._stop_requested = why

    def follow(self) -> int:
        """Print the controller's log until its task stops; its container's exit code."""
        while True:
            if self._stop_requested and not self._stop_sent:
                self._stop_controller()
            task = self._describe()
            self._print_log()
            if task is not None and task.get("lastStatus") == "STOPPED":
                self._print_log()  # what the container wrote last may reach CloudWatch after the task stopped
                return self._exit_code(task)
            self.clock.sleep(POLL_SECONDS)

    def _stop_controller(self) -> None:
        self._stop_sent = True
        log.warning(
            "%s: stopping the controller task %s (it stops its executors and reports)",
            self._stop_requested,
            task_id(self.task_arn),
        )
        try:
            self.ecs.stop_task(
                cluster=self.settings.launch_cluster,
                task=self.task_arn,
                reason=f"salvo launch: {self._stop_requested}"[:255],
            )
        except (ClientError, BotoCoreError) as exc:
            log.error(
                "StopTask of the controller failed: %s; stop it by hand: aws ecs stop-task --cluster %s --task %s",
                error_line(exc),
                self.settings.launch_cluster,
                task_id(self.task_arn),
            )

    def _describe(self) -> dict | None:
        try:
            tasks = self.ecs.describe_tasks(cluster=self.settings.launch_cluster, tasks=[self.task_arn])["tasks"]
        except (ClientError, BotoCoreError) as exc:  # asked again at the next poll
            log.warning("DescribeTasks failed: %s", error_line(exc))
            return None
        return tasks[0] if tasks else None

    def _print_log(self) -> None:
        if self.stream is None:
            return
        for _ in range(LOG_PAGES_PER_POLL):
            request = {"logGroupName": self.stream.group, "logStreamName": self.stream.name, "startFromHead": True}
            if self._token:
                request["nextToken"] = self._token
            try:
                page = self.logs.get_log_events(**request)
            except ClientError as exc:
                if exc.response.get("Error", {}).get("Code") != "ResourceNotFoundException":
                    log.warning("GetLogEvents failed: %s", error_line(exc))
                return  # the stream appears when the container starts
            except BotoCoreError as exc:
                log.warning("GetLogEvents failed: %s", error_line(exc))
                return
            for event in page.get("events", []):
                print(readable(event["message"]), file=self.out, flush=True)  # the task logs JSON lines
            token = page.get("nextForwardToken")
            if not page.get("events") or token == self._token:
                self._token = token or self._token
                return
            self._token = token

    def _exit_code(self, task: dict) -> int:
        container = next((c for c in task.get("containers", []) if c.get("name") == self.container), {})
        code = container.get("exitCode")
        if code is None:
            reason = container.get("reason") or task.get("stoppedReason") or "no reason given"
            raise ControllerNotStarted(
                f"the controller task {task_id(self.task_arn)} stopped without running the controller: {reason}"
            )
        log.info("run %s: the controller exited %d", self.run_id, code)
        return int(code)


def launch_and_follow(
    remote: RemoteRun, install_signals: Callable[[Callable[[int], None]], None], follow: bool = True
) -> int:
    """Start the controller task; unless `follow` is off, stream its log and return its exit code."""
    import signal

    remote.start()
    print(remote.task_arn, file=remote.out, flush=True)
    if not follow:
        return 0
    install_signals(lambda signum: remote.request_stop(f"{signal.Signals(signum).name} received"))
    return remote.follow()
