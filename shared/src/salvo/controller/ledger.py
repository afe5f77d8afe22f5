"""The run's accounting: every started member ends as exactly one outcome.

    finished  its summary was read and counted once
    failed    its load tool failed, it refused or never took the start, it stopped early,
              or some of its results could not be read
    lost      it went silent during the run
    missing   it finished, but its summary is absent or could not be read
    rejected  its summary was read but is malformed, forged or not its own (salvo.common.summary_schema)

Summaries are counted by the location they were read from, once each, and only
once parsed whole and naming the run and the executor of that location: a summary
that claims another executor's id is never merged in that executor's place.
Counting merges the summary (salvo.controller.merge.FleetMerger) and keeps of it only
what the report reads per executor (Counted): its labels and per-second series are
dropped once merged, so a long run on a large fleet is not held executor by executor.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum

from salvo.common.protocol import ExecutorState, Finished
from salvo.common.summary_schema import ArrivalCounts, Scenario, Share, Summary, TallyPart, Timings
from salvo.controller.merge import FleetMerger, MergedRun


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
    REJECTED = "rejected"


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


@dataclass(frozen=True)
class Counted:
    """A counted summary as the ledger keeps it once merged: everything but its labels and series."""

    executor_id: str
    version: str | None
    region: str | None
    tools: dict[str, str | None]
    scenario: Scenario | None
    gated: bool | None
    exit_code: int | None
    stop_reason: str | None
    share: Share | None
    unreadable_lines: int
    timings: Timings
    totals: TallyPart  # with its histogram: salvo.controller.merge.averaged_percentile
    arrivals: ArrivalCounts | None

    @classmethod
    def of(cls, summary: Summary) -> Counted:
        return cls(
            executor_id=summary.executor_id,
            version=summary.version,
            region=summary.region,
            tools=dict(summary.tools),
            scenario=summary.scenario,
            gated=summary.gated,
            exit_code=summary.exit_code,
            stop_reason=summary.stop_reason,
            share=summary.share,
            unreadable_lines=summary.unreadable_lines,
            timings=summary.timings,
            totals=summary.totals,
            arrivals=summary.arrivals,
        )


@dataclass
class Ledger:
    members: dict[str, Member] = field(default_factory=dict)  # by executor id
    counted: dict[str, Counted] = field(default_factory=dict)  # executor id -> what is kept of its counted summary
    merging: FleetMerger = field(default_factory=FleetMerger)  # every counted summary, merged as counted
    # executor id (or host, if never a member) -> its status messages dropped: malformed, or naming another executor
    dropped: dict[str, int] = field(default_factory=dict)
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

    def count(self, executor_id: str, summary: Summary) -> None:
        """Count and merge one summary parsed whole; only what the report reads per executor stays."""
        if executor_id in self.counted:
            raise ValueError(f"the summary of {executor_id} was counted already")
        self.merging.add(summary)
        self.counted[executor_id] = Counted.of(summary)

    def merged(self) -> MergedRun:
        """Every counted summary merged (once read, nothing more can be counted)."""
        return self.merging.run.result()

    def regions(self) -> dict[str, MergedRun]:
        """Each region's counted summaries merged, by region; {} when none named one."""
        return self.merging.regions()

    def settle(self, unreadable: dict[str, str], rejected: dict[str, str] | None = None) -> None:
        """Give every member its one outcome, from what was watched and what was read.

        `unreadable`: executor id -> why its summary could not be read; `rejected`: -> why the one read
        cannot be counted."""
        for member in self.members.values():
            member.outcome, member.reason = _outcome(
                member,
                self.counted.get(member.executor_id),
                unreadable.get(member.executor_id),
                (rejected or {}).get(member.executor_id),
            )

    def drop(self, key: str, count: int = 1) -> None:
        self.dropped[key] = self.dropped.get(key, 0) + count

    def drop_at_hosts(self, by_host: dict[str, int]) -> None:
        """Messages the link dropped, counted by host (salvo.controller.link), to their members."""
        for host, count in by_host.items():
            member = self.at_host(host)
            self.drop(member.executor_id if member is not None else host, count)

    def with_outcome(self, outcome: Outcome) -> list[Member]:
        return sorted((m for m in self.members.values() if m.outcome is outcome), key=lambda m: m.executor_id)


def _outcome(
    member: Member, summary: Counted | None, unreadable: str | None, rejected: str | None
) -> tuple[Outcome, str]:
    if member.refused is not None:
        return Outcome.FAILED, f"did not start: {member.refused}"
    if member.liveness is Liveness.LOST:
        counted = (
            "; its uploaded results are counted"
            if summary is not None
            else (f"; its uploaded results are rejected: {rejected}" if rejected is not None else "")
        )
        return Outcome.LOST, f"went silent during the run{counted}"
    if rejected is not None and summary is None:  # nothing it says about itself can be believed
        return Outcome.REJECTED, f"rejected: {rejected}"
    exit_code = None
    if summary is not None:
        exit_code = summary.exit_code
    elif member.finished is not None:
        exit_code = member.finished.exit_code
    if exit_code not in (None, 0):
        why = (summary.stop_reason if summary else None) or (member.finished.reason if member.finished else "")
        return Outcome.FAILED, f"exit code {exit_code}: {why}".rstrip(": ")
    if summary is None:
        return Outcome.MISSING, unreadable or "no summary.json"
    if summary.unreadable_lines:
        return Outcome.FAILED, f"{summary.unreadable_lines} of its result lines could not be read: not counted whole"
    return Outcome.FINISHED, "counted"
