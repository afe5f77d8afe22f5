"""Typed settings read from SALVO_* environment variables: the single source of configuration.

Every invalid or missing value is reported together, one line each, naming the
variable, the value and what is expected (`load` raises ConfigError, exit 2).
Secrets are SecretStr and never appear in messages or logs.
"""

from __future__ import annotations

import os
import re
import stat
from collections.abc import Mapping
from contextvars import ContextVar
from enum import Enum
from pathlib import Path
from typing import Annotated, Any, ClassVar, TypeVar, get_args

from pydantic import (
    AfterValidator,
    BeforeValidator,
    Field,
    PlainSerializer,
    PlainValidator,
    SecretStr,
    ValidationError,
    WithJsonSchema,
)
from pydantic_settings import BaseSettings, EnvSettingsSource, NoDecode, PydanticBaseSettingsSource, SettingsConfigDict
from pydantic_settings.sources.utils import parse_env_vars

from salvo.common.defaults import ANY_ADDRESS, COMMAND_PORT, S3_RETRY_SECONDS, STATUS_PORT
from salvo.common.errors import ConfigError
from salvo.common.keys import KeyMode, validate_curve_key, validate_fleet_key
from salvo.common.s3location import S3Location

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


def _s3_location(value: Any) -> S3Location:
    """The one parse of a SALVO_*_URI value (an S3Location given in code is taken as it is)."""
    return value if isinstance(value, S3Location) else S3Location.parse(value)


def _s3_object(value: Any) -> S3Location:
    location = _s3_location(value)
    if not location.key or location.key.endswith("/"):
        raise ValueError("expected an S3 object URI such as s3://bucket/scenarios/test.yml")
    return location


def _s3_prefix(value: Any) -> S3Location:
    location = _s3_location(value)
    # the text, not the key: s3://bucket (no "/") names no prefix a reader would recognise
    if not (str(value) if isinstance(value, S3Location) else value).endswith("/"):
        raise ValueError("expected an S3 prefix ending in '/', such as s3://bucket/results/")
    return location


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


def _fleet_key(value: SecretStr) -> SecretStr:
    validate_fleet_key(value.get_secret_value())
    return value


def _curve_secret(value: SecretStr) -> SecretStr:
    validate_curve_key(value.get_secret_value())
    return value


def _curve_public(value: str) -> str:
    validate_curve_key(value)
    return value


CurveSecretKey = Annotated[SecretStr, AfterValidator(_curve_secret)]
CurvePublicKey = Annotated[str, AfterValidator(_curve_public)]

HttpUrl = Annotated[str, AfterValidator(_http_url)]
Duration = Annotated[float, BeforeValidator(parse_duration)]
# S3 URIs become S3Locations here, once; they print (and serialise) as the URI they were given.
_AS_URI = PlainSerializer(str, return_type=str)
_URI_SCHEMA = WithJsonSchema({"type": "string", "format": "uri"})
# NoDecode: pydantic-settings would read a dataclass-typed variable as JSON
S3Object = Annotated[S3Location, NoDecode, PlainValidator(_s3_object), _AS_URI, _URI_SCHEMA]
S3Prefix = Annotated[S3Location, NoDecode, PlainValidator(_s3_prefix), _AS_URI, _URI_SCHEMA]
Port = Annotated[int, AfterValidator(_port)]


class LogFormat(str, Enum):
    TEXT = "text"
    JSON = "json"


class LogLevel(str, Enum):
    DEBUG = "DEBUG"
    INFO = "INFO"
    WARNING = "WARNING"
    ERROR = "ERROR"


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
    fleet_key: Annotated[SecretStr, AfterValidator(_fleet_key)] | None = Field(
        None,
        description="rehearsal convenience: one shared secret both roles' CURVE keys are derived from (whoever "
        "holds it can command the fleet); production uses the two secrets of `salvo keygen` instead",
    )
    insecure: bool = Field(
        False,
        description="true: run the control links without authentication or encryption (both sides must say "
        "so; logged at every start and shown in every report); the only way to run without key material",
    )
    command_port: Port = Field(COMMAND_PORT, description="executor's ZeroMQ command (SUB) port")
    status_port: Port = Field(STATUS_PORT, description="executor's ZeroMQ status/handshake port")
    bind_host: str = Field(ANY_ADDRESS, description="address the executor listens on")
    work_dir: Path = Field(
        Path("/tmp/salvo"),  # noqa: S108 -- the container's scratch, one executor per container
        description="local folder for scenarios, tool artifacts and state",
    )
    s3_retry_seconds: Annotated[Duration, Field(gt=0)] = Field(
        S3_RETRY_SECONDS, description="how long transient S3 failures are retried (backoff with jitter)"
    )

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        given = _GIVEN_ENVIRON.get()
        if given is None:
            return init_settings, env_settings, SecretFiles(settings_cls, os.environ)
        return init_settings, GivenEnvironment(settings_cls, given), SecretFiles(settings_cls, given)

    # The names of this role's own secret and of the peer's public key (set by the role's model).
    split_key_fields: ClassVar[tuple[str, str]] = ("", "")

    def declared_key_mode(self) -> KeyMode | None:
        """What the settings say, unchecked (for reports; `key_mode` is the check)."""
        if self.insecure:
            return KeyMode.INSECURE
        if self.fleet_key is not None:
            return KeyMode.FLEET_KEY
        if any(getattr(self, name, None) is not None for name in self.split_key_fields):
            return KeyMode.SPLIT
        return None

    def key_mode(self) -> KeyMode:
        """How this side secures its links, or ConfigError when its key material is missing or contradictory."""
        own_secret, peer_public = (getattr(self, name, None) for name in self.split_key_fields)
        own_name, peer_name = (env_name(name) for name in self.split_key_fields)
        split = own_secret is not None or peer_public is not None
        if self.insecure:
            if split or self.fleet_key is not None:
                raise ConfigError("SALVO_INSECURE=true and key material are both set: unset one of them")
            return KeyMode.INSECURE
        if self.fleet_key is not None:
            if split:
                raise ConfigError(f"SALVO_FLEET_KEY and {own_name}/{peer_name} are both set: use one or the other")
            return KeyMode.FLEET_KEY
        if own_secret is None or peer_public is None:
            missing = own_name if own_secret is None else peer_name
            if not split:
                raise ConfigError(
                    f"no key material: set {own_name} and {peer_name} (`salvo keygen` makes them), "
                    "or SALVO_INSECURE=true on both sides to run without authentication"
                )
            raise ConfigError(f"{missing} is not set: {own_name} and {peer_name} go together (`salvo keygen`)")
        return KeyMode.SPLIT


SettingsT = TypeVar("SettingsT", bound=CommonSettings)

FILE_SUFFIX = "_FILE"
# A key is under 100 characters: a larger file is not one (a log, a device), and is not read whole to find out.
MAX_SECRET_FILE_BYTES = 4096


def env_name(field: str) -> str:
    return ENV_PREFIX + field.upper()


def _holds_secret(annotation: Any) -> bool:
    return annotation is SecretStr or any(_holds_secret(arg) for arg in get_args(annotation))


def secret_fields(model: type[BaseSettings]) -> list[str]:
    """The SecretStr settings: never echoed, and each readable from its `_FILE` variable."""
    return [field for field, info in model.model_fields.items() if _holds_secret(info.annotation)]


def _value(environ: Mapping[str, str], name: str) -> str | None:
    """The variable's non-empty value (empty counts as unset, as for every setting)."""
    return environ.get(name) or None


# The variables `load` was given, for this context only: the process environment is never swapped
# (another thread, or a logging handler, may read it meanwhile).
_GIVEN_ENVIRON: ContextVar[Mapping[str, str] | None] = ContextVar("salvo_given_environ", default=None)


class GivenEnvironment(EnvSettingsSource):
    """The environment source, reading a given mapping (a task definition's, a test's) instead of os.environ."""

    def __init__(self, settings_cls: type[BaseSettings], environ: Mapping[str, str]):
        self._given = environ  # before super().__init__, which loads the variables
        super().__init__(settings_cls)

    def _load_env_vars(self) -> Mapping[str, str | None]:
        return parse_env_vars(self._given, self.case_sensitive, self.env_ignore_empty, self.env_parse_none_str)


class SecretFiles(PydanticBaseSettingsSource):
    """SALVO_<SECRET>_FILE=/run/secrets/x: the secret is the file's content, one trailing newline stripped."""

    def __init__(self, settings_cls: type[BaseSettings], environ: Mapping[str, str]):
        super().__init__(settings_cls)
        self.environ = environ

    def get_field_value(self, field: Any, field_name: str) -> tuple[Any, str, bool]:
        return None, field_name, False  # everything happens in __call__

    def __call__(self) -> dict[str, Any]:
        values: dict[str, Any] = {}
        for field in secret_fields(self.settings_cls):
            name = env_name(field)
            path = _value(self.environ, name + FILE_SUFFIX)
            if path is None:
                continue
            if _value(self.environ, name) is not None:
                raise ConfigError(f"{name} and {name}{FILE_SUFFIX} are both set: set only one of them")
            try:
                mode = Path(path).stat().st_mode
                if not stat.S_ISREG(mode):  # a FIFO would block the start forever, a device never end
                    raise ConfigError(f"{name}{FILE_SUFFIX}={path}: the secret file is not a regular file")
                if mode & 0o022:
                    raise ConfigError(
                        f"{name}{FILE_SUFFIX}={path}: the secret file is writable by group or others "
                        f"(mode {mode & 0o777:04o}): `chmod go-w` it, as ssh requires of its keys"
                    )
                with open(path, "rb") as handle:
                    data = handle.read(MAX_SECRET_FILE_BYTES + 1)
                if len(data) > MAX_SECRET_FILE_BYTES:
                    raise ConfigError(
                        f"{name}{FILE_SUFFIX}={path}: the secret file is larger than {MAX_SECRET_FILE_BYTES} bytes: "
                        "not a key (`salvo keygen` makes one)"
                    )
                content = data.decode("utf-8")
            except (OSError, UnicodeDecodeError) as exc:
                reason = getattr(exc, "strerror", None) or str(exc)
                raise ConfigError(f"{name}{FILE_SUFFIX}={path}: cannot read the secret file: {reason}") from None
            values[field] = content.removesuffix("\n").removesuffix("\r")
        return values


def _describe(error: dict[str, Any], model: type[BaseSettings], environ: Mapping[str, str]) -> str:
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
    if field in secret_fields(model):
        secret_file = _value(environ, name + FILE_SUFFIX)
        if secret_file is not None:
            return f"{name}{FILE_SUFFIX}={secret_file} holds an invalid value: {message} ({description})"
        return f"{name}='***' is invalid: {message} ({description})"
    return f"{name}={environ.get(name, error.get('input'))!r} is invalid: {message} ({description})"


def load(model: type[SettingsT], environ: Mapping[str, str] | None = None) -> SettingsT:
    """Build `model` from the environment (or from `environ` alone), or raise ConfigError listing every problem."""
    token = _GIVEN_ENVIRON.set(environ)
    try:
        return model()
    except ValidationError as exc:
        raise ConfigError(
            [_describe(e, model, os.environ if environ is None else environ) for e in exc.errors()]
        ) from None
    finally:
        _GIVEN_ENVIRON.reset(token)


def describe_variables(model: type[BaseSettings]) -> list[tuple[str, str, str]]:
    """(variable, default, meaning) for every setting, for `salvo config`."""
    rows = []
    for field, info in model.model_fields.items():
        if info.is_required():
            default = "(required)"
        elif info.default is None or info.default == ():
            default = "(unset)"
        elif isinstance(info.default, Enum):
            default = str(info.default.value)
        else:
            default = str(info.default)
        rows.append((env_name(field), default, info.description or ""))
        if field in secret_fields(model):
            rows.append(
                (
                    env_name(field) + FILE_SUFFIX,
                    "(unset)",
                    f"file holding {env_name(field)} (e.g. a Docker or Kubernetes secret; one trailing "
                    f"newline is stripped); set this or {env_name(field)}, not both",
                )
            )
    return rows
