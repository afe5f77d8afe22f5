"""The controller starts its own fleet (SALVO_LAUNCH=ecs): RunTask, addresses from DescribeTasks, StopTask at the end.

ECS starts at most 10 tasks per RunTask call, so a fleet is started in batches;
throttling and capacity shortfalls are retried (tenacity), each retry in one
subnet after another, so a zone out of capacity is not asked again and again. Each task's private
IPv4 address is read from its ENI attachment, so discovery probes exactly the
tasks started and nothing else. Every task this controller started is stopped
when it ends, however it ends.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from botocore.exceptions import BotoCoreError, ClientError, HTTPClientError
from botocore.exceptions import ConnectionError as BotoConnectionError
from tenacity import Retrying, retry_if_exception, stop_after_attempt, wait_random_exponential

from salvo.common.clock import Clock
from salvo.common.errors import ExitCode, SalvoError
from salvo.controller.launch_settings import LaunchPlan
from salvo.controller.settings import ControllerSettings

log = logging.getLogger(__name__)

RUN_TASK_MAX_COUNT = 10  # ECS's limit per RunTask call
DESCRIBE_TASKS_MAX = 100  # ECS's limit per DescribeTasks call
RUN_TASK_ATTEMPTS = 5
STOP_TASK_ATTEMPTS = 5
DESCRIBE_EVERY_SECONDS = 2.0  # discovery asks every 0.5 s; DescribeTasks of a large fleet need not be that often
# API errors worth another try: the request was refused for rate or a passing fault, not for what it asked.
RETRYABLE_ERRORS = {
    "ThrottlingException",
    "Throttling",
    "TooManyRequestsException",
    "RequestLimitExceeded",
    "ServerException",
    "ServiceUnavailableException",
    "InternalFailure",
}
# RunTask `failures` reasons that may pass: no capacity in that zone now, an ENI or agent not yet there.
RETRYABLE_FAILURE_WORDS = ("capacity", "resource:eni", "resource:memory", "resource:cpu", "agent", "throttl")


class LaunchFailed(SalvoError):
    """The controller could not start enough executor tasks for the quorum (SALVO_LAUNCH=ecs); it stopped the ones
    it started and no load was started.

    The message names ECS's failure reasons. RESOURCE:* or capacity unavailable: ask
    for fewer tasks, other subnets (availability zones) or SALVO_LAUNCH_CAPACITY=FARGATE;
    an AccessDenied: give the controller's task role the launch permissions (docs/launch.md);
    a task definition or subnet that is not found: fix SALVO_LAUNCH_TASK_DEFINITION or SALVO_LAUNCH_SUBNETS.
    """

    exit_code = ExitCode.SCENARIO


class Launcher(Protocol):
    """Starts the executors before discovery, tells their addresses, stops them at the end."""

    def launch(self) -> None:
        """Start the fleet; LaunchFailed (after stopping what started) when fewer than the quorum started."""

    def addresses(self) -> list[str]:
        """The started executors' addresses known so far (discovery's targets, asked each round)."""

    def stop_all(self, reason: str) -> None:
        """Stop every executor this launcher started (once; later calls do nothing)."""


class _Shortfall(Exception):
    """Some tasks of a batch did not start for a reason that may pass: the retry asks for the rest."""


def _retryable_error(exc: BaseException) -> bool:
    if isinstance(exc, _Shortfall):
        return True
    if isinstance(exc, ClientError):
        return exc.response.get("Error", {}).get("Code") in RETRYABLE_ERRORS
    return isinstance(exc, (BotoConnectionError, HTTPClientError))  # a connection that failed or timed out


def error_line(exc: BaseException) -> str:
    if isinstance(exc, ClientError):
        error = exc.response.get("Error", {})
        return f"{error.get('Code', 'error')}: {error.get('Message', '')}".rstrip(": ")
    return str(exc) or type(exc).__name__


def task_id(arn: str) -> str:
    return arn.rsplit("/", 1)[-1]


@dataclass
class EcsLauncher:
    """The executor tasks of one run in one region; `ecs` is a boto3 ECS client (its own retries are left to this)."""

    ecs: Any
    settings: ControllerSettings
    plan: LaunchPlan
    run_id: str
    clock: Clock
    backoff: float = 1.0  # first wait between attempts (tests make it short)
    started: list[str] = field(default_factory=list)  # task ARNs, recorded as each batch returns
    failures: Counter = field(default_factory=Counter)  # ECS's reasons for tasks that did not start
    _ips: dict[str, str] = field(default_factory=dict)
    _stopped_reasons: dict[str, str] = field(default_factory=dict)
    _described_at: float = float("-inf")
    _stopped_all: bool = False

    # --- start ---------------------------------------------------------------------------

    def start_tasks(self, hopeless: Callable[[], bool]) -> None:
        """This plan's tasks in batches; stops asking once `hopeless()` (the quorum cannot be reached any more)."""
        s, count = self.settings, self.plan.count
        log.info(
            "launching %d executor task(s) of %s on cluster %s%s (%s), in batches of %d",
            count,
            s.launch_task_definition,
            s.launch_cluster,
            f" in {self.plan.region}" if self.plan.region else "",
            s.launch_capacity,
            RUN_TASK_MAX_COUNT,
        )
        remaining = count
        batch_number = 0
        while remaining > 0 and not hopeless():  # past hope, asking for the rest would only cost money
            batch = min(remaining, RUN_TASK_MAX_COUNT)
            self._start_batch(batch, batch_number)
            remaining -= batch
            batch_number += 1

    def _start_batch(self, count: int, batch_number: int) -> None:
        """RunTask for `count` tasks, retrying what may pass; what never started is counted in `failures`."""
        wanted = count
        attempts = Retrying(
            stop=stop_after_attempt(RUN_TASK_ATTEMPTS),
            wait=wait_random_exponential(self.backoff, 30 * self.backoff),
            retry=retry_if_exception(_retryable_error),
            sleep=self.clock.sleep,
            reraise=True,
        )
        last_failures: Counter = Counter()
        try:
            for attempt in attempts:
                with attempt:
                    number = attempt.retry_state.attempt_number
                    last_failures = Counter()
                    response = self.ecs.run_task(**self._run_task_parameters(wanted, number, batch_number))
                    arns = [task["taskArn"] for task in response.get("tasks", [])]
                    self.started.extend(arns)
                    wanted -= len(arns)
                    for failure in response.get("failures", []):
                        last_failures[failure_reason(failure)] += 1
                    if wanted > 0:
                        log.warning(
                            "RunTask started %d of %d task(s) (attempt %d): %s",
                            len(arns),
                            len(arns) + wanted,
                            number,
                            ", ".join(sorted(last_failures)) or "no reason given",
                        )
                        if any(_retryable_reason(reason) for reason in last_failures):
                            raise _Shortfall()
        except _Shortfall:
            pass  # attempts exhausted: the last answer's reasons stand for the tasks still missing
        except (ClientError, BotoCoreError) as exc:
            last_failures = Counter({error_line(exc): wanted})
            log.warning("RunTask failed for %d task(s): %s", wanted, error_line(exc))
        if wanted > 0:
            self._count_failures(last_failures, wanted)

    def _count_failures(self, reasons: Counter, missing: int) -> None:
        """`missing` tasks never started; ECS gives a reason per failed task, or none at all (then 'no reason')."""
        given = sum(reasons.values())
        for reason, number in reasons.items():
            self.failures[reason] += number
        if missing > given:
            self.failures["fewer tasks than asked, no reason given"] += missing - given

    def _run_task_parameters(self, count: int, attempt: int, batch_number: int) -> dict:
        s = self.settings
        subnets = list(self.plan.subnets)
        if attempt > 1:  # ECS spreads a first attempt over every subnet; a retry goes to one zone after another
            subnets = [subnets[(batch_number + attempt - 1) % len(subnets)]]
        network = {"subnets": subnets, "assignPublicIp": "ENABLED" if s.launch_assign_public_ip else "DISABLED"}
        if self.plan.security_groups:
            network["securityGroups"] = list(self.plan.security_groups)
        return {
            "cluster": s.launch_cluster,
            "taskDefinition": s.launch_task_definition,
            "count": count,
            "startedBy": self.started_by,
            "networkConfiguration": {"awsvpcConfiguration": network},
            "tags": [{"key": "salvo:run-id", "value": self.run_id}],
            **s.launch_capacity.run_task_parameters(),
        }

    def failure_summary(self) -> str:
        """'RESOURCE:MEMORY (5), AGENT (2)': each reason once, the most frequent first (prefixed by the region)."""
        where = f"{self.plan.region}: " if self.plan.region else ""
        return ", ".join(f"{where}{reason} ({number})" for reason, number in self.failures.most_common())

    # --- addresses -----------------------------------------------------------------------

    def addresses(self) -> list[str]:
        """The private IPv4 address of every started task that has one yet (DescribeTasks, every few seconds)."""
        waiting = [arn for arn in self.started if arn not in self._ips and arn not in self._stopped_reasons]
        now = self.clock.monotonic()
        if waiting and now - self._described_at >= DESCRIBE_EVERY_SECONDS:
            self._described_at = now
            for first in range(0, len(waiting), DESCRIBE_TASKS_MAX):
                self._describe(waiting[first : first + DESCRIBE_TASKS_MAX])
        return [self._ips[arn] for arn in self.started if arn in self._ips]

    def _describe(self, arns: list[str]) -> None:
        try:
            response = self.ecs.describe_tasks(cluster=self.settings.launch_cluster, tasks=arns)
        except (ClientError, BotoCoreError) as exc:  # the next round asks again
            log.warning("DescribeTasks failed: %s", error_line(exc))
            return
        for task in response.get("tasks", []):
            arn = task["taskArn"]
            address = task_address(task)
            if address is not None:
                self._ips[arn] = address
            if task.get("lastStatus") == "STOPPED" and arn not in self._stopped_reasons:
                reason = task.get("stoppedReason") or task.get("stopCode") or "stopped"
                self._stopped_reasons[arn] = reason
                log.warning("executor task %s stopped before the run: %s", task_id(arn), reason)

    # --- stop ----------------------------------------------------------------------------

    def stop_all(self, reason: str) -> None:
        if self._stopped_all:
            return
        self._stopped_all = True
        self._find_unrecorded()
        if not self.started:
            return
        log.info("stopping the %d executor task(s) this run started: %s", len(self.started), reason)
        unstopped = [arn for arn in self.started if not self._stop(arn, reason)]
        if unstopped:
            log.error(
                "%d executor task(s) could not be stopped, stop them by hand (aws ecs stop-task --cluster %s "
                "--task ID): %s",
                len(unstopped),
                self.settings.launch_cluster,
                " ".join(task_id(arn) for arn in unstopped),
            )
        else:
            log.info("stopped all %d executor task(s)", len(self.started))

    def _find_unrecorded(self) -> None:
        """Tasks of this run whose RunTask answer never arrived (a signal or a timeout mid-call): ListTasks by
        startedBy finds them, so that they are stopped too."""
        found: list[str] = []
        try:
            for page in self.ecs.get_paginator("list_tasks").paginate(
                cluster=self.settings.launch_cluster, startedBy=self.started_by
            ):
                found += page.get("taskArns", [])
        except (ClientError, BotoCoreError) as exc:
            log.warning(
                "ListTasks failed (%s): stopping the %d task(s) RunTask reported", error_line(exc), len(self.started)
            )
            return
        unrecorded = [arn for arn in found if arn not in set(self.started)]
        if unrecorded:
            log.warning(
                "%d task(s) of this run were started without RunTask's answer arriving: stopping them too",
                len(unrecorded),
            )
            self.started.extend(unrecorded)

    @property
    def started_by(self) -> str:
        return f"salvo-{self.run_id}"  # run ids are at most 100 characters, startedBy 128

    def _stop(self, arn: str, reason: str) -> bool:
        attempts = Retrying(
            stop=stop_after_attempt(STOP_TASK_ATTEMPTS),
            wait=wait_random_exponential(self.backoff, 10 * self.backoff),
            retry=retry_if_exception(_retryable_error),
            sleep=self.clock.sleep,
            reraise=True,
        )
        try:
            for attempt in attempts:
                with attempt:
                    self.ecs.stop_task(
                        cluster=self.settings.launch_cluster, task=arn, reason=f"salvo {self.run_id}: {reason}"[:255]
                    )
        except (ClientError, BotoCoreError) as exc:
            log.warning("StopTask %s failed: %s", task_id(arn), error_line(exc))
            return False
        return True


@dataclass
class FleetLauncher:
    """The Launcher of SALVO_LAUNCH=ecs: one EcsLauncher per region, one quorum over them all."""

    launchers: list[EcsLauncher]
    settings: ControllerSettings

    @property
    def started(self) -> list[str]:
        return [arn for launcher in self.launchers for arn in launcher.started]

    def failure_summary(self) -> str:
        return ", ".join(summary for launcher in self.launchers if (summary := launcher.failure_summary()))

    def launch(self) -> None:
        s = self.settings
        count, quorum = s.launch_count, s.quorum
        failed = lambda: sum(sum(launcher.failures.values()) for launcher in self.launchers)  # noqa: E731
        for launcher in self.launchers:
            launcher.start_tasks(hopeless=lambda: count - failed() < quorum)
        started = len(self.started)
        where = s.launch_cluster + (
            " ("
            + ", ".join(f"{one.plan.region}: {len(one.started)} of {one.plan.count}" for one in self.launchers)
            + ")"
            if len(self.launchers) > 1
            else ""
        )
        if started < quorum:
            reasons = self.failure_summary() or "no reason given"
            self.stop_all(f"the fleet could not be launched ({started} of {count} started)")
            raise LaunchFailed(
                f"{started} of {count} executor task(s) started on {where}, fewer than the quorum of "
                f"{quorum}; stopped the {started} started, no load was started; ECS failures: {reasons}"
            )
        if failed():
            log.warning(
                "%d of %d executor task(s) started on %s (quorum %d); ECS failures: %s",
                started,
                count,
                where,
                quorum,
                self.failure_summary(),
            )
        else:
            log.info("%d executor task(s) started on %s", started, where)

    def addresses(self) -> list[str]:
        return [address for launcher in self.launchers for address in launcher.addresses()]

    def stop_all(self, reason: str) -> None:
        for launcher in self.launchers:
            launcher.stop_all(reason)


def task_address(task: dict) -> str | None:
    """A task's private IPv4 address, from the details of its ENI attachment (awsvpc network mode)."""
    for attachment in task.get("attachments", []):
        if attachment.get("type") != "ElasticNetworkInterface":
            continue
        for detail in attachment.get("details", []):
            if detail.get("name") == "privateIPv4Address" and detail.get("value"):
                return detail["value"]
    return None


def failure_reason(failure: dict) -> str:
    """ECS's reason for one task that did not start, e.g. 'RESOURCE:MEMORY' or 'Capacity is unavailable ...'."""
    reason = failure.get("reason") or "no reason given"
    detail = failure.get("detail")
    return f"{reason} ({detail})" if detail and detail not in reason else reason


def _retryable_reason(reason: str) -> bool:
    lowered = reason.lower()
    return any(word in lowered for word in RETRYABLE_FAILURE_WORDS)


def ecs_launcher(
    settings: ControllerSettings,
    run_id: str,
    clock: Clock,
    client_factory: Callable[[str | None], Any] | None = None,
    backoff: float = 1.0,
) -> FleetLauncher:
    """The production launcher: boto3's ECS client of each region as the environment configures it, its own
    retries off (this module retries)."""
    if client_factory is None:
        import boto3
        from botocore.config import Config

        def client_factory(region: str | None):
            return boto3.client(
                "ecs",
                region_name=region,
                config=Config(
                    retries={"total_max_attempts": 1, "mode": "standard"}, connect_timeout=5, read_timeout=30
                ),
            )

    return FleetLauncher(
        [
            EcsLauncher(client_factory(plan.region), settings, plan, run_id, clock, backoff)
            for plan in settings.launch_plans()
        ],
        settings,
    )
