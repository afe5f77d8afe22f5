"""The `salvo.summary/1` file as types: what an executor may write and what a controller will count.

A summary.json comes from an executor the controller does not control: it is
parsed here, in one pass, before anything merges it. Types are strict (no "3"
for 3), counts are non-negative and agree with each other as the builder
(salvo.executor.results.aggregate.SummaryBuilder) makes them agree, histograms are
decoded in full, the series lies inside the run's window, and every collection
and string has a cap. Anything else raises RejectedSummary with a one-line
reason naming the field (`labels: expected an object`).
"""

from __future__ import annotations

import re
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, ValidationError, model_validator

from salvo.common.histogram import SERIES_DIGITS, SIGNIFICANT_DIGITS, LatencyHistogram, UndecodableHistogram
from salvo.common.identifiers import Identifier
from salvo.common.regions import Region
from salvo.common.summary import (
    MAX_CODE_CHARS,
    MAX_CODES,
    MAX_ERROR_MESSAGES,
    MAX_LABEL_CHARS,
    MAX_LABELS,
    MAX_MESSAGE_CHARS,
)

MAX_SUMMARY_BYTES = 256 * 1024 * 1024
MAX_SERIES_POINTS = 7 * 86_400  # a week of seconds
MAX_COUNT = 2**63 - 1
MAX_TEXT_CHARS = 4_096  # stop reason, scenario URI
MAX_SHORT_CHARS = 128  # versions, tool names, modes
MAX_TOOLS = 32
MAX_GATE_RELEASES = 1_024  # one per load tool process
# Requests start at start_at (a gate's release or the tool's launch) and end by ended_at; the slack
# absorbs a stepped clock and a request still running at the stop.
WINDOW_SLACK_SECONDS = 120.0


class RejectedSummary(ValueError):
    """A summary.json the controller will not count: damaged, forged, or another run's or executor's.

    Its executor's results are left out and the run fails, naming the field. Look at that
    executor's log and version, and at who else can write to the results bucket."""


Count = Annotated[int, Field(strict=True, ge=0, le=MAX_COUNT)]
Epoch = Annotated[float, Field(strict=True, ge=0, allow_inf_nan=False)]
WireId = Annotated[Identifier, Field(strict=True)]  # SALVO_RUN_ID's and SALVO_EXECUTOR_ID's rule
Short = Annotated[str, StringConstraints(strict=True, max_length=MAX_SHORT_CHARS)]
Text = Annotated[str, StringConstraints(strict=True, max_length=MAX_TEXT_CHARS)]
LabelName = Annotated[str, StringConstraints(strict=True, max_length=MAX_LABEL_CHARS)]
Code = Annotated[str, StringConstraints(strict=True, max_length=MAX_CODE_CHARS)]
Message = Annotated[str, StringConstraints(strict=True, max_length=MAX_MESSAGE_CHARS)]
# The histogram text of a full tally is ~ 10 bytes per distinct latency bucket; far below this.
HistogramText = Annotated[str, StringConstraints(strict=True, max_length=4 * 1024 * 1024)]


class _Part(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)


def _histogram_count(text: str, digits: int, name: str = "histogram") -> int:
    try:
        return LatencyHistogram.encoded_count(text, digits)
    except UndecodableHistogram as exc:
        raise ValueError(f"{name}: {exc}") from None


class TallyPart(_Part):
    """A tally as the summary holds it (totals, or one label): see salvo.common.summary.Tally."""

    requests: Count
    failures: Count
    user_errors: Count = 0
    bytes: Count = 0
    latency_sum_ms: Annotated[float, Field(strict=True, ge=0, allow_inf_nan=False)] | None = None
    histogram: HistogramText = ""
    codes: Annotated[dict[Code, Count], Field(max_length=MAX_CODES + 1)] = Field(default_factory=dict)
    errors: Annotated[dict[Message, Count], Field(max_length=MAX_ERROR_MESSAGES + 1)] = Field(default_factory=dict)
    intended_histogram: HistogramText | None = None  # open model: every request from its intended send time

    @model_validator(mode="after")
    def _consistent(self) -> TallyPart:
        _check_failures(self.requests, self.failures, self.user_errors)
        if sum(self.codes.values()) > self.requests:
            raise ValueError(f"codes: {sum(self.codes.values())} responses counted for {self.requests} requests")
        if sum(self.errors.values()) != self.failures:
            raise ValueError(f"errors: {sum(self.errors.values())} error messages counted for {self.failures} failures")
        recorded = _histogram_count(self.histogram, SIGNIFICANT_DIGITS)
        if recorded != self.requests:
            raise ValueError(f"histogram: {recorded} latencies recorded for {self.requests} requests")
        if self.intended_histogram is not None:
            intended = _histogram_count(self.intended_histogram, SIGNIFICANT_DIGITS, "intended_histogram")
            if intended != self.requests:
                raise ValueError(f"intended_histogram: {intended} latencies recorded for {self.requests} requests")
        return self


class ArrivalCounts(_Part):
    """An open model's arrivals: every one whose time came was sent or dropped."""

    planned: Count
    sent: Count
    dropped: Count

    @model_validator(mode="after")
    def _consistent(self) -> ArrivalCounts:
        _check_arrivals(self.planned, self.sent, self.dropped)
        return self


def _check_arrivals(planned: int | None, sent: int | None, dropped: int | None) -> None:
    given = [value is not None for value in (planned, sent, dropped)]
    if any(given) and not all(given):
        raise ValueError("planned, sent and dropped go together")
    if all(given) and planned != sent + dropped:
        raise ValueError(f"{planned} arrivals planned, but {sent} sent + {dropped} dropped")


class SeriesPoint(_Part):
    """One second of the executor's run: requests that started in epoch second `t`."""

    t: Annotated[int, Field(strict=True, ge=0, le=2**40)]
    requests: Count
    failures: Count
    user_errors: Count = 0
    histogram: HistogramText = ""
    # open model: arrivals planned for this second (by their planned time), sent and dropped
    planned: Count | None = None
    sent: Count | None = None
    dropped: Count | None = None

    @model_validator(mode="after")
    def _consistent(self) -> SeriesPoint:
        _check_failures(self.requests, self.failures, self.user_errors)
        _check_arrivals(self.planned, self.sent, self.dropped)
        recorded = _histogram_count(self.histogram, SERIES_DIGITS)
        if recorded != self.requests:
            raise ValueError(f"histogram: {recorded} latencies recorded for {self.requests} requests")
        return self


def _check_failures(requests: int, failures: int, user_errors: int) -> None:
    if user_errors > failures:
        raise ValueError(f"user_errors {user_errors} exceed failures {failures} (user errors are failures)")
    if failures > requests + user_errors:
        raise ValueError(f"failures {failures} exceed requests {requests} + user_errors {user_errors}")


class Timings(_Part):
    """When the executor was armed, told to start, and ended; its requests' first start and last end."""

    armed_at: Epoch | None = None
    start_at: Epoch
    ended_at: Epoch
    launched_at: Epoch | None = None
    gate_released: Annotated[list[Epoch], Field(max_length=MAX_GATE_RELEASES)] = Field(default_factory=list)
    first_request: Epoch | None = None
    last_request: Epoch | None = None

    @property
    def window(self) -> tuple[float, float]:
        """The seconds the executor's requests may fall in."""
        return self.start_at - WINDOW_SLACK_SECONDS, max(self.start_at, self.ended_at) + WINDOW_SLACK_SECONDS


class Scenario(_Part):
    uri: Text | None = None
    sha256: Short | None = None


class Share(_Part):
    """The executor's part of the fleet's load (salvo.executor.run.fleetplace)."""

    index: Count | None = None
    size: Count | None = None
    mode: Short | None = None
    users: Count | None = None
    spawn_rate: Annotated[float, Field(strict=True, ge=0, allow_inf_nan=False)] | None = None
    rows: Count | None = None

    @model_validator(mode="after")
    def _a_place_in_the_fleet(self) -> Share:
        # fleetplace never writes an index outside its fleet: one that is can only be damaged or made up
        if self.index is not None and self.size is not None and self.index >= self.size:
            raise ValueError(f"index {self.index} is outside a fleet of {self.size}")
        return self


class Summary(_Part):
    """One executor's summary.json, checked whole."""

    model_config = ConfigDict(extra="ignore", frozen=True, populate_by_name=True)

    format: Literal["salvo.summary/1"] = Field(alias="schema")
    run_id: WireId
    executor_id: WireId
    version: Short | None = None
    region: Region | None = None  # where the executor ran (salvo.executor.presence.identity), when it knew
    tools: Annotated[dict[Short, Short | None], Field(max_length=MAX_TOOLS)] = Field(default_factory=dict)
    scenario: Scenario | None = None
    gated: Annotated[bool, Field(strict=True)] | None = None
    exit_code: Annotated[int, Field(strict=True, ge=-(2**31), le=2**31)] | None = None
    stop_reason: Text | None = None
    share: Share | None = None
    unreadable_lines: Count = 0
    timings: Timings
    totals: TallyPart
    labels: Annotated[dict[LabelName, TallyPart], Field(max_length=MAX_LABELS + 1)]
    series: Annotated[list[SeriesPoint], Field(max_length=MAX_SERIES_POINTS)]
    arrivals: ArrivalCounts | None = None  # an open-model run's arrivals (salvo.common.summary)

    @model_validator(mode="after")
    def _consistent(self) -> Summary:
        totals = self.totals
        self._arrivals_agree()
        if self.labels:
            for name in ("requests", "failures", "user_errors", "bytes"):
                added = sum(getattr(part, name) for part in self.labels.values())
                if added != getattr(totals, name):
                    raise ValueError(
                        f"labels: their {name} add up to {added}, totals.{name} is {getattr(totals, name)}"
                    )
        elif totals.requests or totals.failures:
            raise ValueError(f"labels: none, for a total of {totals.requests} requests and {totals.failures} failures")
        for name in ("requests", "failures", "user_errors"):
            added = sum(getattr(point, name) for point in self.series)
            if added != getattr(totals, name):
                raise ValueError(f"series: its {name} add up to {added}, totals.{name} is {getattr(totals, name)}")
        low, high = self.timings.window
        previous = -1
        for index, point in enumerate(self.series):
            if point.t <= previous:
                raise ValueError(
                    f"series.{index}.t: {point.t} does not follow {previous} (one point a second, in order)"
                )
            if not low - 1 < point.t <= high:
                raise ValueError(
                    f"series.{index}.t: {point.t} is outside the run's window "
                    f"({low:.0f}-{high:.0f}: start_at - {WINDOW_SLACK_SECONDS:g} s to ended_at + "
                    f"{WINDOW_SLACK_SECONDS:g} s)"
                )
            previous = point.t
        for name in ("first_request", "last_request"):
            moment = getattr(self.timings, name)
            if moment is not None and not low <= moment <= high:
                raise ValueError(f"timings.{name}: {moment:.3f} is outside the run's window ({low:.0f}-{high:.0f})")
        return self

    def _arrivals_agree(self) -> None:
        """The series' arrivals add up to the totals; intended latencies are in every label with requests, or none."""
        if self.arrivals is not None or any(point.planned is not None for point in self.series):
            if self.arrivals is None:
                raise ValueError("series: arrivals counted per second, but no arrivals in total")
            for name in ("planned", "sent", "dropped"):
                added = sum(getattr(point, name) or 0 for point in self.series)
                if added != getattr(self.arrivals, name):
                    total = getattr(self.arrivals, name)
                    raise ValueError(f"series: its {name} arrivals add up to {added}, arrivals.{name} is {total}")
        timed = self.totals.intended_histogram is not None
        for label, part in self.labels.items():
            if part.requests and (part.intended_histogram is not None) != timed:
                raise ValueError(
                    f"labels.{label[:40]!r}: intended_histogram "
                    f"{'missing' if timed else 'given'}, but {'given' if timed else 'missing'} in totals"
                )


def parse_summary(data: bytes, run_id: str, executor_id: str) -> Summary:
    """`data` as the summary of `executor_id` in `run_id`, checked whole; RejectedSummary otherwise."""
    if len(data) > MAX_SUMMARY_BYTES:
        raise RejectedSummary(f"{len(data)} bytes, more than {MAX_SUMMARY_BYTES}")
    try:
        summary = Summary.model_validate_json(data)
    except ValidationError as exc:
        raise RejectedSummary(describe_error(exc)) from None
    if summary.run_id != run_id:
        raise RejectedSummary(f"run_id: it names run {_quoted(summary.run_id)}, not {_quoted(run_id)}")
    if summary.executor_id != executor_id:
        raise RejectedSummary(
            f"executor_id: it claims executor {_quoted(summary.executor_id)}, but is stored as {_quoted(executor_id)}"
        )
    return summary


# --- one line from pydantic's errors --------------------------------------------------------

_PLAIN = re.compile(r"[A-Za-z0-9_./:\[\]-]{1,40}")
_TYPES = {
    "dict_type": "expected an object",
    "model_type": "expected an object",
    "model_attributes_type": "expected an object",
    "list_type": "expected a list",
    "string_type": "expected a string",
    "bool_type": "expected true or false",
    "int_type": "expected an integer",
    "int_parsing": "expected an integer",
    "int_from_float": "expected an integer",
    "float_type": "expected a number",
    "float_parsing": "expected a number",
    "finite_number": "expected a finite number",
    "missing": "missing",
    "json_invalid": "not valid JSON",
    "json_type": "not valid JSON",
}


def describe_error(exc: ValidationError) -> str:
    """The first of pydantic's errors as one line, `where: what` (user input shown quoted and cut short)."""
    first = exc.errors(include_url=False)[0]
    where = ".".join(
        _quoted(part) if isinstance(part, str) and not _PLAIN.fullmatch(part) else str(part)
        for part in first.get("loc", ())
    )
    kind, ctx = first.get("type", ""), first.get("ctx") or {}
    if kind in _TYPES:
        what = _TYPES[kind]
    elif kind in ("greater_than_equal", "less_than_equal"):
        what = f"expected a number {'>=' if kind == 'greater_than_equal' else '<='} {ctx.get('ge', ctx.get('le'))}"
    elif kind == "string_too_long":
        what = f"longer than {ctx.get('max_length')} characters"
    elif kind == "too_long":
        what = f"more than {ctx.get('max_length')} entries"
    elif kind == "literal_error":
        what = f"expected {ctx.get('expected')}"
    elif kind == "value_error":
        what = str(ctx.get("error") or first.get("msg", "")).removeprefix("Value error, ")
    else:
        what = str(first.get("msg", kind))
    if kind == "json_invalid" and ctx.get("error"):
        what += f" ({ctx['error']})"
    line = f"{where}: {what}" if where else what
    return " ".join(line.split())[:300]


def _quoted(text: str) -> str:
    """User input inside a message: repr (no newline survives), at most 40 characters of it."""
    return repr(text[:40] + ("..." if len(text) > 40 else ""))
