"""Salvo's wire messages and their encoding, shared by executor, controller and CLI.

Two links exist between a controller and each executor:

* command link — executor SUB (bound on SALVO_COMMAND_PORT) <- controller XPUB:
  Start, Stop, Heartbeat, Dismiss. One message reaches the whole fleet. With a
  fleet key only the controller's key may connect to it (CURVE + ZAP).
* status link — executor ROUTER (bound on SALVO_STATUS_PORT) <-> controller ROUTER:
  Hello -> Status (the handshake); TimeProbe -> TimeEcho (clock exchanges) and
  ClockSet -> ClockAck (the offset to correct by); then the executor pushes Status
  heartbeats, StartAck, IntervalStats and Finished to every peer that said
  Hello(watch=True).

Every frame is one UTF-8 JSON object with `v` (protocol version) and `type`.
Anything else is a ProtocolError, which receivers log and ignore. The commands
and Hello, which make an executor act, are checked field by field when decoded:
an unknown field, a loosely typed value or one outside the bounds below is a
ProtocolError naming the field. What executors send is checked whole when
decoded (ids by SALVO_EXECUTOR_ID's rule, counts non-negative and consistent,
histograms decoded, sizes capped): a controller uses no field of a message it
could not trust.
"""

from __future__ import annotations

import time
from typing import Annotated, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PlainSerializer,
    PlainValidator,
    TypeAdapter,
    ValidationError,
    WithJsonSchema,
    model_validator,
)

from salvo.common.arrivals import RateProfile
from salvo.common.defaults import MAX_CLOCK_OFFSET_SECONDS
from salvo.common.errors import ProtocolError
from salvo.common.fleetload import LoadMode, Slot, fleet_index, fleet_slots
from salvo.common.histogram import SERIES_DIGITS, SIGNIFICANT_DIGITS, LatencyHistogram, UndecodableHistogram
from salvo.common.identifiers import Identifier
from salvo.common.regions import MAX_REGION_WEIGHT, MAX_REGIONS, Region
from salvo.common.states import ExecutorState
from salvo.common.summary import MAX_LABEL_CHARS

PROTOCOL_VERSION = 1
MAX_FRAME_BYTES = 4 * 1024 * 1024
MAX_LIVE_LABELS = 20  # per IntervalStats: the interval's busiest labels (decoding them costs the controller)
# From start_at on, for this long, neither the controller nor an executor wakes or sends by itself (heartbeats,
# status, polling): the gated load tools' threads start then, and on a busy machine a process waking at that
# moment takes the core a load thread needs (measured: first requests 5-25 ms late, JMeter on 2 cores).
START_QUIET_SECONDS = 0.25


# Bounds of every command-link field (and Hello's): anything outside them is refused when decoded.
MAX_FLEET = 20_000  # executors in one Start; also the largest SALVO_MAX_EXECUTORS
MAX_FLEET_USERS = 1_000_000  # SALVO_FLEET_USERS: the whole fleet's users
MIN_SPAWN_RATE = 0.001  # users/s of the whole fleet: split over MAX_FLEET executors it is still > 0 on a GO line
MAX_SPAWN_RATE = float(MAX_FLEET_USERS)  # users/s of the whole fleet: all of the largest fleet in one second
MAX_PARAMS = 32
MAX_PARAM_NAME_CHARS = 64
MAX_PARAM_VALUE_CHARS = 256
MAX_TEXT_CHARS = 512  # a reason or a client's name: one log line
MAX_EPOCH_SECONDS = 1e10  # year 2286: any later wall-clock time is garbage, not a plan


def _printable(value: str) -> str:
    """Text that is logged as it came: no line breaks or other control characters to forge log lines with."""
    if not value.isprintable():
        raise ValueError("expected printable text on one line (no control characters)")
    return value


def _distinct(ids: list[str]) -> list[str]:
    if len(set(ids)) != len(ids):
        raise ValueError("expected every executor id once")
    return ids


EpochSeconds = Annotated[float, Field(gt=0, lt=MAX_EPOCH_SECONDS, allow_inf_nan=False)]
Text = Annotated[str, Field(max_length=MAX_TEXT_CHARS), AfterValidator(_printable)]
ParamName = Annotated[str, Field(min_length=1, max_length=MAX_PARAM_NAME_CHARS), AfterValidator(_printable)]
ParamValue = Annotated[str, Field(max_length=MAX_PARAM_VALUE_CHARS), AfterValidator(_printable)]
FleetIds = Annotated[list[Identifier], Field(min_length=1, max_length=MAX_FLEET), AfterValidator(_distinct)]
FleetUsers = Annotated[int, Field(ge=1, le=MAX_FLEET_USERS)]
FleetSpawnRate = Annotated[float, Field(ge=MIN_SPAWN_RATE, le=MAX_SPAWN_RATE, allow_inf_nan=False)]
RegionWeight = Annotated[int, Field(ge=1, le=MAX_REGION_WEIGHT)]


def _rate_profile(value: object) -> RateProfile:
    if isinstance(value, RateProfile):
        return value
    if not isinstance(value, str):
        raise ValueError("expected a rate profile as text, such as 300 or 100:30s,400:60s")
    return RateProfile.parse(value)


# A rate profile (salvo.common.arrivals) travels as its canonical text and is parsed, bounds and all, on arrival.
Rate = Annotated[
    RateProfile,
    PlainValidator(_rate_profile),
    PlainSerializer(lambda profile: profile.text(), return_type=str),
    WithJsonSchema({"type": "string"}),
]
# The same as a setting: an environment variable of digits alone may reach it decoded as a number.
RateSetting = Annotated[
    Rate, BeforeValidator(lambda v: str(v) if isinstance(v, int | float) and not isinstance(v, bool) else v)
]
RegionNumber = Annotated[int, Field(ge=0, lt=MAX_REGIONS)]


class _Message(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)

    v: Literal[1] = PROTOCOL_VERSION


class _Checked(_Message):
    """A message whose every field is checked: unknown fields, loose types and values out of bounds are refused."""

    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)


# --- command link (controller -> fleet) -------------------------------------------


class FleetLoad(BaseModel):
    """How the run's load is split; each executor's share follows from it and its index
    (salvo.common.fleetload), so the Start stays small for thousands of executors."""

    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)

    mode: LoadMode = LoadMode.PER_EXECUTOR
    users: FleetUsers | None = None  # SALVO_FLEET_USERS: the fleet's total
    spawn_rate: FleetSpawnRate | None = None  # SALVO_FLEET_SPAWN_RATE: the fleet's total
    # SALVO_REGION_WEIGHTS: region -> weight; regions are numbered in sorted order (Start.fleet_regions)
    regions: Annotated[dict[Region, RegionWeight], Field(min_length=1, max_length=MAX_REGIONS)] | None = None
    rate: Rate | None = None  # SALVO_FLEET_RATE: the fleet's arrivals per second (open model), split every second

    @model_validator(mode="after")
    def _totals_split_in_fleet_mode(self) -> FleetLoad:
        if self.rate is not None and self.mode is not LoadMode.FLEET:
            raise ValueError("rate is a fleet total: only in fleet mode")
        if self.rate is not None and self.regions is not None:
            raise ValueError("regions split users, not a rate: not with rate")
        if self.users is not None and self.mode is not LoadMode.FLEET:
            raise ValueError("users is a fleet total: only in fleet mode")
        if self.spawn_rate is not None and self.users is None:
            raise ValueError("spawn_rate needs users (the total it starts)")
        if self.regions is not None and self.users is None:
            raise ValueError("regions split users: only with users")
        return self

    @property
    def region_names(self) -> list[str]:
        """The weighted regions in their numbering order (Start.fleet_regions)."""
        return sorted(self.regions or {})

    @property
    def region_weights(self) -> tuple[int, ...]:
        return tuple(self.regions[name] for name in self.region_names) if self.regions else ()


class Start(_Checked):
    type: Literal["start"] = "start"
    run_id: Identifier
    fleet: FleetIds  # every started executor's id; an executor's index is its place in sorted(fleet)
    start_at: EpochSeconds  # absolute wall-clock time, seconds since the epoch
    sent_at: EpochSeconds = Field(default_factory=time.time)
    params: Annotated[dict[ParamName, ParamValue], Field(max_length=MAX_PARAMS)] = Field(default_factory=dict)
    load: FleetLoad = Field(default_factory=FleetLoad)
    live_labels: bool = False  # the controller wants IntervalStats.labels (its SALVO_METRICS_PORT is set)
    # With load.regions only: fleet[i]'s region as its number in load.region_names (a small int per
    # member keeps a 20,000-executor Start small); each executor's slot follows (salvo.common.fleetload).
    fleet_regions: Annotated[list[RegionNumber], Field(max_length=MAX_FLEET)] | None = None

    @model_validator(mode="after")
    def _regions_cover_the_fleet(self) -> Start:
        regions = self.load.regions
        if (regions is None) != (self.fleet_regions is None):
            raise ValueError("fleet_regions goes with load.regions: both or neither")
        if regions is None:
            return self
        if len(self.fleet_regions) != len(self.fleet):
            raise ValueError(f"fleet_regions: {len(self.fleet_regions)} for a fleet of {len(self.fleet)}")
        used = set(self.fleet_regions)
        if any(number >= len(regions) for number in used):
            raise ValueError(f"fleet_regions: a region number beyond the {len(regions)} weighted regions")
        if len(used) != len(regions):
            raise ValueError("fleet_regions: a weighted region has no executor")
        return self

    def slot(self, executor_id: str) -> Slot:
        """`executor_id`'s place in the split of this start's load (its index's slot)."""
        index = fleet_index(self.fleet, executor_id)
        if self.fleet_regions is None:
            return Slot(position=index, members=len(self.fleet))
        region_of = dict(zip(self.fleet, self.fleet_regions, strict=True))
        by_index = [region_of[member] for member in sorted(self.fleet)]
        return fleet_slots(len(self.fleet), self.load.region_weights, by_index)[index]


class Stop(_Checked):
    type: Literal["stop"] = "stop"
    run_id: Identifier | None = None  # None: whatever run is active
    reason: Text = "stop requested"


class Heartbeat(_Checked):
    type: Literal["heartbeat"] = "heartbeat"
    run_id: Identifier | None = None
    sent_at: EpochSeconds = Field(default_factory=time.time)


class Dismiss(_Checked):
    """The controller is done with the fleet (SALVO_DISMISS_FLEET): exit 0 instead of re-arming.

    A run still going (the run_id's, or any when None) is stopped and uploaded first."""

    type: Literal["dismiss"] = "dismiss"
    run_id: Identifier | None = None
    reason: Text = "the controller dismissed the fleet"


# --- status link ------------------------------------------------------------------

# What executors send, typed as strictly as the controller needs to trust it.
WireId = Annotated[Identifier, Field(strict=True)]  # SALVO_EXECUTOR_ID's rule (and SALVO_RUN_ID's)
Count = Annotated[int, Field(strict=True, ge=0, le=2**63 - 1)]
Moment = Annotated[float, Field(allow_inf_nan=False)]
# Free text is cut rather than refused: a sender's long failure hint must not make its own message invalid.
Short = Annotated[str, AfterValidator(lambda text: text[:256])]
CutText = Annotated[str, AfterValidator(lambda text: text[:4096])]
LabelName = Annotated[str, AfterValidator(lambda text: text[:MAX_LABEL_CHARS])]


def _decodes(digits: int) -> AfterValidator:
    def check(text: str) -> str:
        try:
            LatencyHistogram.encoded_count(text, digits)
        except UndecodableHistogram as exc:
            raise ValueError(f"undecodable histogram: {exc}") from None
        return text

    return AfterValidator(check)


IntervalHistogram = Annotated[str, _decodes(SIGNIFICANT_DIGITS)]
LabelHistogram = Annotated[str, _decodes(SERIES_DIGITS)]


def _check_failures(requests: int, failures: int, user_errors: int) -> None:
    if failures > requests + user_errors:
        raise ValueError(f"failures {failures} exceed requests {requests} + user_errors {user_errors}")


class Hello(_Checked):
    type: Literal["hello"] = "hello"
    client: Text = "controller"
    watch: bool = False  # True: keep pushing heartbeats/stats to this peer


class Status(_Message):
    type: Literal["status"] = "status"
    executor_id: WireId
    version: Short
    state: ExecutorState
    scenario_sha256: Short | None = None
    scenario_uri: CutText | None = None
    run_id: WireId | None = None
    armed_at: Moment | None = None
    gated: bool = False  # load tool pre-launched and held at a gate
    leaving: bool = False  # dismissed: its last word before exiting (it will not re-arm)
    users_set: bool = False  # SALVO_USERS given explicitly (clashes with the controller's SALVO_FLEET_USERS)
    executions: Count = 0  # load tool processes of the armed scenario (Taurus execution items)
    data_rows: Count | None = None  # rows of SALVO_DATA_URI, once fetched
    region: Region | None = None  # where it runs (salvo.executor.presence.identity), when known
    sent_at: Moment = Field(default_factory=time.time)


class StartAck(_Message):
    type: Literal["start_ack"] = "start_ack"
    executor_id: WireId
    run_id: WireId
    accepted: bool
    reason: CutText = ""
    received_at: Moment = Field(default_factory=time.time)


class LabelInterval(BaseModel):
    """One label's share of an interval."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    requests: Count = 0
    failures: Count = 0  # failed requests and user errors, as in the summary
    user_errors: Count = 0
    histogram: LabelHistogram = ""  # encoded HDR histogram, 2 significant digits (salvo.common.histogram.SERIES_DIGITS)

    @model_validator(mode="after")
    def _consistent(self) -> LabelInterval:
        _check_failures(self.requests, self.failures, self.user_errors)
        return self


class IntervalStats(_Message):
    type: Literal["interval_stats"] = "interval_stats"
    executor_id: WireId
    run_id: WireId
    interval_start: Moment
    interval_end: Moment
    users: Count = 0
    requests: Count = 0
    failures: Count = 0  # failed requests and user errors, as in the summary
    user_errors: Count = 0
    histogram: IntervalHistogram = ""  # encoded HDR histogram of the interval's latencies (microseconds)
    # Only when Start.live_labels asked for them; at most MAX_LIVE_LABELS, the busiest.
    labels: Annotated[dict[LabelName, LabelInterval], Field(max_length=MAX_LIVE_LABELS)] = Field(default_factory=dict)
    # An open-model run's (salvo.common.arrivals): arrivals of the seconds settled in the interval, and the
    # interval's latencies from their intended send time.
    planned: Count = 0
    sent: Count = 0
    dropped: Count = 0
    intended_histogram: IntervalHistogram = ""

    @model_validator(mode="after")
    def _consistent(self) -> IntervalStats:
        _check_failures(self.requests, self.failures, self.user_errors)
        if self.planned != self.sent + self.dropped:
            raise ValueError(f"{self.planned} arrivals planned, but {self.sent} sent + {self.dropped} dropped")
        return self


class Finished(_Message):
    type: Literal["finished"] = "finished"
    executor_id: WireId
    run_id: WireId
    exit_code: Annotated[int, Field(strict=True, ge=-(2**31), le=2**31)]
    reason: CutText = ""
    summary_uri: CutText | None = None


# --- clocks (status link; salvo.common.clocksync) ------------------------------------------------


class TimeProbe(_Message):
    """Controller -> executor: t1, the controller's time of sending."""

    type: Literal["time_probe"] = "time_probe"
    sent_at: Annotated[float, Field(allow_inf_nan=False)]


class TimeEcho(_Message):
    """Executor -> controller: the probe's t1 back, with t2 (received) and t3 (answered) on the executor's clock."""

    type: Literal["time_echo"] = "time_echo"
    executor_id: str
    probe_sent_at: Annotated[float, Field(allow_inf_nan=False)]
    received_at: Annotated[float, Field(allow_inf_nan=False)]
    sent_at: Annotated[float, Field(allow_inf_nan=False)]


class ClockSet(_Message):
    """Controller -> executor: its clock's measured offset (executor minus controller, seconds), to correct by."""

    type: Literal["clock_set"] = "clock_set"
    offset: Annotated[float, Field(allow_inf_nan=False, ge=-MAX_CLOCK_OFFSET_SECONDS, le=MAX_CLOCK_OFFSET_SECONDS)]
    uncertainty: Annotated[float, Field(allow_inf_nan=False, ge=0, le=MAX_CLOCK_OFFSET_SECONDS)]


class ClockAck(_Message):
    """Executor -> controller: the offset it will correct by from now on (refused after a start: accepted=False)."""

    type: Literal["clock_ack"] = "clock_ack"
    executor_id: str
    offset: Annotated[float, Field(allow_inf_nan=False)]
    accepted: bool = True


Command = Annotated[Start | Stop | Heartbeat | Dismiss, Field(discriminator="type")]
StatusMessage = Annotated[
    Hello | Status | StartAck | IntervalStats | Finished | TimeProbe | TimeEcho | ClockSet | ClockAck,
    Field(discriminator="type"),
]
Message = Annotated[
    Start
    | Stop
    | Heartbeat
    | Dismiss
    | Hello
    | Status
    | StartAck
    | IntervalStats
    | Finished
    | TimeProbe
    | TimeEcho
    | ClockSet
    | ClockAck,
    Field(discriminator="type"),
]

_command_adapter: TypeAdapter = TypeAdapter(Command)
_status_adapter: TypeAdapter = TypeAdapter(StatusMessage)
_any_adapter: TypeAdapter = TypeAdapter(Message)


def encode(message: _Message) -> bytes:
    return message.model_dump_json().encode()


def _decode(adapter: TypeAdapter, frame: bytes) -> _Message:
    if len(frame) > MAX_FRAME_BYTES:
        raise ProtocolError(f"frame of {len(frame)} bytes exceeds {MAX_FRAME_BYTES}")
    try:
        return adapter.validate_json(frame)
    except ValidationError as exc:
        errors = exc.errors()
        where = ".".join(str(p) for p in errors[0].get("loc", ())) or "frame"
        what = errors[0].get("msg", "invalid").removeprefix("Value error, ")
        more = f"; {len(errors) - 1} more problem(s)" if len(errors) > 1 else ""
        raise ProtocolError(f"undecodable frame ({where}: {what}{more}): {frame[:60]!r}") from None


def decode_command(frame: bytes) -> Start | Stop | Heartbeat | Dismiss:
    """A command-link frame, or ProtocolError."""
    return _decode(_command_adapter, frame)


def decode_status(
    frame: bytes,
) -> Hello | Status | StartAck | IntervalStats | Finished | TimeProbe | TimeEcho | ClockSet | ClockAck:
    """A status-link frame, or ProtocolError."""
    return _decode(_status_adapter, frame)


def decode(frame: bytes) -> _Message:
    return _decode(_any_adapter, frame)
