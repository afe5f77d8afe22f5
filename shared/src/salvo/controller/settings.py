"""Settings of `salvo controller` and the bastion verbs, read from SALVO_* variables."""

from __future__ import annotations

from enum import Enum
from pathlib import Path
from typing import Annotated

from pydantic import BeforeValidator, Field, PlainSerializer, PlainValidator, model_validator
from pydantic_settings import NoDecode

from salvo.common.defaults import ANY_ADDRESS, COMMAND_PORT, STATUS_PORT
from salvo.common.fleetload import LoadMode
from salvo.common.identifiers import Identifier
from salvo.common.keys import (
    ControllerKeys,
    KeyMode,
    controller_keys_from_fleet_key,
    decode_curve_key,
    keypair_from_secret,
)
from salvo.common.protocol import MAX_FLEET, FleetSpawnRate, FleetUsers, RateSetting
from salvo.common.regions import RegionWeights, parse_region_weights
from salvo.common.s3location import S3Location
from salvo.common.settings import CommonSettings, CurvePublicKey, CurveSecretKey, Duration, Port, S3Prefix
from salvo.controller.baseline import check_baseline_run
from salvo.controller.criteria import DEFAULT_CRITERIA, Criterion, parse
from salvo.controller.launch_settings import (
    Capacity,
    CommaList,
    LaunchMode,
    LaunchPlan,
    RegionShare,
    parse_capacity,
    parse_regions,
    split_by_region,
)
from salvo.controller.regression import Threshold
from salvo.controller.regression import parse as parse_thresholds


class LostExecutorPolicy(str, Enum):
    CONTINUE = "continue"
    FAIL = "fail"


class ShortFleet(str, Enum):
    FAIL = "fail"
    PASS = "pass"  # noqa: S105 -- a verdict, not a password


class RunIdReuse(str, Enum):
    REFUSE = "refuse"
    OVERWRITE = "overwrite"


def _percent(value: object) -> object:
    """'5%' or '5' as 5.0 (percent); anything else is left to the field's own check."""
    if isinstance(value, str):
        return value.strip().removesuffix("%").strip()
    return value


class ControllerSettings(CommonSettings):
    """Settings of `salvo controller` (and of the bastion verbs that talk to executors)."""

    split_key_fields = ("controller_secret_key", "executor_public_key")

    controller_secret_key: CurveSecretKey | None = Field(
        None,
        description="the controller's CURVE secret key (`salvo keygen`, controller block): never give it to an "
        "executor",
    )
    executor_public_key: CurvePublicKey | None = Field(
        None, description="the executors' CURVE public key: the controller talks only to executors proving its secret"
    )
    executor_cidrs: str | None = Field(
        None,
        description="comma list of CIDRs, a.b.c.d-e.f.g.h ranges or single IPs to scan "
        "(default: the controller's own subnet)",
    )
    ip_network: str | None = Field(None, description="DLT-style network prefix, e.g. 10.0.1 (with SALVO_IP_HOSTS)")
    ip_hosts: str | None = Field(None, description="DLT-style host numbers, e.g. 5,7,10-20 (with SALVO_IP_NETWORK)")
    executor_dns: str | None = Field(
        None, description="a name whose A records are the executors (compose service, headless k8s service)"
    )
    max_scan_addresses: Annotated[int, Field(gt=0)] = Field(
        65536, description="largest number of addresses a scan may cover (default a /16)"
    )
    scan_concurrency: Annotated[int, Field(gt=0, le=4096)] = Field(256, description="probes in flight at once")
    probe_timeout: Annotated[Duration, Field(gt=0)] = Field(0.5, description="TCP probe timeout per address")
    expected_executors: Annotated[int, Field(ge=1)] | None = Field(
        None, description="fleet size to wait for (unset: wait until no new executor for SALVO_SETTLE_SECONDS)"
    )
    min_executors: Annotated[int, Field(ge=1)] | None = Field(
        None,
        description="quorum at SALVO_DISCOVERY_TIMEOUT (default: SALVO_EXPECTED_EXECUTORS, else 1); below it "
        "exit 3 before any load; a lower value allows a short start, which passes only with SALVO_SHORT_FLEET=pass",
    )
    short_fleet: ShortFleet = Field(
        ShortFleet.FAIL,
        description="fail: a run started short of SALVO_EXPECTED_EXECUTORS (per-executor load) or that "
        "lost an executor is not a PASS; pass: the operator accepts a short fleet's results",
    )
    max_executors: Annotated[int, Field(ge=1, le=MAX_FLEET)] = Field(
        2000, description="largest fleet accepted; needs 2 open files per executor (ulimit nofile >= 2 x this + 256)"
    )
    discovery_timeout: Annotated[Duration, Field(gt=0)] = Field(
        300.0, description="how long to look for the fleet before giving up (exit 3 below quorum)"
    )
    settle_seconds: Annotated[Duration, Field(ge=0)] = Field(
        10.0, description="fleet is complete when no new executor appeared for this long"
    )
    max_clock_offset: Annotated[Duration, Field(gt=0)] = Field(
        2.0,
        description="an executor whose clock is further off the controller's is left out before the start "
        "(closer ones are measured and corrected)",
    )
    max_clock_uncertainty: Annotated[Duration, Field(gt=0)] = Field(
        0.05,
        description="an executor whose clock cannot be measured more precisely (half the shortest round trip "
        "of its clock exchanges) is left out before the start",
    )
    start_lead: Annotated[int, Field(ge=50)] = Field(
        3000,
        description="ms between publishing the start and start_at: the gated tools start their threads "
        "and settle in it (JMeter's engine 2 s ahead); raised if the fleet is far away",
    )
    results_uri: S3Prefix = Field(description="S3 prefix the executors upload to; reports go to {prefix}{run_id}/")
    run_id: Identifier | None = Field(None, description="this run's id (default: generated from the time)")
    run_id_reuse: RunIdReuse = Field(
        RunIdReuse.REFUSE,
        description="refuse: a SALVO_RUN_ID that already has a report exits 2 before any load; overwrite: replace it",
    )
    criteria: Annotated[tuple[Criterion, ...], NoDecode, BeforeValidator(parse)] | None = Field(
        None,
        description="pass/fail criteria, e.g. 'p95<500ms; error_rate<1%; rps>=100; label:/login:p99<1s' (unset: "
        "the default 'failures==0', no failed request, as locust; 'none': accept any outcome)",
    )
    baseline_run: (
        Annotated[str | S3Location, NoDecode, PlainValidator(check_baseline_run), PlainSerializer(str)] | None
    ) = Field(
        None,
        description="compare with this past run (a run id under SALVO_RESULTS_URI, or an s3:// run prefix); "
        "its report.json must exist before any load starts",
    )
    regression: Annotated[tuple[Threshold, ...], NoDecode, BeforeValidator(parse_thresholds)] = Field(
        (),
        description="regression thresholds against SALVO_BASELINE_RUN (also read by `salvo compare`), e.g. "
        "'p95+10%; p99+200ms; error_rate+0.5pp; rps-20%; label:/login:p99+15%'",
    )
    load_mode: LoadMode = Field(
        LoadMode.PER_EXECUTOR,
        description="per-executor: every executor runs the scenario's load; fleet: the scenario's users, spawn rate "
        "and Taurus concurrency/throughput are the fleet's totals, split across it (implied by SALVO_FLEET_USERS)",
    )
    fleet_users: FleetUsers | None = Field(
        None, description="total users of the fleet, split across the started executors (not with SALVO_USERS)"
    )
    fleet_spawn_rate: FleetSpawnRate | None = Field(
        None, description="total users started per second across the fleet (with SALVO_FLEET_USERS)"
    )
    region_weights: Annotated[RegionWeights, NoDecode, BeforeValidator(parse_region_weights)] | None = Field(
        None,
        description="split SALVO_FLEET_USERS (and the data rows) by region, then evenly within each, e.g. "
        "'us-east-1:60,eu-west-1:40' (whole-number weights; every executor's region must be weighted, every "
        "weighted region must have an executor)",
    )
    fleet_rate: RateSetting | None = Field(
        None,
        description="open model: task iterations per second of the whole fleet, split exactly across the started "
        "executors every second, e.g. '300', '100:30s,400:60s,0:10s' or '100..400:60s,400', or 'shape': the "
        "locustfile's salvo.rate.RateShape says each second's rate (see docs/open-model.md)",
    )
    rate_tolerance: Annotated[float, NoDecode, BeforeValidator(_percent), Field(ge=0, le=100)] | None = Field(
        None,
        description="with SALVO_FLEET_RATE (or executors' SALVO_RATE): the run fails when the arrivals sent fall short "
        "of those planned by more than this many percent (unset: a shortfall over 1 % is only said in the verdict)",
    )
    pre_start_command: str | None = Field(
        None, description="shell command run once before the start (e.g. reset the system under test); non-zero aborts"
    )
    pre_start_timeout: Annotated[Duration, Field(gt=0)] = Field(300.0, description="limit for the pre-start command")
    lost_executor_policy: LostExecutorPolicy = Field(
        LostExecutorPolicy.CONTINUE, description="continue, or fail: stop the fleet and exit 4 when one is lost"
    )
    liveness_timeout: Annotated[Duration, Field(gt=0, le=5)] = Field(
        3.0, description="an executor silent this long during the run is marked lost"
    )
    heartbeat_interval: Annotated[Duration, Field(gt=0)] = Field(
        1.0, description="controller heartbeats (the executors' kill switch listens for them)"
    )
    live_interval: Annotated[Duration, Field(gt=0)] = Field(5.0, description="seconds between live lines")
    finish_timeout: Annotated[Duration, Field(gt=0)] = Field(
        300.0, description="how long to wait for stopping/uploading executors to finish"
    )
    run_timeout: Annotated[Duration, Field(gt=0)] = Field(
        86400.0, description="hard limit on a run; the fleet is stopped after it"
    )
    max_summary_bytes: Annotated[int, Field(gt=0)] = Field(
        64 * 1024 * 1024,
        description="largest executor summary.json read from S3, in bytes (also `salvo report`); "
        "a larger one is not read and its executor's results count as missing",
    )
    report_dir: Path | None = Field(None, description="also write report.json/html and junit.xml here")
    cloudwatch_namespace: str | None = Field(
        None, description="publish live figures to CloudWatch under this namespace (dimension RunId)"
    )
    dismiss_fleet: bool = Field(
        False,
        description="when the controller ends, tell the executors to exit instead of re-arming in service "
        "mode (the compose rehearsal sets it so `docker compose up` returns; off so ECS services keep their tasks)",
    )
    metrics_port: Port | None = Field(
        None, description="serve Prometheus metrics at http://host:PORT/metrics while the controller runs (unset: off)"
    )
    # all interfaces: Prometheus scrapes the container from outside; off unless SALVO_METRICS_PORT is set
    metrics_bind: str = Field(ANY_ADDRESS, description="address the SALVO_METRICS_PORT endpoint listens on")
    launch: LaunchMode = Field(
        LaunchMode.NONE,
        description="none: the executors are started elsewhere and found by scanning; ecs: the "
        "controller starts SALVO_LAUNCH_COUNT executor tasks itself (RunTask), finds them by DescribeTasks and stops "
        "them when it ends",
    )
    launch_count: Annotated[int, Field(ge=1, le=MAX_FLEET)] | None = Field(
        None, description="executor tasks to start (SALVO_LAUNCH=ecs); also the default SALVO_EXPECTED_EXECUTORS"
    )
    launch_cluster: str | None = Field(None, description="ECS cluster name or ARN of the executor tasks")
    launch_task_definition: str | None = Field(
        None, description="the executors' task definition: family, family:revision or ARN"
    )
    launch_subnets: CommaList = Field((), description="comma list of subnet ids the executor tasks run in")
    launch_security_groups: CommaList = Field(
        (),
        description="comma list of security group ids of the executor tasks "
        f"(controller -> TCP {COMMAND_PORT}-{STATUS_PORT})",
    )
    launch_capacity: Annotated[Capacity, NoDecode, BeforeValidator(parse_capacity)] = Field(
        Capacity(),
        description="FARGATE, FARGATE_SPOT, or a capacity provider strategy such as "
        "'FARGATE:1,FARGATE_SPOT:3' (provider:weight[:base])",
    )
    launch_regions: Annotated[tuple[RegionShare, ...], NoDecode, BeforeValidator(parse_regions)] = Field(
        (),
        description="start the executor tasks across regions, e.g. 'us-east-1:3,eu-west-1:2' (the counts add up "
        "to SALVO_LAUNCH_COUNT); each subnet and security group then names its region: 'us-east-1/subnet-0a1b'",
    )
    launch_assign_public_ip: bool = Field(
        False, description="give each executor task a public IP (public subnets without a NAT gateway)"
    )

    @property
    def effective_criteria(self) -> tuple[Criterion, ...]:
        """SALVO_CRITERIA, or the default (no failed request) when it is not set."""
        return DEFAULT_CRITERIA if self.criteria is None else self.criteria

    @property
    def quorum(self) -> int:
        """The fewest armed executors a run may start with: SALVO_MIN_EXECUTORS, else the expected fleet, else 1."""
        if self.min_executors is not None:
            return self.min_executors
        return self.expected_executors or 1

    def link_keys(self) -> ControllerKeys | None:
        """The keys the controller's sockets use; None with SALVO_INSECURE=true; ConfigError without key material."""
        mode = self.key_mode()
        if mode is KeyMode.INSECURE:
            return None
        if mode is KeyMode.FLEET_KEY:
            return controller_keys_from_fleet_key(self.fleet_key.get_secret_value())
        own = keypair_from_secret(self.controller_secret_key.get_secret_value())
        return ControllerKeys(own, decode_curve_key(self.executor_public_key))

    def _launch_problems(self) -> list[str]:
        """SALVO_LAUNCH=ecs needs where and what to start; its count is the expected fleet unless one is given."""
        if self.launch is LaunchMode.NONE:
            return []
        problems = []
        if self.launch_regions:
            total = sum(share.count for share in self.launch_regions)
            if self.launch_count is None:
                self.launch_count = total
            elif self.launch_count != total:
                problems.append(f"SALVO_LAUNCH_COUNT={self.launch_count} but SALVO_LAUNCH_REGIONS adds up to {total}")
            problems += self._region_problems()
        problems += [
            f"SALVO_LAUNCH=ecs needs {name}"
            for name, value in (
                ("SALVO_LAUNCH_COUNT", self.launch_count),
                ("SALVO_LAUNCH_CLUSTER", self.launch_cluster),
                ("SALVO_LAUNCH_TASK_DEFINITION", self.launch_task_definition),
                ("SALVO_LAUNCH_SUBNETS", self.launch_subnets),
            )
            if not value
        ]
        if self.launch_count is None:
            return problems
        if self.expected_executors is None:
            self.expected_executors = self.launch_count
        elif self.expected_executors > self.launch_count:
            problems.append(
                f"SALVO_EXPECTED_EXECUTORS={self.expected_executors} is more than the "
                f"SALVO_LAUNCH_COUNT={self.launch_count} tasks started"
            )
        if self.launch_count > self.max_executors:
            problems.append(
                f"SALVO_LAUNCH_COUNT={self.launch_count} is larger than SALVO_MAX_EXECUTORS={self.max_executors}"
            )
        return problems

    def _region_problems(self) -> list[str]:
        regions = {share.region for share in self.launch_regions}
        problems = []
        for variable, items in (
            ("SALVO_LAUNCH_SUBNETS", self.launch_subnets),
            ("SALVO_LAUNCH_SECURITY_GROUPS", self.launch_security_groups),
        ):
            qualified, plain = split_by_region(items)
            if plain:
                problems.append(
                    f"{variable}: with SALVO_LAUNCH_REGIONS, name each one's region, e.g. 'us-east-1/{plain[0]}'"
                )
            if unknown := sorted(set(qualified) - regions):
                problems.append(f"{variable} names {', '.join(unknown)}, not in SALVO_LAUNCH_REGIONS")
            if (
                variable == "SALVO_LAUNCH_SUBNETS"
                and items
                and not plain
                and (missing := sorted(regions - set(qualified)))
            ):
                problems.append(f"SALVO_LAUNCH_SUBNETS has no subnet in {', '.join(missing)}")
        return problems

    def launch_plans(self) -> list[LaunchPlan]:
        """SALVO_LAUNCH=ecs: what to start where; one plan per SALVO_LAUNCH_REGIONS entry, else one."""
        if not self.launch_regions:
            return [LaunchPlan(None, self.launch_count, self.launch_subnets, self.launch_security_groups)]
        subnets, _ = split_by_region(self.launch_subnets)
        groups, _ = split_by_region(self.launch_security_groups)
        return [
            LaunchPlan(
                share.region, share.count, tuple(subnets.get(share.region, ())), tuple(groups.get(share.region, ()))
            )
            for share in self.launch_regions
        ]

    @model_validator(mode="after")
    def _consistent(self) -> ControllerSettings:
        problems = self._launch_problems()  # first: it sets the expected fleet the checks below read
        if (self.ip_network is None) != (self.ip_hosts is None):
            problems.append("SALVO_IP_NETWORK and SALVO_IP_HOSTS go together: set both or neither")
        if (
            self.expected_executors is not None
            and self.min_executors is not None
            and self.min_executors > self.expected_executors
        ):
            problems.append("SALVO_MIN_EXECUTORS is larger than SALVO_EXPECTED_EXECUTORS")
        if self.expected_executors is not None and self.expected_executors > self.max_executors:
            problems.append(
                f"SALVO_EXPECTED_EXECUTORS={self.expected_executors} is larger than "
                f"SALVO_MAX_EXECUTORS={self.max_executors}: raise SALVO_MAX_EXECUTORS (and ulimit nofile with it)"
            )
        if self.fleet_spawn_rate is not None and self.fleet_users is None:
            problems.append("SALVO_FLEET_SPAWN_RATE needs SALVO_FLEET_USERS (the total it starts)")
        if self.fleet_rate is not None:
            if "load_mode" in self.model_fields_set and self.load_mode is LoadMode.PER_EXECUTOR:
                problems.append(
                    "SALVO_FLEET_RATE splits a rate across the fleet, SALVO_LOAD_MODE=per-executor does not: set "
                    "SALVO_RATE on the executors instead, or unset SALVO_LOAD_MODE"
                )
            if self.region_weights is not None:
                problems.append("SALVO_REGION_WEIGHTS splits users by region, not SALVO_FLEET_RATE: unset one")
            self.load_mode = LoadMode.FLEET
        if self.fleet_users is not None:
            if "load_mode" in self.model_fields_set and self.load_mode is LoadMode.PER_EXECUTOR:
                problems.append(
                    "SALVO_FLEET_USERS splits users across the fleet, SALVO_LOAD_MODE=per-executor does not: unset one"
                )
            self.load_mode = LoadMode.FLEET
        # Only with a fleet total: a gated JMeter takes the users it is given, but splits a plan's own
        # thread counts by index alone (jmeter/salvo-gate FleetShare), which knows nothing of regions.
        if self.region_weights is not None and self.fleet_users is None:
            problems.append("SALVO_REGION_WEIGHTS splits SALVO_FLEET_USERS by region: set SALVO_FLEET_USERS too")
        if problems:
            raise ValueError("; ".join(problems))
        return self
