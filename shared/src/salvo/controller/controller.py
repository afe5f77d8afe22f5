"""The controller: discover the fleet, start it once at start_at, watch it, merge, judge.

Its parts are passed in (see `salvo.cli` for the production wiring): the link
factory, the prober and the targets for discovery, the S3 store and the clock.
Exit codes are decided in one place, `salvo.controller.verdict`.
"""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import time
import uuid
from collections.abc import Callable
from enum import Enum

from salvo import __version__
from salvo.common.clock import Clock
from salvo.common.clocksync import ClockSample
from salvo.common.environment import scenario_environment
from salvo.common.errors import PreStartFailed
from salvo.common.layout import run_location
from salvo.common.protocol import (
    START_QUIET_SECONDS,
    Dismiss,
    ExecutorState,
    Finished,
    Heartbeat,
    IntervalStats,
    Start,
    StartAck,
    Status,
    Stop,
)
from salvo.common.signals import Interrupted, exit_code_for_signal
from salvo.common.store import Store
from salvo.common.transport import RateLimitedWarning
from salvo.controller.clocks import RECHECK_SECONDS, FleetClocks, synchronise
from salvo.controller.collect import read_summaries
from salvo.controller.compare import compare_to_baseline
from salvo.controller.criteria import evaluate
from salvo.controller.discovery import Fleet, Seen, TooFewExecutors, discover, too_few
from salvo.controller.launch import Launcher
from salvo.controller.ledger import Ledger, Liveness, Member
from salvo.controller.live import LiveView
from salvo.controller.metrics import LiveMetrics, serving
from salvo.controller.openmodel import RateCheck
from salvo.controller.parts import FleetLink
from salvo.controller.preflight import check_results_destination, read_baseline
from salvo.controller.report import Report, publish_report
from salvo.controller.settings import ControllerSettings, LostExecutorPolicy
from salvo.controller.sharing import check_fleet_load, fleet_load, fleet_load_report, fleet_regions
from salvo.controller.verdict import FleetStrength, judge

log = logging.getLogger(__name__)

SUBSCRIBE_TIMEOUT = 10.0
HANDSHAKE_TIMEOUT = 5.0
INTERRUPTED_UPLOAD_SECONDS = 20.0
INTERRUPTED_FINISH_SECONDS = 30.0  # after a signal: time for executors to stop and upload
DISMISS_WAIT_SECONDS = 150.0  # dismissed executors answer once re-armed (SALVO_ARM_TIMEOUT, 120 s by default)
SWEEP_SECONDS = 0.1  # the watch's checks of every member (silence, never started, counts) run this far apart
QUIET_STATES = {ExecutorState.STOPPING, ExecutorState.UPLOADING}  # may be silent while uploading


class Phase(str, Enum):
    CHECKS = "checks"
    LAUNCH = "launch"
    DISCOVERY = "discovery"
    PRE_START = "pre-start"
    START = "start"
    WATCH = "watch"
    CONCLUSION = "conclusion"


def new_run_id(clock: Clock) -> str:
    return time.strftime("run-%Y%m%d-%H%M%S-", time.gmtime(clock.time())) + uuid.uuid4().hex[:6]


class Controller:
    def __init__(
        self,
        settings: ControllerSettings,
        *,
        link_factory: Callable[[], FleetLink],
        prober: Callable[[list[str]], list[str]],
        targets: Callable[[], list[str]],
        store: Store,
        clock: Clock,
        launcher_factory: Callable[[str], Launcher] | None = None,
    ):
        """`launcher_factory(run_id)`, when given, starts the fleet before discovery; its addresses are the targets."""
        self.settings = settings
        self.link_factory = link_factory
        self.prober = prober
        self.targets = targets
        self.store = store
        self.clock = clock
        self.run_id = settings.run_id or new_run_id(clock)
        self.launcher = launcher_factory(self.run_id) if launcher_factory is not None else None
        if self.launcher is not None:
            self.targets = self.launcher.addresses
        self.pending_signal: int | None = None
        self.ledger = Ledger()
        self.link: FleetLink | None = None
        self.phase = Phase.CHECKS
        self.signals = 0
        self.baseline = None  # SALVO_BASELINE_RUN's figures, read in the preflight
        self.fleet_load: dict | None = None
        self.regions: dict[str, str] = {}  # executor -> its region, as its Status said (live metrics)
        self.metrics: LiveMetrics | None = None
        self.clocks = FleetClocks()
        self.warnings = RateLimitedWarning()

    # --- top level ---------------------------------------------------------------------

    def run(self) -> int:
        with serving(self.settings, self.run_id, [p.value for p in Phase], lambda: self.phase.value) as self.metrics:
            return self._run()

    def _run(self) -> int:
        check_results_destination(self.store, self.settings, self.run_id)
        self.baseline = read_baseline(self.store, self.settings)
        if self.launcher is None:
            return self._run_fleet()
        ending = "the run failed"
        try:
            code = self._run_fleet()
            ending = f"the run ended (exit {code})"
            return code
        finally:  # however the run ends (verdict, error, signal), no task it started is left running
            self.launcher.stop_all(ending)

    def _run_fleet(self) -> int:
        try:
            self.link = self.link_factory()  # one link for the whole run: every handshake is done once
            try:
                if self.launcher is not None:
                    self.phase = Phase.LAUNCH
                    self.launcher.launch()
                self.phase = Phase.DISCOVERY
                fleet = self._discover()
                self.phase = Phase.PRE_START
                self._pre_start()
                self.phase = Phase.START
                start = self._start(fleet)
                self.phase = Phase.WATCH
                self._watch(start)
            except BaseException:
                self._close_link()
                raise
        except Interrupted as exc:
            log.warning("interrupted by %s before the start: no load was started", exc)
            return int(exit_code_for_signal(exc.signum))
        try:
            return self._conclude(start)
        finally:
            self._close_link()  # after the report: a dismissed fleet may end the rehearsal (compose)

    def _close_link(self) -> None:
        if self.settings.dismiss_fleet:
            self._dismiss_fleet()
        self.link.close()

    def _dismiss_fleet(self) -> None:
        """Executors exit instead of re-arming; wait for each member's last word, so that when the
        controller ends nothing of the fleet still needs the rest of a compose rehearsal (S3, target)."""
        staying = {m.host for m in self.ledger.members.values() if m.liveness is not Liveness.LOST}
        log.info("dismissing the fleet (SALVO_DISMISS_FLEET): waiting for %d executor(s) to leave", len(staying))
        self.link.publish(Dismiss(run_id=self.run_id))
        deadline, signals = self.clock.monotonic() + DISMISS_WAIT_SECONDS, self.signals
        while staying and self.clock.monotonic() < deadline and self.signals == signals:
            staying -= {host for host, message in self.link.receive(0.1) if getattr(message, "leaving", False)}
        if staying:
            log.warning(
                "no word of leaving from %d dismissed executor(s): %s", len(staying), ", ".join(sorted(staying))
            )

    def interrupt(self, signum: int) -> None:
        """What SIGTERM/SIGINT do: before the start, give up at once; after it, stop the fleet and report.

        A second signal cuts short the wait for the fleet, or the reading of summaries."""
        log.warning("%s received in the %s phase", signal.Signals(signum).name, self.phase.value)
        self.pending_signal = signum
        self.signals += 1
        if self.phase in (Phase.LAUNCH, Phase.DISCOVERY, Phase.PRE_START):
            raise Interrupted(signum)

    def _raise_if_signalled(self) -> None:
        if self.pending_signal is not None:
            raise Interrupted(self.pending_signal)

    # --- before the start ----------------------------------------------------------------

    def _discover(self) -> Fleet:
        log.info("run %s: looking for executors", self.run_id)
        fleet = discover(
            self.link, self.prober, self.targets, self.settings, self.clock, between_rounds=self._raise_if_signalled
        )
        self.clocks = synchronise(self.link, fleet, self.settings)  # leaves out clocks it cannot correct
        if self.metrics is not None:
            self.metrics.clocks(
                {c.executor_id: (c.at_start.offset, c.at_start.uncertainty) for c in self.clocks.by_host.values()}
            )
        if len(fleet.members) < self.settings.quorum:
            raise TooFewExecutors(too_few(fleet, self.settings))
        for found in fleet.found.values():
            if found.seen is not Seen.MEMBER:
                log.warning("not in the fleet: %s", found.describe())
                self.link.remove_executor(found.host)
        ids = sorted(fleet.member_ids())
        log.info(
            "fleet complete: %d executor(s): %s",
            len(ids),
            ", ".join(ids) if len(ids) <= 20 else f"{', '.join(ids[:10])} ... {', '.join(ids[-5:])}",
        )
        return fleet

    def _pre_start(self) -> None:
        command = self.settings.pre_start_command
        if not command:
            return
        log.info("pre-start command: %s", command)
        try:
            # a shell: SALVO_PRE_START_COMMAND is the operator's own command line (S602);
            # without Salvo's keys: the command is the operator's, its tools are not
            result = subprocess.run(  # noqa: S602
                command,
                shell=True,
                capture_output=True,
                text=True,
                timeout=self.settings.pre_start_timeout,
                env=scenario_environment(os.environ),
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
        hosts = [found.host for found in fleet.members]
        began = self.clock.monotonic()
        statuses = self.link.handshake_many(hosts, timeout=HANDSHAKE_TIMEOUT, watch=True)
        round_trip = self.clock.monotonic() - began  # a message to every member and back, on live connections
        armed: dict[str, Status] = {}
        for found in fleet.members:
            status = statuses.get(found.host)
            if status is not None and status.state is ExecutorState.ARMED:
                self.ledger.add(Member(found.host, status.executor_id, last_seen=self.clock.monotonic()))
                armed[status.executor_id] = status
            else:
                log.warning("%s (%s) is no longer armed; leaving it out", found.host, found.status.executor_id)
                self.link.remove_executor(found.host)
        if not self.ledger.members:
            raise TooFewExecutors("no executor is armed any more; nothing to start")
        load = fleet_load(self.settings)
        check_fleet_load(load, armed)
        regions = fleet_regions(load, armed)  # in sorted(armed) order, the Start's fleet order
        self.regions = {executor_id: status.region for executor_id, status in armed.items() if status.region}
        self.fleet_load = fleet_load_report(load, armed)
        subscribed = self._wait_subscribed(len(self.ledger.members))
        if subscribed < len(self.ledger.members):
            log.warning(
                "only %d of %d executors confirmed their subscription; starting anyway",
                subscribed,
                len(self.ledger.members),
            )
        self._raise_if_signalled()  # the last moment a signal means "nothing was started"
        # Raised when reaching the whole fleet takes long: far away, or thousands of members.
        lead = max(self.settings.start_lead / 1000, 2 * round_trip + 0.1)
        now = self.clock.time()
        start = Start(
            run_id=self.run_id,
            fleet=sorted(self.ledger.members),
            start_at=now + lead,
            sent_at=now,
            params={"controller_version": __version__},
            load=load,
            live_labels=self.metrics is not None,
            fleet_regions=regions,
        )
        self.link.publish(start)
        log.info(
            "start published: run %s, %d executors, start_at in %.0f ms",
            self.run_id,
            len(self.ledger.members),
            lead * 1000,
        )
        self._collect_acks(start)
        return start

    def _wait_subscribed(self, count: int) -> int:
        """Each executor's SUB subscription must be confirmed, or the start could be lost (slow joiner)."""
        deadline = self.clock.monotonic() + SUBSCRIBE_TIMEOUT
        seen = 0
        while self.clock.monotonic() < deadline and seen < count:
            seen = self.link.wait_subscribed(count, timeout=0.1)
            for host, message in self.link.receive(0):
                self._on_status(host, message)
        return seen

    def _collect_acks(self, start: Start) -> None:
        """Acknowledgements until start_at; then, through the quiet window, only what executors send (nothing is
        sent and nothing wakes by itself while the load tools' threads start)."""
        self._receive_until(start.start_at)
        missing = [m.executor_id for m in self.ledger.members.values() if not m.acked and m.refused is None]
        if missing:
            log.warning("no start acknowledgement before start_at from: %s", ", ".join(sorted(missing)))
        self._receive_until(start.start_at + START_QUIET_SECONDS)

    def _receive_until(self, until: float) -> None:
        while self.clock.time() < until:
            for host, message in self.link.receive(max(0.0, until - self.clock.time())):
                self._on_status(host, message)

    # --- during the run ----------------------------------------------------------------

    def _watch(self, start: Start) -> None:
        """Heartbeats, live line, lost executors, until every member ended, was lost, or the fleet was stopped."""
        s = self.settings
        live = LiveView(s, self.run_id, start.start_at, self.clock, self.metrics, len(start.fleet), self.regions)
        next_beat = float("-inf")
        next_clock_check = self.clock.monotonic() + (start.start_at - self.clock.time()) + START_QUIET_SECONDS
        stopped_at: float | None = None
        deadline = self.clock.monotonic() + (start.start_at - self.clock.time()) + s.run_timeout
        for member in self.ledger.members.values():
            member.last_seen = self.clock.monotonic()
        running, lost, next_sweep = self.ledger.running(), 0, float("-inf")
        while running:
            now = self.clock.monotonic()
            if now >= next_beat:
                self.link.publish(Heartbeat(run_id=self.run_id, sent_at=self.clock.time()))
                next_beat = now + s.heartbeat_interval
            if now >= next_clock_check:  # drift: one exchange per running member (answers come via receive)
                for member in running:
                    self.link.probe_clock(member.host)
                next_clock_check = now + RECHECK_SECONDS
            reason = None
            if self.pending_signal is not None:
                reason = f"controller interrupted by {signal.Signals(self.pending_signal).name}"
            elif now >= deadline:
                reason = f"SALVO_RUN_TIMEOUT={s.run_timeout:g}s reached"
            elif s.lost_executor_policy is LostExecutorPolicy.FAIL and lost:
                reason = "an executor was lost and SALVO_LOST_EXECUTOR_POLICY=fail"
            if reason and stopped_at is None:
                log.warning("stopping the fleet: %s", reason)
                self.link.publish(Stop(run_id=self.run_id, reason=reason))
                stopped_at = now
            allowed = (
                s.finish_timeout if self.pending_signal is None else min(s.finish_timeout, INTERRUPTED_FINISH_SECONDS)
            )
            if stopped_at is not None and (now - stopped_at > allowed or self.signals > 1):
                log.warning("stopped waiting for the fleet %.0f s after the stop", now - stopped_at)
                break
            for host, message in self.link.receive(0.1):
                if (
                    self._on_status(host, message)
                    and isinstance(message, IntervalStats)
                    and message.run_id == self.run_id
                ):
                    live.add(message)
            # What looks at every member runs SWEEP_SECONDS apart, not once per receive: with thousands of members
            # a receive returns a few messages, and a pass over the fleet each time cost more than the messages.
            if self.clock.monotonic() >= next_sweep:
                self._mark_silent_members_lost()
                self._mark_members_that_never_started(start)
                running, lost = self.ledger.running(), len(self.ledger.lost())
                live.tick(active=len(running), lost=lost)
                next_sweep = self.clock.monotonic() + SWEEP_SECONDS
        live.close()

    def _on_status(self, host: str, message) -> bool:
        """Account for one decoded status message (salvo.common.protocol checked its fields); False: dropped."""
        member = self.ledger.at_host(host)
        if isinstance(message, ClockSample):  # an answer to a drift probe: a sign of life too
            self.clocks.add(host, message)
            if member is not None:
                member.last_seen = self.clock.monotonic()
            return True
        if member is None:
            return False
        claimed = getattr(message, "executor_id", member.executor_id)
        if claimed != member.executor_id:  # a member speaks for itself only
            self.ledger.drop(member.executor_id)
            self.warnings.warn(
                f"claims-{host}",
                "dropped a %s from %s: it names executor %r",
                type(message).__name__,
                member.describe(),
                claimed,
            )
            return False
        member.last_seen = self.clock.monotonic()
        ours = getattr(message, "run_id", None) == self.run_id
        if isinstance(message, Status):
            member.last_status = message.state
            if message.state is ExecutorState.DONE and ours and member.liveness is Liveness.RUNNING:
                member.liveness = Liveness.ENDED
        elif isinstance(message, StartAck) and ours:
            member.acked = message.accepted
            if not message.accepted:
                member.refused = message.reason
                member.liveness = Liveness.ENDED
                log.warning("%s refused the start: %s", member.executor_id, message.reason)
        elif isinstance(message, Finished) and ours:
            member.finished = message
            if member.liveness is Liveness.RUNNING:
                log.info("%s finished: %s (exit %d)", member.executor_id, message.reason, message.exit_code)
                member.liveness = Liveness.ENDED
        return True

    def _mark_silent_members_lost(self) -> None:
        now = self.clock.monotonic()
        for member in self.ledger.running():
            allowed = (
                self.settings.finish_timeout if member.last_status in QUIET_STATES else self.settings.liveness_timeout
            )
            if now - member.last_seen > allowed:
                member.liveness = Liveness.LOST
                log.error("executor %s lost: silent for %.1f s", member.describe(), now - member.last_seen)

    def _mark_members_that_never_started(self, start: Start) -> None:
        """Alive but still armed well after start_at: the start never reached it (or it re-armed)."""
        if self.clock.time() < start.start_at + self.settings.liveness_timeout:
            return
        for member in self.ledger.running():
            if not member.acked and member.last_status is ExecutorState.ARMED:
                member.refused = "it was still armed after start_at: the start never reached it"
                member.liveness = Liveness.ENDED
                log.error("executor %s never started", member.describe())

    # --- after the run -----------------------------------------------------------------

    def _conclude(self, start: Start) -> int:
        s = self.settings
        self.phase = Phase.CONCLUSION
        interrupted = exit_code_for_signal(self.pending_signal) if self.pending_signal is not None else None
        signals_before = self.signals
        collected = read_summaries(
            self.store,
            s.results_uri,
            self.run_id,
            sorted(self.ledger.members),
            budget_seconds=s.s3_retry_seconds,
            clock=self.clock,
            max_bytes=s.max_summary_bytes,
            count=self.ledger.count,  # merged as read: the ledger keeps no executor's series or labels
            should_stop=lambda: self.signals > signals_before,
            idle=lambda: self.link.receive(0),  # read and let go: unread, the executors' heartbeats pile up
        )
        if collected.abandoned:
            interrupted = exit_code_for_signal(self.pending_signal)
            log.warning("interrupted while reading the summaries: the report covers what was read")
        self.ledger.settle(collected.unreadable, collected.rejected)
        self.ledger.drop_at_hosts(self.link.dropped)
        merged = self.ledger.merged()
        results = evaluate(s.effective_criteria, merged.overall(), merged.label_rows())
        comparison = compare_to_baseline(self.baseline, self.run_id, merged, start.start_at, s.regression)
        verdict = judge(
            self.ledger,
            merged.totals.requests,
            results,
            s.lost_executor_policy,
            interrupted,
            comparison.results if comparison else (),
            failed_requests=merged.totals.failed_requests,
            strength=FleetStrength.of(len(start.fleet), s),
            rate=RateCheck.of(merged.arrivals, s.rate_tolerance),
        )
        report = Report(
            run_id=self.run_id,
            merged=merged,
            criteria=results,
            ledger=self.ledger,
            verdict=verdict,
            start_at=start.start_at,
            fleet=start.fleet,
            fleet_load=self.fleet_load,
            baseline=comparison,
            links=s.declared_key_mode(),
            clocks=self.clocks.report(),
        )
        print(report.console_table(), flush=True)
        store = self.store.bounded(INTERRUPTED_UPLOAD_SECONDS) if self.pending_signal is not None else self.store
        publish_report(report, store, run_location(s.results_uri, self.run_id), s.report_dir)
        for reason in verdict.reasons:
            log.error("%s", reason)
        log.info("verdict: %s (exit %d)", verdict.word, verdict.exit_code)
        return int(verdict.exit_code)
