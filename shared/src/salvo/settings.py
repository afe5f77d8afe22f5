"""Typed settings read from SALVO_* environment variables: the single source of configuration.

Every invalid or missing value is reported together, one line each, naming the
variable, the value and what is expected (`load` raises ConfigError, exit 2).
Secrets are SecretStr and never appear in messages or logs.
"""

from __future__ import annotations

import os
import re
from enum import Enum
from pathlib import Path
from typing import Annotated, Any, TypeVar

from pydantic import (
    AfterValidator,
    BeforeValidator,
    Field,
    SecretStr,
    ValidationError,
    model_validator,
)
from pydantic_settings import BaseSettings, SettingsConfigDict

from salvo.errors import ConfigError

ENV_PREFIX = "SALVO_"

_DURATION_PART = re.compile(r"(\d+(?:\.\d+)?)(ms|s|m|h|d)")
_UNIT_SECONDS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}


def parse_duration(value: Any) -> float:
    """Seconds from `90`, `90s`, `250ms`, `5m`, `1h30m` (a bare number is seconds)."""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        seconds = float(value)
    else:
        text = str(value).strip().lower().replace(" ", "")
        if re.fullmatch(r"\d+(\.\d+)?", text):
            seconds = float(text)
        elif text and _DURATION_PART.sub("", text) == "":
            seconds = sum(float(n) * _UNIT_SECONDS[u] for n, u in _DURATION_PART.findall(text))
        else:
            raise ValueError("expected a duration such as 30, 30s, 500ms, 5m or 1h30m")
    if seconds < 0:
        raise ValueError("expected a duration >= 0")
    return seconds


def _s3_uri(value: str) -> str:
    if not re.fullmatch(r"s3://[a-z0-9][a-z0-9.\-]{1,61}[a-z0-9](/.*)?", value or ""):
        raise ValueError("expected an S3 URI such as s3://bucket/key")
    return value


def _s3_object_uri(value: str) -> str:
    _s3_uri(value)
    bucket_and_key = value[len("s3://") :]
    if "/" not in bucket_and_key or bucket_and_key.endswith("/"):
        raise ValueError("expected an S3 object URI such as s3://bucket/scenarios/test.yml")
    return value


def _s3_prefix_uri(value: str) -> str:
    _s3_uri(value)
    if not value.endswith("/"):
        raise ValueError("expected an S3 prefix ending in '/', such as s3://bucket/results/")
    return value


def _port(value: int) -> int:
    if not 1 <= value <= 65535:
        raise ValueError("expected a TCP port from 1 to 65535")
    return value


def _upper(value: Any) -> Any:
    return value.upper() if isinstance(value, str) else value


def _http_url(value: str) -> str:
    if not re.fullmatch(r"https?://[^\s/]+(/\S*)?", value):
        raise ValueError("expected a base URL such as http://target:8080")
    return value.rstrip("/")


def _identifier(value: str) -> str:
    if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._\-]{0,127}", value):
        raise ValueError("expected letters, digits, '.', '_' or '-' (at most 128)")
    return value


Identifier = Annotated[str, AfterValidator(_identifier)]
HttpUrl = Annotated[str, AfterValidator(_http_url)]
Duration = Annotated[float, BeforeValidator(parse_duration)]
S3ObjectUri = Annotated[str, AfterValidator(_s3_object_uri)]
S3PrefixUri = Annotated[str, AfterValidator(_s3_prefix_uri)]
Port = Annotated[int, AfterValidator(_port)]


class LogFormat(str, Enum):
    TEXT = "text"
    JSON = "json"


class LogLevel(str, Enum):
    DEBUG = "DEBUG"
    INFO = "INFO"
    WARNING = "WARNING"
    ERROR = "ERROR"


class Mode(str, Enum):
    ONESHOT = "oneshot"
    SERVICE = "service"


class CommonSettings(BaseSettings):
    """Settings both images read."""

    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX,
        case_sensitive=False,
        extra="ignore",
        env_ignore_empty=True,
        use_enum_values=False,
    )

    log_format: LogFormat = Field(LogFormat.TEXT, description="log output: text or json")
    log_level: Annotated[LogLevel, BeforeValidator(_upper)] = Field(
        LogLevel.INFO, description="DEBUG, INFO, WARNING or ERROR"
    )
    fleet_key: SecretStr | None = Field(
        None,
        description="shared secret; when set every ZeroMQ link is authenticated and encrypted "
        "(CURVE keys derived from it); unset runs insecure",
    )
    command_port: Port = Field(50000, description="executor's ZeroMQ command (SUB) port")
    status_port: Port = Field(50001, description="executor's ZeroMQ status/handshake port")
    bind_host: str = Field("0.0.0.0", description="address the executor listens on")
    work_dir: Path = Field(
        Path("/tmp/salvo"), description="local folder for scenarios, tool artifacts and state"
    )
    s3_retry_seconds: Annotated[Duration, Field(gt=0)] = Field(
        120.0, description="how long transient S3 failures are retried (backoff with jitter)"
    )


class ExecutorSettings(CommonSettings):
    """Settings of `salvo executor`."""

    scenario_uri: S3ObjectUri = Field(
        description="S3 object with the scenario: Taurus .yml/.yaml/.json, locustfile .py or bundle .zip"
    )
    results_uri: S3PrefixUri = Field(
        description="S3 prefix for results: {prefix}{run_id}/executors/{executor_id}/"
    )
    executor_id: Identifier | None = Field(
        None, description="this executor's id (default: ECS task id, else hostname)"
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
    mode: Mode = Field(Mode.ONESHOT, description="oneshot: exit after the run; service: re-arm")
    scenario_entry: str | None = Field(
        None, description="entry file inside a .zip bundle (default: the single Taurus config, else locustfile.py)"
    )
    users: Annotated[int, Field(ge=1)] = Field(1, description="locustfile: concurrent users")
    spawn_rate: Annotated[float, Field(gt=0)] | None = Field(
        None, description="locustfile: users started per second (or use SALVO_RAMP_UP)"
    )
    ramp_up: Duration | None = Field(None, description="locustfile: time to reach SALVO_USERS")
    duration: Annotated[Duration, Field(gt=0)] = Field(
        60.0, description="locustfile: how long the load holds (e.g. 60s, 5m)"
    )
    target_host: HttpUrl | None = Field(
        None, description="locustfile: base URL of the system under test (locust --host)"
    )
    bundle_max_bytes: Annotated[int, Field(gt=0)] = Field(
        512 * 1024 * 1024, description="largest total uncompressed size of a .zip bundle"
    )
    bundle_max_files: Annotated[int, Field(gt=0)] = Field(
        10_000, description="most files a .zip bundle may hold"
    )
    stats_interval: Annotated[Duration, Field(gt=0)] = Field(
        1.0, description="seconds between interval stats sent to the controller"
    )
    arm_timeout: Annotated[Duration, Field(gt=0)] = Field(
        120.0, description="how long the load tool may take to reach its start gate"
    )

    @model_validator(mode="after")
    def _one_load_profile(self) -> "ExecutorSettings":
        if self.spawn_rate is not None and self.ramp_up is not None:
            raise ValueError("SALVO_SPAWN_RATE and SALVO_RAMP_UP are alternatives: set one")
        return self


SettingsT = TypeVar("SettingsT", bound=CommonSettings)

_SECRET_FIELDS = {"fleet_key"}


def env_name(field: str) -> str:
    return ENV_PREFIX + field.upper()


def _describe(error: dict[str, Any], model: type[BaseSettings]) -> str:
    loc = [str(part) for part in error.get("loc", ()) if not isinstance(part, int)]
    field = loc[0] if loc else ""
    message = error.get("msg", "invalid")
    message = message.removeprefix("Value error, ")
    if field not in model.model_fields:
        return f"configuration: {message}"
    name = env_name(field)
    description = model.model_fields[field].description or ""
    if error.get("type") == "missing":
        return f"{name} is required: {description}"
    shown = "'***'" if field in _SECRET_FIELDS else repr(os.environ.get(name, error.get("input")))
    return f"{name}={shown} is invalid: {message} ({description})"


def load(model: type[SettingsT], environ: dict[str, str] | None = None) -> SettingsT:
    """Build `model` from the environment, or raise ConfigError listing every problem."""
    saved = None
    if environ is not None:
        saved = dict(os.environ)
        os.environ.clear()
        os.environ.update(environ)
    try:
        return model()
    except ValidationError as exc:
        raise ConfigError([_describe(e, model) for e in exc.errors()]) from None
    finally:
        if saved is not None:
            os.environ.clear()
            os.environ.update(saved)


def describe_variables(model: type[BaseSettings]) -> list[tuple[str, str, str]]:
    """(variable, default, meaning) for every setting, for `salvo config`."""
    rows = []
    for field, info in model.model_fields.items():
        if info.is_required():
            default = "(required)"
        elif info.default is None:
            default = "(unset)"
        elif isinstance(info.default, Enum):
            default = str(info.default.value)
        else:
            default = str(info.default)
        rows.append((env_name(field), default, info.description or ""))
    return rows


class LostExecutorPolicy(str, Enum):
    CONTINUE = "continue"
    FAIL = "fail"


class ControllerSettings(CommonSettings):
    """Settings of `salvo controller` (and of the bastion verbs that talk to executors)."""

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
    scan_concurrency: Annotated[int, Field(gt=0, le=4096)] = Field(
        256, description="probes in flight at once"
    )
    probe_timeout: Annotated[Duration, Field(gt=0)] = Field(0.5, description="TCP probe timeout per address")
    expected_executors: Annotated[int, Field(ge=1)] | None = Field(
        None, description="fleet size to wait for (unset: wait until no new executor for SALVO_SETTLE_SECONDS)"
    )
    min_executors: Annotated[int, Field(ge=1)] = Field(1, description="quorum required at SALVO_DISCOVERY_TIMEOUT")
    discovery_timeout: Annotated[Duration, Field(gt=0)] = Field(
        300.0, description="how long to look for the fleet before giving up (exit 3 below quorum)"
    )
    settle_seconds: Annotated[Duration, Field(ge=0)] = Field(
        10.0, description="fleet is complete when no new executor appeared for this long"
    )
    start_lead: Annotated[int, Field(ge=50)] = Field(
        1000, description="ms between publishing the start and start_at (raised if the fleet is far away)"
    )
    results_uri: S3PrefixUri = Field(description="S3 prefix the executors upload to; reports go to {prefix}{run_id}/")
    run_id: Identifier | None = Field(None, description="this run's id (default: generated from the time)")
    criteria: str | None = Field(
        None, description="pass/fail criteria, e.g. 'p95<500ms; error_rate<1%; rps>=100; label:/login:p99<1s'"
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
    report_dir: Path | None = Field(None, description="also write report.json/html and junit.xml here")
    cloudwatch_namespace: str | None = Field(
        None, description="publish live figures to CloudWatch under this namespace (dimension RunId)"
    )

    @model_validator(mode="after")
    def _consistent(self) -> "ControllerSettings":
        from salvo.criteria import CriteriaSyntaxError, parse

        problems = []
        if (self.ip_network is None) != (self.ip_hosts is None):
            problems.append("SALVO_IP_NETWORK and SALVO_IP_HOSTS go together: set both or neither")
        if self.expected_executors is not None and self.min_executors > self.expected_executors:
            problems.append("SALVO_MIN_EXECUTORS is larger than SALVO_EXPECTED_EXECUTORS")
        try:
            parse(self.criteria)
        except CriteriaSyntaxError as exc:
            problems.append(f"SALVO_CRITERIA: {exc}")
        if problems:
            raise ValueError("; ".join(problems))
        return self
