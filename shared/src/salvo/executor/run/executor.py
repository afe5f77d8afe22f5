"""The executor: fetch, arm, wait for one start, run the load at start_at, upload.

One thread, one poll loop. Everything slow (download, unpack, checks, bzt and
locust start-up) happens before the state becomes ARMED and the sockets are
bound; after a start is accepted only the gate's release is left.

Its parts are passed in (see `salvo.cli` for the production wiring): the link
to the controller, the scenario preparer, the load-tool runner, the S3 store,
the clock and the work folder.
"""

from __future__ import annotations

import logging
import signal
from collections.abc import Callable
from dataclasses import dataclass, field

from salvo import __version__
from salvo.common.clock import Clock, ControllerTime
from salvo.common.defaults import STOP_GRACE_SECONDS
from salvo.common.errors import ExitCode, LoadToolError, NoLoadError, SalvoError
from salvo.common.fleetload import ENV_DATA_FILE
from salvo.common.layout import executor_location, summary_location
from salvo.common.protocol import (
    MAX_TEXT_CHARS,
    ClockAck,
    ClockSet,
    Dismiss,
    ExecutorState,
    Finished,
    Heartbeat,
    Hello,
    IntervalStats,
    Start,
    StartAck,
    Stop,
    TimeEcho,
    TimeProbe,
)
from salvo.common.signals import Interrupted, exit_code_for_signal
from salvo.common.store import Store
from salvo.common.transport import Inbound, Link
from salvo.executor.parts import ExecutorLink, Runner, RunnerFactory
from salvo.executor.presence.presence import ArmedFacts, Presence
from salvo.executor.presence.statefile import StateFile
from salvo.executor.results.collector import ResultsCollector, publish
from salvo.executor.results.finalstatus import write_final_stats
from salvo.executor.run.arming import PreparedRun, ScenarioPreparer
from salvo.executor.run.fleetplace import FleetPlace, take_place
from salvo.executor.run.pacing import POLL_SECONDS, poll_timeout
from salvo.executor.run.workdir import WorkDir
from salvo.executor.scenario.testdata import TestData
from salvo.executor.settings import ExecutorSettings, Mode

log = logging.getLogger(__name__)


@dataclass
class Armed:
    prepared: PreparedRun
    runner: Runner
    armed_at: float
    data: TestData | None = None


@dataclass
class RunOutcome:
    exit_code: ExitCode
    reason: str
    start: Start
    ended_at: float = 0.0
    timings: dict = field(default_factory=dict)


class Executor:
    def __init__(
        self,
        settings: ExecutorSettings,
        *,
        executor_id: str,
        preparer: ScenarioPreparer,
        runner_factory: RunnerFactory,
        link_factory: Callable[[], ExecutorLink],
        store: Store,
        clock: Clock,
        workdir: WorkDir,
        region: str | None = None,
    ):
        self.settings = settings
        self.id = executor_id
        self.region = region  # salvo.executor.presence.identity.executor_region: in every Status and the summary
        self.preparer = preparer
        self.runner_factory = runner_factory
        self.link_factory = link_factory
        self.store = store
        # The executor thinks in the controller's time (start_at, timings, series); its load tool reads this
        # host's clock, and is told start_at on it (self.clock.to_local). The offset comes from the controller.
        self.clock = ControllerTime(clock)
        self._clock_frozen = False  # a start was accepted: the offset no longer changes
        self.workdir = workdir
        self.presence = Presence(
            executor_id, str(settings.scenario_uri), StateFile(workdir.state_path), self.clock, region=region
        )
        self.seen_runs: set[str] = set()
        self.armed: Armed | None = None
        self.pending_signal: int | None = None
        self._arming = False
        self._stopping_since: float | None = None
        self.dismissed = False  # a Dismiss arrived: exit after the current run instead of re-arming
        self.place: FleetPlace | None = None

    @property
    def state(self) -> ExecutorState:
        return self.presence.state

    @property
    def link(self) -> ExecutorLink | None:
        return self.presence.link

    # --- top level -----------------------------------------------------------------

    def run(self) -> int:
        log.info(
            "executor %s (salvo %s) starting in region %s; scenario %s",
            self.id,
            __version__,
            self.region or "unknown",
            self.settings.scenario_uri,
        )
        self.workdir.acquire()  # before anything is written there: WorkDirInUse (exit 2) otherwise
        try:
            while True:
                code = self._one_run()
                if self.settings.mode is Mode.ONESHOT or code in (ExitCode.SIGINT, ExitCode.SIGTERM):
                    return int(code)
                if self.dismissed:
                    return leave(self.presence, "dismissed by the controller: not re-arming")
                log.info("service mode: re-arming for the next run")
        except Dismissed:
            return leave(self.presence, "dismissed by the controller while armed: no load started, exiting")
        except Interrupted as exc:
            log.warning("interrupted by %s before any load started", exc)
            return int(exit_code_for_signal(exc.signum))
        except SalvoError as exc:
            self.presence.set_state(ExecutorState.FAILED)
            log.error("%s", exc)
            return int(exc.exit_code)
        finally:
            if self.armed is not None:
                self.armed.runner.abort()
            if self.link is not None:
                self.link.close()
            self.workdir.release()

    def interrupt(self, signum: int) -> None:
        """What SIGTERM/SIGINT do: stop gracefully (upload what exists), or give up arming at once."""
        self.pending_signal = signum
        if self._arming:
            raise Interrupted(signum)

    def _one_run(self) -> ExitCode:
        self.presence.run_id = None
        self._clock_frozen = False  # a new run (service mode): the next controller measures the clock again
        self.armed = self._arm()
        try:
            start = self._await_start()
        except NoLoadError:
            self.armed.runner.abort()
            self.armed = None
            raise
        outcome = self._drive_load(start)
        self._upload(outcome)
        self.presence.set_state(ExecutorState.DONE)
        self.presence.push(
            Finished(
                executor_id=self.id,
                run_id=start.run_id,
                exit_code=int(outcome.exit_code),
                reason=outcome.reason,
                summary_uri=str(summary_location(self.settings.results_uri, start.run_id, self.id)),
            )
        )
        self.armed = None
        log.info("run %s finished: %s (exit %d)", start.run_id, outcome.reason, outcome.exit_code)
        return outcome.exit_code

    # --- arming --------------------------------------------------------------------

    def _arm(self) -> Armed:
        self._arming = True
        try:
            run_dir = self.workdir.new_run_dir()
            self.presence.set_state(ExecutorState.FETCHING)
            downloaded, sha256 = self.preparer.fetch(run_dir)
            self.presence.set_state(ExecutorState.ARMING)
            prepared = self.preparer.prepare(downloaded, sha256, run_dir)
            data = self.preparer.fetch_data(run_dir)
            self.preparer.verify_results_destination(self.id)
            env = {"SALVO_EXECUTOR_ID": self.id, **({ENV_DATA_FILE: str(data.slice_path)} if data else {})}
            runner = self.runner_factory(plan=prepared.plan, artifacts_dir=prepared.artifacts_dir, env=env)
            if prepared.plan.gated:
                try:
                    runner.launch()
                    runner.wait_at_gate(self.settings.arm_timeout)
                except BaseException:
                    runner.abort()  # never leave a launched bzt behind, whatever interrupted us
                    raise
                log.info("load tool held at the start gate (%d locust process(es))", prepared.plan.gates)
            else:
                log.warning(
                    "bzt executor(s) %s cannot be held at a start gate: bzt will be launched at start_at "
                    "and its lateness reported",
                    ", ".join(sorted(set(prepared.plan.executors))),
                )
            armed = Armed(prepared=prepared, runner=runner, armed_at=self.clock.time(), data=data)
            self.presence.armed = ArmedFacts(
                prepared.scenario.sha256,
                armed.armed_at,
                prepared.plan.gated,
                users_set="users" in self.settings.model_fields_set,
                executions=len(prepared.plan.executors),
                data_rows=data.rows if data else None,
            )
            if self.link is None:
                self.presence.link = self.link_factory()
            self.armed = armed
            self.presence.set_state(ExecutorState.ARMED)
            log.info(
                "armed: listening on %s ports %d (command) and %d (status)",
                self.settings.bind_host,
                self.settings.command_port,
                self.settings.status_port,
            )
            return armed
        finally:
            self._arming = False

    # --- waiting for the start -------------------------------------------------------

    def _await_start(self) -> Start:
        runner = self.armed.runner
        deadline = self.armed.armed_at + self.settings.wait_timeout
        while True:
            self._raise_if_signalled()
            if runner.plan.gated and runner.poll() is not None:
                raise LoadToolError(f"the load tool exited while waiting for the start: {runner.failure_hint()}")
            now = self.clock.time()
            if now >= deadline:
                raise NoLoadError(
                    f"no start received within SALVO_WAIT_TIMEOUT={self.settings.wait_timeout:g}s; no load was started"
                )
            for inbound in self.link.poll(min(POLL_SECONDS, deadline - now)):
                if inbound.link is Link.COMMAND and isinstance(inbound.message, Start):
                    if self._accept_start(inbound.message):
                        return inbound.message
                else:
                    self._handle_common(inbound)
            if self.dismissed:
                raise Dismissed()
            self.presence.heartbeat()

    def _raise_if_signalled(self) -> None:
        if self.pending_signal is not None:
            raise Interrupted(self.pending_signal)

    def _accept_start(self, start: Start) -> bool:
        """Obey `start`, or refuse it (one warning, a refused StartAck) and stay armed as before."""
        reason = start_refusal(
            start,
            self.id,
            self.seen_runs,
            self.state,
            self.clock.time(),
            self.settings.start_tolerance,
            self.settings.max_start_delay,
        )
        if not reason:
            try:  # nothing is changed before this succeeds: a start it cannot take leaves the executor as it was
                place = take_place(start, self.id, self.settings, self.armed.prepared.plan, self.armed.data)
            except Exception as exc:  # whatever a start's values break, it is refused, never fatal
                reason = f"cannot take this start: {type(exc).__name__}: {exc}"[:MAX_TEXT_CHARS]
        if reason:
            log.warning("start for run %s ignored: %s", start.run_id, reason)
            if self.id in start.fleet:
                self.presence.push(StartAck(executor_id=self.id, run_id=start.run_id, accepted=False, reason=reason))
            return False
        self.seen_runs.add(start.run_id)
        self.presence.run_id = start.run_id
        self.place = place
        self._clock_frozen = True
        if self.armed.runner.plan.gated:
            self.armed.runner.release(self._go(start))  # the gate itself waits for start_at
        self.presence.set_state(ExecutorState.SCHEDULED)
        self.presence.push(
            StartAck(executor_id=self.id, run_id=start.run_id, accepted=True, received_at=self.clock.time())
        )
        log.info(
            "start accepted: run %s at %.3f (in %.0f ms)",
            start.run_id,
            start.start_at,
            (start.start_at - self.clock.time()) * 1000,
        )
        return True

    def _go(self, start: Start):
        """The gate's GO: start_at on this host's clock (the tool reads it), and the offset to record by."""
        return self.place.go(self.clock.to_local(start.start_at), clock=self.clock.offset)

    # --- the run ---------------------------------------------------------------------

    def _drive_load(self, start: Start) -> RunOutcome:
        runner = self.armed.runner
        collector = self._collector = ResultsCollector(
            self.armed.prepared.artifacts_dir,
            self.clock,
            locust_stats=self.armed.prepared.plan.locust_stats,
            jtl_timestamp_is_start=self.armed.prepared.plan.jtl_timestamps_are_starts,
            per_label=start.live_labels,
            clock_offset=self.clock.offset,
        )
        self._stopping_since: float | None = None
        last_contact = self.clock.monotonic()
        next_stats = start.start_at + self.settings.stats_interval
        stop_reason: str | None = None
        exit_code: ExitCode | None = None
        while True:
            now = self.clock.time()
            if self.state is ExecutorState.SCHEDULED and now >= start.start_at:
                if not runner.plan.gated:
                    runner.release(self._go(start))
                self.presence.set_state(ExecutorState.RUNNING)
            if runner.poll() is not None:
                break
            if runner.launched_at is None and exit_code is not None:
                break  # stopped before an ungated launch: no load ran
            if self._stopping_since is not None and self.clock.monotonic() - self._stopping_since > STOP_GRACE_SECONDS:
                log.warning("the load tool did not stop within %g s; killing it", STOP_GRACE_SECONDS)
                break
            if exit_code is None:
                silent = self.clock.monotonic() - last_contact
                if self.pending_signal is not None:
                    exit_code = exit_code_for_signal(self.pending_signal)
                    stop_reason = f"interrupted by {signal.Signals(self.pending_signal).name}"
                elif silent > self.settings.kill_switch_timeout:
                    exit_code = ExitCode.NO_LOAD
                    stop_reason = (
                        f"kill switch: no controller heartbeat for {silent:.1f}s "
                        f"(SALVO_KILL_SWITCH_TIMEOUT={self.settings.kill_switch_timeout:g}s)"
                    )
                if exit_code is not None:
                    log.warning("stopping the load: %s", stop_reason)
                    self._stop_runner(runner)
            for inbound in self.link.poll(poll_timeout(self.clock.time(), start.start_at, runner.plan.gated)):
                message = inbound.message
                if inbound.link is Link.COMMAND and isinstance(message, Heartbeat):
                    last_contact = self.clock.monotonic()
                elif inbound.link is Link.COMMAND and isinstance(message, (Stop, Dismiss)):
                    self.dismissed |= isinstance(message, Dismiss)
                    if message.run_id in (None, start.run_id) and exit_code is None:
                        exit_code, stop_reason = ExitCode.OK, f"stopped by controller: {message.reason}"
                        log.info("%s", stop_reason)
                        self._stop_runner(runner)
                elif inbound.link is Link.COMMAND and isinstance(message, Start):
                    self._accept_start(message)  # logs and refuses: we are busy
                else:
                    self._handle_common(inbound)
            if self.clock.time() >= next_stats:
                next_stats += self.settings.stats_interval
                self._push_interval(collector, start.run_id)
            self.presence.heartbeat()
        code = (
            runner.wait(0 if self._stopping_since is not None else STOP_GRACE_SECONDS)
            if runner.launched_at is not None
            else 0
        )
        self._push_interval(collector, start.run_id)
        if exit_code is None:
            exit_code = ExitCode.OK if code == 0 else ExitCode.FAILED
            stop_reason = "completed" if code == 0 else runner.failure_reason(code)
        return RunOutcome(
            exit_code=exit_code,
            reason=stop_reason or "",
            start=start,
            ended_at=self.clock.time(),
            timings={
                "gate_released": [self.clock.from_local(t) for t in runner.released_times()],
                "launched_at": None if runner.launched_at is None else self.clock.from_local(runner.launched_at),
                "clock_offset": self.clock.offset,
            },
        )

    def _stop_runner(self, runner: Runner) -> None:
        self._stopping_since = self.clock.monotonic()
        self.presence.set_state(ExecutorState.STOPPING)
        if runner.launched_at is not None:
            runner.stop()

    def _push_interval(self, collector: ResultsCollector, run_id: str) -> None:
        snapshot = collector.drain_interval()
        self.presence.push(
            IntervalStats(
                executor_id=self.id,
                run_id=run_id,
                interval_start=snapshot.start,
                interval_end=snapshot.end,
                users=snapshot.users,
                requests=snapshot.requests,
                failures=snapshot.failures,
                histogram=snapshot.histogram,
                labels=snapshot.labels,
                user_errors=snapshot.user_errors,
                **dict(zip(("planned", "sent", "dropped"), snapshot.arrivals, strict=True)),
                intended_histogram=snapshot.intended,
            )
        )

    # --- results -----------------------------------------------------------------------

    def _upload(self, outcome: RunOutcome) -> None:
        self.presence.set_state(ExecutorState.UPLOADING)
        prepared, start = self.armed.prepared, outcome.start
        summary = self._collector.summary(
            meta={
                "run_id": start.run_id,
                "executor_id": self.id,
                "version": __version__,
                "region": self.region,
                "scenario": {"uri": str(self.settings.scenario_uri), "sha256": prepared.scenario.sha256},
                "gated": prepared.plan.gated,
                "exit_code": int(outcome.exit_code),
                "stop_reason": outcome.reason,
                "share": self.place.report(),
                "tools": prepared.plan.tools,
            },
            timings={
                "armed_at": self.armed.armed_at,
                "start_at": start.start_at,
                "ended_at": outcome.ended_at,
                **outcome.timings,
            },
        )
        if prepared.plan.locust_stats and prepared.plan.report_outputs:  # bzt saw one request: write what ran
            users = self.place.report()["users"]
            concurrency = users if users is not None else sum(c or 0 for c in prepared.plan.concurrencies)
            for path in write_final_stats(
                prepared.plan.report_outputs, prepared.artifacts_dir, self._collector.run, concurrency
            ):
                log.info("%s written from this run's %d requests", path.name, self._collector.run.totals.requests)
        destination = executor_location(self.settings.results_uri, start.run_id, self.id)
        publish(self.store, destination, prepared.artifacts_dir, summary)

    # --- shared message handling -------------------------------------------------------

    def _set_clock(self, peer: bytes, message: ClockSet) -> None:
        """Correct by the controller's measurement, until a start is accepted (then the run's time is fixed)."""
        if self._clock_frozen:
            self.link.reply(peer, ClockAck(executor_id=self.id, offset=self.clock.offset, accepted=False))
            return
        if message.offset != self.clock.offset:
            log.info(
                "clock: this host is %+.1f ms off the controller's (+- %.1f ms): start_at and results are corrected",
                message.offset * 1000,
                message.uncertainty * 1000,
            )
        self.clock.offset = message.offset
        self.link.reply(peer, ClockAck(executor_id=self.id, offset=message.offset))

    def _handle_common(self, inbound: Inbound) -> None:
        message = inbound.message
        if inbound.link is Link.STATUS and isinstance(message, Hello):
            self.link.reply(inbound.peer, self.presence.status())
        elif inbound.link is Link.STATUS and isinstance(message, TimeProbe):
            local = self.clock.local.time()
            self.link.reply(
                inbound.peer,
                TimeEcho(
                    executor_id=self.id,
                    probe_sent_at=message.sent_at,
                    received_at=inbound.received_at if inbound.received_at is not None else local,
                    sent_at=self.clock.local.time(),
                ),
            )
        elif inbound.link is Link.STATUS and isinstance(message, ClockSet):
            self._set_clock(inbound.peer, message)
        elif inbound.link is Link.COMMAND and isinstance(message, Heartbeat):
            pass  # the controller is alive; only counted while running
        elif inbound.link is Link.COMMAND and isinstance(message, Stop):
            log.info("stop received while %s: nothing to stop", self.state.value)
        elif inbound.link is Link.COMMAND and isinstance(message, Dismiss):
            self.dismissed = True
            log.info("dismiss received while %s: %s", self.state.value, message.reason)
        else:
            log.debug("ignoring %s on the %s link", type(message).__name__, inbound.link.value)


class Dismissed(Exception):
    """The controller dismissed the fleet while this executor waited for a start: exit 0."""


def leave(presence: Presence, why: str) -> int:
    """SALVO_DISMISS_FLEET, the executor's side: a Dismiss from the controller ends service mode.

    The executor exits 0 instead of re-arming, after a last Status with `leaving` set: the
    controller waits for that word, so when it ends no executor still needs S3 or the target."""
    log.info("%s", why)
    presence.push(presence.status().model_copy(update={"leaving": True}))
    return int(ExitCode.OK)


def start_refusal(
    start: Start,
    executor_id: str,
    seen_runs: set[str],
    state: ExecutorState,
    now: float,
    tolerance: float,
    max_delay: float,
) -> str:
    """Why this start must be ignored ("" to obey it): an executor obeys one start for its fleet, for a run it
    has not started, on time, while armed. A late start would be out of step with the fleet; one far ahead
    would hold the executor (and its load tool at the gate) for longer than anyone planned.

    Every field of `start` was bounded when it was decoded (salvo.common.protocol); this is what needs
    this executor's own facts: its id, its past runs, its state and its clock."""
    if executor_id not in start.fleet:
        return f"this executor ({executor_id}) is not in the run's fleet"
    if start.run_id in seen_runs:
        return "duplicate start for a run already started"
    if state is not ExecutorState.ARMED:
        return f"not armed (state {state.value})"
    late = now - start.start_at
    if late > tolerance:
        return (
            f"start_at passed {late * 1000:.0f} ms ago (tolerance "
            f"{tolerance * 1000:.0f} ms): starting now would be out of sync"
        )
    if -late > max_delay:
        return f"start_at is {-late:.0f} s ahead, more than SALVO_MAX_START_DELAY={max_delay:g}s allows"
    return ""
