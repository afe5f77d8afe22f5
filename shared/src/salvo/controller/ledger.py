"""The run's accounting: every started member ends as exactly one outcome.

    finished  its summary was read and counted once
    failed    its load tool failed, it refused or never took the start, it stopped early,
              or some of its results could not be read
    lost      it went silent during the run
    missing   it finished, but its summary is absent, unreadable or not its own

Summaries are counted by the location they were read from, once each, and only
when they name the run and the executor of that location: a summary that
claims another executor's id is never merged in that executor's place.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from enum import Enum

from salvo.common.protocol import ExecutorState, Finished
from salvo.common.summary import SCHEMA


class Liveness(str, Enum):
    """Where a member stands while the run is watched."""

    RUNNING = "running"
    ENDED = "ended"  # said it finished, or refused the start
    LOST = "lost"


class Outcome(str, Enum):
    FINISHED = "finished"
    FAILED = "failed"
    LOST = "lost"
    MISSING = "missing results"


@dataclass
class Member:
    host: str
    executor_id: str
    last_seen: float
    liveness: Liveness = Liveness.RUNNING
    last_status: ExecutorState | None = None
    acked: bool = False
    refused: str | None = None
    finished: Finished | None = None
    outcome: Outcome | None = None
    reason: str = ""

    def describe(self) -> str:
        return f"{self.executor_id} ({self.host})"


class InvalidSummary(ValueError):
    """A summary.json that cannot be counted: not JSON, another schema, another run or executor."""


def check_summary(data: bytes, run_id: str, executor_id: str) -> dict:
    """The parsed summary if it is a salvo.summary/1 of this run and this executor; InvalidSummary otherwise."""
    try:
        summary = json.loads(data)
    except ValueError as exc:
        raise InvalidSummary(f"not valid JSON ({exc})") from None
    if not isinstance(summary, dict):
        raise InvalidSummary("not a JSON object")
    if summary.get("schema") != SCHEMA:
        raise InvalidSummary(f"schema {summary.get('schema')!r}, expected {SCHEMA!r}")
    if summary.get("run_id") != run_id:
        raise InvalidSummary(f"it is run {summary.get('run_id')!r}'s, not {run_id!r}'s")
    if summary.get("executor_id") != executor_id:
        raise InvalidSummary(f"it claims executor {summary.get('executor_id')!r}, but was stored as {executor_id!r}'s")
    if not isinstance(summary.get("totals"), dict):
        raise InvalidSummary("it has no totals")
    return summary


@dataclass
class Ledger:
    members: dict[str, Member] = field(default_factory=dict)  # by executor id
    summaries: dict[str, dict] = field(default_factory=dict)  # executor id -> its counted summary
    _by_host: dict[str, Member] = field(default_factory=dict)

    def add(self, member: Member) -> None:
        if member.executor_id in self.members:
            raise ValueError(f"executor id {member.executor_id} is already in the fleet")
        self.members[member.executor_id] = member
        self._by_host[member.host] = member

    def at_host(self, host: str) -> Member | None:
        return self._by_host.get(host)

    def running(self) -> list[Member]:
        return [m for m in self.members.values() if m.liveness is Liveness.RUNNING]

    def lost(self) -> list[Member]:
        return [m for m in self.members.values() if m.liveness is Liveness.LOST]

    def count(self, executor_id: str, summary: dict) -> None:
        if executor_id in self.summaries:
            raise ValueError(f"the summary of {executor_id} was counted already")
        self.summaries[executor_id] = summary

    def settle(self, unreadable: dict[str, str]) -> None:
        """Give every member its one outcome, from what was watched and what was read."""
        for member in self.members.values():
            summary = self.summaries.get(member.executor_id)
            member.outcome, member.reason = _outcome(member, summary, unreadable.get(member.executor_id))

    def with_outcome(self, outcome: Outcome) -> list[Member]:
        return sorted((m for m in self.members.values() if m.outcome is outcome), key=lambda m: m.executor_id)


def _outcome(member: Member, summary: dict | None, unreadable: str | None) -> tuple[Outcome, str]:
    if member.refused is not None:
        return Outcome.FAILED, f"did not start: {member.refused}"
    if member.liveness is Liveness.LOST:
        counted = "; its uploaded results are counted" if summary is not None else ""
        return Outcome.LOST, f"went silent during the run{counted}"
    exit_code = None
    if summary is not None:
        exit_code = summary.get("exit_code")
    elif member.finished is not None:
        exit_code = member.finished.exit_code
    if exit_code not in (None, 0):
        why = (summary or {}).get("stop_reason") or (member.finished.reason if member.finished else "")
        return Outcome.FAILED, f"exit code {exit_code}: {why}".rstrip(": ")
    if summary is None:
        return Outcome.MISSING, unreadable or "no summary.json"
    if summary.get("unreadable_lines"):
        return Outcome.FAILED, f"{summary['unreadable_lines']} of its result lines could not be read: not counted whole"
    return Outcome.FINISHED, "counted"
