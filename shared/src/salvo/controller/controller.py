"""The controller: discover the fleet, start it once at start_at, watch it, merge, judge.

Exit codes: 0 criteria passed, 1 criteria failed, 2 configuration, 3 too few
executors, 4 executors lost or failed under policy `fail` (or the pre-start
command failed), 130/143 interrupted (stop broadcast, partial report written).
"""

from __future__ import annotations

import json
import logging
import signal
import subprocess
import time
import uuid
from dataclasses import dataclass, field
from enum import Enum

from salvo import __version__
from salvo.controller.criteria import evaluate, parse
from salvo.controller.discovery import Fleet, discover, resolve_targets
from salvo.common.errors import ExitCode, SalvoError
from salvo.controller.live import LiveView
from salvo.controller.merge import merge_summaries
from salvo.common.protocol import ExecutorState, Finished, Heartbeat, IntervalStats, Start, StartAck, Status, Stop
from salvo.controller.report import Report, publish_report
from salvo.common.s3 import S3Location, S3ReadError, S3Store
from salvo.controller.settings import ControllerSettings, LostExecutorPolicy
from salvo.controller.link import ControllerLink

log = logging.getLogger(__name__)

SUBSCRIBE_TIMEOUT = 10.0
QUIET_STATES = {ExecutorState.STOPPING, ExecutorState.UPLOADING}  # may be silent while uploading


class PreStartFailed(SalvoError):
    """SALVO_PRE_START_COMMAND failed; no load was started. Its output is in the log above."""

    exit_code = ExitCode.NO_LOAD


class MemberState(str, Enum):
    RUNNING = "running"
    FINISHED = "finished"
    LOST = "lost"


@dataclass
class Member:
    host: str
    executor_id: str
    state: MemberState = MemberState.RUNNING
    last_seen: float = field(default_factory=time.monotonic)
    last_status: ExecutorState | None = None
    acked: bool = False
    finished: Finished | None = None


def new_run_id() -> str:
    return time.strftime("run-%Y%m%d-%H%M%S-", time.gmtime()) + uuid.uuid4().hex[:6]


class Controller:
    def __init__(self, settings: ControllerSettings, store: S3Store | None = None):
        self.settings = settings
        self.criteria = parse(settings.criteria)
        self.store = store or S3Store(retry_seconds=settings.s3_retry_seconds)
        self.run_id = settings.run_id or new_run_id()
        self.fleet_key = settings.fleet_key.get_secret_value() if settings.fleet_key else None
        self.pending_signal: int | None = None
        self.members: dict[str, Member] = {}
        self.link: ControllerLink | None = None

    # --- top level ---------------------------------------------------------------------

    def run(self) -> int:
        signal.signal(signal.SIGTERM, self._on_signal)
        signal.signal(signal.SIGINT, self._on_signal)
        targets = resolve_targets(self.settings)
        log.info("run %s: looking for executors among %d address(es)", self.run_id, len(targets))
        fleet = self._discover(targets)
        self._pre_start()
        try:
            start = self._start(fleet)
            interrupted = self._watch(start)
        finally:
            if self.link is not None:
                self.link.close()
        return self._conclude(start, interrupted)

    def _on_signal(self, signum, _frame) -> None:
        if self.pending_signal is None:
            log.warning("%s received: stopping the fleet", signal.Signals(signum).name)
        self.pending_signal = signum

    def _discover(self, targets: list[str]) -> Fleet:
        scan = ControllerLink(self.fleet_key, self.settings.command_port, self.settings.status_port)
        try:
            fleet = discover(scan, targets, self.settings)
        finally:
            scan.close()
        for found in fleet.found.values():
            if found not in fleet.members:
                log.warning("not in the fleet: %s", found.describe())
        log.info("fleet complete: %d executor(s): %s", len(fleet.members), ", ".join(sorted(fleet.member_ids())))
        return fleet

    def _pre_start(self) -> None:
        command = self.settings.pre_start_command
        if not command:
            return
        log.info("pre-start command: %s", command)
        try:
            result = subprocess.run(
                command, shell=True, capture_output=True, text=True, timeout=self.settings.pre_start_timeout
            )
        except subprocess.TimeoutExpired:
            raise PreStartFailed(
                f"SALVO_PRE_START_COMMAND did not finish within {self.settings.pre_start_timeout:g} s; no load started"
            ) from None
        for line in (result.stdout + result.stderr).splitlines():
            log.info("pre-start | %s", line)
        if result.returncode != 0:
            raise PreStartFailed(f"SALVO_PRE_START_COMMAND exited with {result.returncode}; no load started")

    # --- the start ---------------------------------------------------------------------

    def _start(self, fleet: Fleet) -> Start:
        self.link = ControllerLink(self.fleet_key, self.settings.command_port, self.settings.status_port)
        for found in fleet.members:
            self.link.add_executor(found.host)
            status = self.link.handshake(found.host, timeout=5, watch=True)
            if status is not None and status.state is ExecutorState.ARMED:
                self.members[found.host] = Member(found.host, status.executor_id)
            else:
                log.warning("%s (%s) is no longer armed; leaving it out", found.host, found.status.executor_id)
                self.link.remove_executor(found.host)
        if not self.members:
            raise SalvoError("no executor is armed any more; nothing to start")
        subscribed = self._wait_subscribed(len(self.members))
        if subscribed < len(self.members):
            log.warning("only %d of %d executors confirmed their subscription; starting anyway", subscribed, len(self.members))
        lead = max(self.settings.start_lead / 1000, 10 * fleet.max_rtt() + 0.1)
        start = Start(
            run_id=self.run_id,
            fleet=sorted(m.executor_id for m in self.members.values()),
            start_at=time.time() + lead,
            params={"controller_version": __version__},
        )
        self.link.publish(start)
        log.info("start published: run %s, %d executors, start_at in %.0f ms", self.run_id, len(self.members), lead * 1000)
        self._collect_acks(start)
        return start

    def _wait_subscribed(self, count: int) -> int:
        """Each executor's SUB subscription must be confirmed, or the start could be lost (slow joiner)."""
        deadline = time.monotonic() + SUBSCRIBE_TIMEOUT
        seen = 0
        while time.monotonic() < deadline and seen < count:
            seen = self.link.wait_subscribed(count, timeout=0.1)
            self.link.receive(0)  # keep the status link moving
        return seen

    def _collect_acks(self, start: Start) -> None:
        while time.time() < start.start_at:
            for host, message in self.link.receive(max(0.0, min(0.05, start.start_at - time.time()))):
                self._on_status(host, message)
        missing = [m.executor_id for m in self.members.values() if not m.acked]
        if missing:
            log.warning("no start acknowledgement before start_at from: %s", ", ".join(sorted(missing)))

    # --- during the run ----------------------------------------------------------------

    def _watch(self, start: Start) -> bool:
        """Heartbeats, live line, lost executors; returns True when interrupted by a signal."""
        live = LiveView(self.settings, self.run_id, start.start_at, self.store)
        next_beat = 0.0
        stop_sent = False
        stopped_at: float | None = None
        deadline = time.monotonic() + (start.start_at - time.time()) + self.settings.run_timeout
        for member in self.members.values():
            member.last_seen = time.monotonic()
        while any(m.state is MemberState.RUNNING for m in self.members.values()):
            now = time.monotonic()
            if now >= next_beat:
                self.link.publish(Heartbeat(run_id=self.run_id))
                next_beat = now + self.settings.heartbeat_interval
            reason = None
            if self.pending_signal is not None:
                reason = f"controller interrupted by {signal.Signals(self.pending_signal).name}"
            elif now >= deadline:
                reason = f"SALVO_RUN_TIMEOUT={self.settings.run_timeout:g}s reached"
            elif self.settings.lost_executor_policy is LostExecutorPolicy.FAIL and self._lost():
                reason = "an executor was lost and SALVO_LOST_EXECUTOR_POLICY=fail"
            if reason and not stop_sent:
                log.warning("stopping the fleet: %s", reason)
                self.link.publish(Stop(run_id=self.run_id, reason=reason))
                stop_sent, stopped_at = True, now
            if stopped_at is not None and now - stopped_at > self.settings.finish_timeout:
                log.warning("executors did not finish within %g s after the stop", self.settings.finish_timeout)
                break
            for host, message in self.link.receive(0.1):
                self._on_status(host, message)
                if isinstance(message, IntervalStats) and message.run_id == self.run_id:
                    live.add(message)
            self._mark_lost()
            live.tick(active=sum(m.state is MemberState.RUNNING for m in self.members.values()), lost=len(self._lost()))
        live.close()
        return self.pending_signal is not None

    def _on_status(self, host: str, message) -> None:
        member = self.members.get(host)
        if member is None:
            return
        member.last_seen = time.monotonic()
        if isinstance(message, Status):
            member.last_status = message.state
            if message.state is ExecutorState.DONE and message.run_id == self.run_id:
                member.state = MemberState.FINISHED
        elif isinstance(message, StartAck) and message.run_id == self.run_id:
            member.acked = message.accepted
            if not message.accepted:
                log.warning("%s refused the start: %s", member.executor_id, message.reason)
        elif isinstance(message, Finished) and message.run_id == self.run_id:
            member.finished = message
            if member.state is not MemberState.FINISHED:
                log.info("%s finished: %s (exit %d)", member.executor_id, message.reason, message.exit_code)
            member.state = MemberState.FINISHED

    def _mark_lost(self) -> None:
        now = time.monotonic()
        for member in self.members.values():
            if member.state is not MemberState.RUNNING:
                continue
            allowed = (
                self.settings.finish_timeout if member.last_status in QUIET_STATES else self.settings.liveness_timeout
            )
            if now - member.last_seen > allowed:
                member.state = MemberState.LOST
                log.error("executor %s (%s) lost: silent for %.1f s", member.executor_id, member.host, now - member.last_seen)

    def _lost(self) -> list[Member]:
        return [m for m in self.members.values() if m.state is MemberState.LOST]

    # --- after the run -----------------------------------------------------------------

    def _conclude(self, start: Start, interrupted: bool) -> int:
        summaries, missing = self._read_summaries()
        merged = merge_summaries(summaries)
        lost = sorted(m.executor_id for m in self._lost())
        results = evaluate(self.criteria, merged.overall(), merged.label_rows())
        report = Report(
            run_id=self.run_id,
            merged=merged,
            criteria=results,
            lost=lost,
            missing=missing,
            partial=interrupted or bool(lost) or bool(missing),
            start_at=start.start_at,
            fleet=start.fleet,
        )
        print(report.console_table(), flush=True)
        publish_report(report, self.store, S3Location.parse(self.settings.results_uri).child(self.run_id), self.settings.report_dir)
        if interrupted:
            return int(ExitCode.SIGINT if self.pending_signal == signal.SIGINT else ExitCode.SIGTERM)
        if lost and self.settings.lost_executor_policy is LostExecutorPolicy.FAIL:
            log.error("executors lost under policy fail: %s", ", ".join(lost))
            return int(ExitCode.NO_LOAD)
        failed_executors = [m for m in self.members.values() if m.finished and m.finished.exit_code not in (0,)]
        if failed_executors and self.settings.lost_executor_policy is LostExecutorPolicy.FAIL:
            return int(ExitCode.NO_LOAD)
        verdict = all(r.passed for r in results)
        log.info("verdict: %s", "PASS" if verdict else "FAIL")
        return int(ExitCode.OK if verdict else ExitCode.FAILED)

    def _read_summaries(self) -> tuple[list[dict], list[str]]:
        """Every fleet member's summary.json (lost ones too: they may have uploaded partial results)."""
        base = S3Location.parse(self.settings.results_uri).child(self.run_id, "executors")
        summaries, missing = [], []
        for member in sorted(self.members.values(), key=lambda m: m.executor_id):
            try:
                summaries.append(json.loads(self.store.read_bytes(base.child(member.executor_id, "summary.json"))))
            except (S3ReadError, ValueError) as exc:
                log.warning("no results from %s: %s", member.executor_id, exc)
                missing.append(member.executor_id)
        return summaries, missing

