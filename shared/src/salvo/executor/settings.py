"""Settings of `salvo executor`, read from SALVO_* variables (see salvo.common.settings)."""

from __future__ import annotations

from enum import Enum
from typing import Annotated

from pydantic import Field, model_validator

from salvo.common.arrivals import Pattern
from salvo.common.identifiers import Identifier
from salvo.common.keys import ExecutorKeys, KeyMode, decode_curve_key, executor_keys_from_fleet_key, keypair_from_secret
from salvo.common.protocol import MAX_FLEET_USERS, MAX_SPAWN_RATE, RateSetting
from salvo.common.regions import Region
from salvo.common.settings import (
    CommonSettings,
    CurvePublicKey,
    CurveSecretKey,
    Duration,
    HttpUrl,
    S3Object,
    S3Prefix,
)


class Mode(str, Enum):
    ONESHOT = "oneshot"
    SERVICE = "service"


class ExecutorSettings(CommonSettings):
    """Settings of `salvo executor`."""

    split_key_fields = ("executor_secret_key", "controller_public_key")

    executor_secret_key: CurveSecretKey | None = Field(
        None, description="the executors' CURVE secret key (`salvo keygen`, executors block)"
    )
    controller_public_key: CurvePublicKey | None = Field(
        None, description="the controller's CURVE public key: only a peer proving its secret may command this executor"
    )
    scenario_uri: S3Object = Field(
        description="S3 object with the scenario: Taurus .yml/.yaml/.json, locustfile .py or bundle .zip"
    )
    results_uri: S3Prefix = Field(description="S3 prefix for results: {prefix}{run_id}/executors/{executor_id}/")
    executor_id: Identifier | None = Field(None, description="this executor's id (default: ECS task id, else hostname)")
    region: Region | None = Field(
        None,
        description="the region this executor runs in, for SALVO_REGION_WEIGHTS and per-region reports "
        "(default: from the ECS task metadata, else AWS_REGION)",
    )
    wait_timeout: Annotated[Duration, Field(gt=0)] = Field(
        3600.0, description="seconds armed before giving up (exit 4, never starts load)"
    )
    kill_switch_timeout: Annotated[Duration, Field(gt=0)] = Field(
        30.0, description="controller silence during a run after which load stops (exit 4)"
    )
    start_tolerance: Annotated[Duration, Field(ge=0)] = Field(
        0.05, description="how late a start may arrive after its start_at and still be obeyed"
    )
    max_start_delay: Annotated[Duration, Field(gt=0)] = Field(
        3600.0,
        description="how far ahead of now a start's start_at may be and still be obeyed (a later one is refused)",
    )
    mode: Mode = Field(Mode.ONESHOT, description="oneshot: exit after the run; service: re-arm")
    scenario_entry: str | None = Field(
        None, description="entry file inside a .zip bundle (default: the single Taurus config, else locustfile.py)"
    )
    # Bounded as the fleet's total is (SALVO_FLEET_USERS): a number past it is a typo, and an infinite rate
    # would only be found when a fleet-mode start's GO line is refused.
    users: Annotated[int, Field(ge=1, le=MAX_FLEET_USERS)] = Field(1, description="locustfile: concurrent users")
    spawn_rate: Annotated[float, Field(gt=0, le=MAX_SPAWN_RATE, allow_inf_nan=False)] | None = Field(
        None, description="locustfile: users started per second (or use SALVO_RAMP_UP)"
    )
    ramp_up: Duration | None = Field(None, description="locustfile: time to reach SALVO_USERS")
    duration: Annotated[Duration, Field(gt=0)] = Field(
        60.0, description="locustfile: how long the load holds (e.g. 60s, 5m)"
    )
    rate: RateSetting | None = Field(
        None,
        description="locustfile or JMeter plan, open model: this executor's task iterations per second, e.g. '100' "
        "or '50:30s,200:60s', or 'shape' (a locustfile's salvo.rate.RateShape) (the controller's SALVO_FLEET_RATE, "
        "when set, is split instead; docs/open-model.md)",
    )
    arrivals: Pattern = Field(
        Pattern.UNIFORM,
        description="open model: arrivals evenly spaced in each second (uniform) or at random times, seeded by run "
        "and executor (poisson)",
    )
    max_users: Annotated[int, Field(ge=1)] = Field(
        1_000,
        description="open model, locust: the pool of users (SALVO_USERS of them started up front) grows up to this "
        "many when an arrival finds every user busy (refused with a JMeter scenario: its pool is its threads)",
    )
    max_lateness: Annotated[Duration, Field(ge=0, le=86_400)] = Field(
        0.0,
        description="open model: how long an arrival that finds all SALVO_MAX_USERS (JMeter: all threads) busy may "
        "wait for one, sent late and its lateness counted in the intended-time latency; past it (at once with 0) it "
        "is dropped",
    )
    target_host: HttpUrl | None = Field(
        None,
        description="base URL of the system under test: locust --host, the default-address of every "
        "Taurus scenario that names none, and the host of JMeter HTTP samplers that name none",
    )
    max_scenario_bytes: Annotated[int, Field(gt=0)] = Field(
        100 * 1024 * 1024,
        description="largest scenario object (SALVO_SCENARIO_URI) read from S3, in bytes; "
        "a larger one is refused (exit 3) before or while it downloads",
    )
    bundle_max_bytes: Annotated[int, Field(gt=0)] = Field(
        512 * 1024 * 1024, description="largest total uncompressed size of a .zip bundle"
    )
    bundle_max_files: Annotated[int, Field(gt=0)] = Field(10_000, description="most files a .zip bundle may hold")
    data_uri: S3Object | None = Field(
        None,
        description="a CSV in S3 split by rows across the fleet: the scenario reads its rows from $SALVO_DATA_FILE",
    )
    max_data_bytes: Annotated[int, Field(gt=0)] = Field(
        1024 * 1024 * 1024,
        description="largest SALVO_DATA_URI file read from S3, in bytes; a larger one is "
        "refused (exit 3) before or while it downloads",
    )
    data_header: bool = Field(
        True, description="the SALVO_DATA_URI file starts with a header line (kept in every slice)"
    )
    raw_samples: bool = Field(
        False, description="also keep every request as a row of salvo-samples-<pid>.csv (costs locust throughput)"
    )
    stats_interval: Annotated[Duration, Field(gt=0)] = Field(
        1.0, description="seconds between interval stats sent to the controller"
    )
    arm_timeout: Annotated[Duration, Field(gt=0)] = Field(
        120.0, description="how long the load tool may take to reach its start gate"
    )

    def link_keys(self) -> ExecutorKeys | None:
        """The keys the executor's sockets use; None with SALVO_INSECURE=true; ConfigError without key material."""
        mode = self.key_mode()
        if mode is KeyMode.INSECURE:
            return None
        if mode is KeyMode.FLEET_KEY:
            return executor_keys_from_fleet_key(self.fleet_key.get_secret_value())
        own = keypair_from_secret(self.executor_secret_key.get_secret_value())
        return ExecutorKeys(own, decode_curve_key(self.controller_public_key))

    @model_validator(mode="after")
    def _one_load_profile(self) -> ExecutorSettings:
        if self.spawn_rate is not None and self.ramp_up is not None:
            raise ValueError("SALVO_SPAWN_RATE and SALVO_RAMP_UP are alternatives: set one")
        if self.command_port == self.status_port:
            raise ValueError(f"SALVO_COMMAND_PORT and SALVO_STATUS_PORT are both {self.command_port}: they must differ")
        return self
