"""The executor: fetch, arm, wait for one start, run the load at start_at, upload.

One thread, one poll loop. Everything slow (download, unpack, checks, bzt and
locust start-up) happens before the state becomes ARMED and the sockets are
bound; after a start is accepted only the gate's release is left.
"""

from __future__ import annotations

import json
import logging
import signal
import time
from dataclasses import dataclass, field
from pathlib import Path

from salvo import __version__
from salvo.executor.bztconfig import LoadProfile, plan_run
from salvo.common.errors import ExitCode, LoadToolError, NoLoadError, SalvoError
from salvo.executor.identity import executor_id as resolve_executor_id
from salvo.common.protocol import (
    ExecutorState,
    Finished,
    Heartbeat,
    Hello,
    IntervalStats,
    Start,
    StartAck,
    Status,
    Stop,
)
from salvo.executor.results import ResultsCollector
from salvo.executor.runner import STOP_GRACE_SECONDS, BztRunner
from salvo.common.s3 import S3Location, S3Store
from salvo.executor.scenario import BundleLimits, Scenario, check, unpack
from salvo.executor.settings import ExecutorSettings, Mode
from salvo.executor.statefile import StateFile
from salvo.common.transport import Link
from salvo.executor.link import ExecutorSockets

log = logging.getLogger(__name__)

POLL_SECONDS = 0.1
STATUS_HEARTBEAT_SECONDS = 1.0


class Interrupted(Exception):
    """SIGINT/SIGTERM while arming: nothing ran, nothing to upload."""

    def __init__(self, signum: int):
        super().__init__(signal.Signals(signum).name)
        self.signum = signum


def exit_code_for_signal(signum: int) -> ExitCode:
    return ExitCode.SIGINT if signum == signal.SIGINT else ExitCode.SIGTERM


@dataclass
class Armed:
    scenario: Scenario
    runner: BztRunner
    run_dir: Path
    armed_at: float


@dataclass
class RunOutcome:
    exit_code: ExitCode
    reason: str
    start: Start
    ended_at: float = 0.0
    timings: dict = field(default_factory=dict)


class Executor:
    def __init__(self, settings: ExecutorSettings, store: S3Store | None = None, sockets_factory=ExecutorSockets):
        self.settings = settings
        self.store = store or S3Store(retry_seconds=settings.s3_retry_seconds)
        self.sockets_factory = sockets_factory
        self.sockets = None
        self.id = resolve_executor_id(settings.executor_id)
        self.state = ExecutorState.STARTING
        self.state_file = StateFile(settings.work_dir / "state.json")
        self.seen_runs: set[str] = set()
        self.armed: Armed | None = None
        self.run_id: str | None = None
        self.pending_signal: int | None = None
        self._arming = False
        self._last_status_push = 0.0
        self._runs = 0

    # --- top level -----------------------------------------------------------------

    def run(self) -> int:
        self._install_signal_handlers()
        log.info("executor %s (salvo %s) starting; scenario %s", self.id, __version__, self.settings.scenario_uri)
        try:
            while True:
                code = self._one_run()
                if self.settings.mode is Mode.ONESHOT or code in (ExitCode.SIGINT, ExitCode.SIGTERM):
                    return int(code)
                log.info("service mode: re-arming for the next run")
        except Interrupted as exc:
            log.warning("interrupted by %s before any load started", exc)
            return int(exit_code_for_signal(exc.signum))
        except SalvoError as exc:
            self._set_state(ExecutorState.FAILED)
            log.error("%s", exc)
            return int(exc.exit_code)
        finally:
            if self.armed is not None:
                self.armed.runner.abort()
            if self.sockets is not None:
                self.sockets.close()

    def _one_run(self) -> ExitCode:
        self.run_id = None
        self.armed = self._arm()
        try:
            start = self._await_start()
        except NoLoadError:
            self.armed.runner.abort()
            self.armed = None
            raise
        outcome = self._drive_load(start)
        self._upload(outcome)
        self._set_state(ExecutorState.DONE)
        self._push(
            Finished(
                executor_id=self.id,
                run_id=start.run_id,
                exit_code=int(outcome.exit_code),
                reason=outcome.reason,
                summary_uri=str(self._results_location(start.run_id).child("summary.json")),
            )
        )
        self.armed = None
        log.info("run %s finished: %s (exit %d)", start.run_id, outcome.reason, outcome.exit_code)
        return outcome.exit_code

    # --- arming --------------------------------------------------------------------

    def _arm(self) -> Armed:
        self._arming = True
        try:
            self._runs += 1
            run_dir = self.settings.work_dir / f"run-{self._runs}"
            self._set_state(ExecutorState.FETCHING)
            source = S3Location.parse(self.settings.scenario_uri)
            object_name = source.key.rsplit("/", 1)[-1]
            downloaded = run_dir / "download" / object_name
            downloaded.parent.mkdir(parents=True, exist_ok=True)
            sha256 = self.store.download(source, downloaded)
            log.info("fetched %s (sha256 %s)", source, sha256)

            self._set_state(ExecutorState.ARMING)
            limits = BundleLimits(max_bytes=self.settings.bundle_max_bytes, max_files=self.settings.bundle_max_files)
            scenario = unpack(downloaded, object_name, sha256, run_dir, entry=self.settings.scenario_entry, limits=limits)
            check(scenario)
            artifacts = run_dir / "artifacts"
            plan = plan_run(scenario, self._profile(), artifacts, run_dir / "bzt")
            runner = BztRunner(plan=plan, artifacts_dir=artifacts, env={"SALVO_EXECUTOR_ID": self.id})
            if plan.gated:
                try:
                    runner.launch()
                    runner.wait_at_gate(self.settings.arm_timeout)
                except BaseException:
                    runner.abort()  # never leave a launched bzt behind, whatever interrupted us
                    raise
                log.info("load tool held at the start gate (%d locust process(es))", plan.gates)
            else:
                log.warning(
                    "bzt executor(s) %s cannot be held at a start gate: bzt will be launched at start_at "
                    "and its lateness reported", ", ".join(sorted(set(plan.executors)))
                )
            armed = Armed(scenario=scenario, runner=runner, run_dir=run_dir, armed_at=time.time())
            if self.sockets is None:
                self.sockets = self.sockets_factory(
                    self.settings.bind_host,
                    self.settings.command_port,
                    self.settings.status_port,
                    self.settings.fleet_key.get_secret_value() if self.settings.fleet_key else None,
                )
            self.armed = armed
            self._set_state(ExecutorState.ARMED)
            log.info(
                "armed: listening on %s ports %d (command) and %d (status)",
                self.settings.bind_host, self.settings.command_port, self.settings.status_port,
            )
            return armed
        finally:
            self._arming = False

    def _profile(self) -> LoadProfile:
        s = self.settings
        return LoadProfile(
            users=s.users, duration=s.duration, spawn_rate=s.spawn_rate, ramp_up=s.ramp_up, target_host=s.target_host
        )

    # --- waiting for the start -------------------------------------------------------

    def _await_start(self) -> Start:
        assert self.armed is not None
        deadline = self.armed.armed_at + self.settings.wait_timeout
        while True:
            self._raise_if_signalled()
            if self.armed.runner.plan.gated and self.armed.runner.poll() is not None:
                raise LoadToolError(f"the load tool exited while waiting for the start: {self.armed.runner.failure_hint()}")
            now = time.time()
            if now >= deadline:
                raise NoLoadError(
                    f"no start received within SALVO_WAIT_TIMEOUT={self.settings.wait_timeout:g}s; no load was started"
                )
            for inbound in self.sockets.poll(min(POLL_SECONDS, deadline - now)):
                if inbound.link is Link.COMMAND and isinstance(inbound.message, Start):
                    if self._accept_start(inbound.message):
                        return inbound.message
                else:
                    self._handle_common(inbound)
            self._push_status_heartbeat()

    def _raise_if_signalled(self) -> None:
        if self.pending_signal is not None:
            raise Interrupted(self.pending_signal)

    def _accept_start(self, start: Start) -> bool:
        reason = self._start_refusal(start)
        if reason:
            log.warning("start for run %s ignored: %s", start.run_id, reason)
            if self.id in start.fleet:
                self._push(StartAck(executor_id=self.id, run_id=start.run_id, accepted=False, reason=reason))
            return False
        self.seen_runs.add(start.run_id)
        self.run_id = start.run_id
        if self.armed.runner.plan.gated:
            self.armed.runner.release(start.start_at)  # the gate itself waits for start_at
        self._set_state(ExecutorState.SCHEDULED)
        self._push(StartAck(executor_id=self.id, run_id=start.run_id, accepted=True))
        log.info("start accepted: run %s at %.3f (in %.0f ms)", start.run_id, start.start_at, (start.start_at - time.time()) * 1000)
        return True

    def _start_refusal(self, start: Start) -> str:
        if self.id not in start.fleet:
            return f"this executor ({self.id}) is not in the run's fleet"
        if start.run_id in self.seen_runs:
            return "duplicate start for a run already started"
        if self.state is not ExecutorState.ARMED:
            return f"not armed (state {self.state.value})"
        late = time.time() - start.start_at
        if late > self.settings.start_tolerance:
            return (
                f"start_at passed {late * 1000:.0f} ms ago (tolerance "
                f"{self.settings.start_tolerance * 1000:.0f} ms): starting now would be out of sync"
            )
        return ""

    # --- the run ---------------------------------------------------------------------

    def _drive_load(self, start: Start) -> RunOutcome:
        runner = self.armed.runner
        collector = ResultsCollector(runner.artifacts_dir)
        last_contact = time.time()
        next_stats = start.start_at + self.settings.stats_interval
        stop_reason: str | None = None
        exit_code: ExitCode | None = None
        while True:
            now = time.time()
            if self.state is ExecutorState.SCHEDULED and now >= start.start_at:
                if not runner.plan.gated:
                    runner.release(start.start_at)
                self._set_state(ExecutorState.RUNNING)
            if runner.poll() is not None:
                break
            if runner.process is None and exit_code is not None:
                break  # stopped before an ungated launch: no load ran
            if exit_code is None:
                if self.pending_signal is not None:
                    exit_code = exit_code_for_signal(self.pending_signal)
                    stop_reason = f"interrupted by {signal.Signals(self.pending_signal).name}"
                elif now - last_contact > self.settings.kill_switch_timeout:
                    exit_code = ExitCode.NO_LOAD
                    stop_reason = (
                        f"kill switch: no controller heartbeat for {now - last_contact:.1f}s "
                        f"(SALVO_KILL_SWITCH_TIMEOUT={self.settings.kill_switch_timeout:g}s)"
                    )
                if exit_code is not None:
                    log.warning("stopping the load: %s", stop_reason)
                    self._stop_runner(runner)
            for inbound in self.sockets.poll(POLL_SECONDS):
                message = inbound.message
                if inbound.link is Link.COMMAND and isinstance(message, Heartbeat):
                    last_contact = time.time()
                elif inbound.link is Link.COMMAND and isinstance(message, Stop):
                    if message.run_id in (None, start.run_id) and exit_code is None:
                        exit_code, stop_reason = ExitCode.OK, f"stopped by controller: {message.reason}"
                        log.info("%s", stop_reason)
                        self._stop_runner(runner)
                elif inbound.link is Link.COMMAND and isinstance(message, Start):
                    self._accept_start(message)  # logs and refuses: we are busy
                else:
                    self._handle_common(inbound)
            if time.time() >= next_stats:
                next_stats += self.settings.stats_interval
                self._push_interval(collector, start.run_id)
            self._push_status_heartbeat()
        code = runner.wait(STOP_GRACE_SECONDS) if runner.process is not None else 0
        self._push_interval(collector, start.run_id)
        if exit_code is None:
            exit_code = ExitCode.OK if code == 0 else ExitCode.FAILED
            stop_reason = "completed" if code == 0 else f"load tool failed: bzt exit code {code}: {runner.failure_hint()}"
        return RunOutcome(
            exit_code=exit_code,
            reason=stop_reason or "",
            start=start,
            ended_at=time.time(),
            timings={"gate_released": runner.released_times(), "launched_at": runner.launched_at},
        )

    def _stop_runner(self, runner: BztRunner) -> None:
        self._set_state(ExecutorState.STOPPING)
        if runner.process is None:
            return
        runner.stop()

    def _push_interval(self, collector: "ResultsCollector", run_id: str) -> None:
        snapshot = collector.drain_interval()
        self._push(
            IntervalStats(
                executor_id=self.id,
                run_id=run_id,
                interval_start=snapshot.start,
                interval_end=snapshot.end,
                users=0,
                requests=snapshot.requests,
                failures=snapshot.failures,
                histogram=snapshot.histogram,
            )
        )

    # --- results -----------------------------------------------------------------------

    def _results_location(self, run_id: str) -> S3Location:
        return S3Location.parse(self.settings.results_uri).child(run_id, "executors", self.id)

    def _upload(self, outcome: RunOutcome) -> None:
        self._set_state(ExecutorState.UPLOADING)
        armed = self.armed
        start = outcome.start
        destination = self._results_location(start.run_id)
        collector = ResultsCollector(armed.runner.artifacts_dir)
        summary = collector.summary(
            schema_meta={
                "run_id": start.run_id,
                "executor_id": self.id,
                "version": __version__,
                "scenario": {"uri": self.settings.scenario_uri, "sha256": armed.scenario.sha256},
                "gated": armed.runner.plan.gated,
                "exit_code": int(outcome.exit_code),
                "stop_reason": outcome.reason,
            },
            timings={
                "armed_at": armed.armed_at,
                "start_at": start.start_at,
                "ended_at": outcome.ended_at,
                **outcome.timings,
            },
        )
        for path in sorted(armed.runner.artifacts_dir.rglob("*")):
            if path.is_file():
                self.store.upload_file(path, destination.child(str(path.relative_to(armed.runner.artifacts_dir))))
        # summary.json last: its presence says this executor's results are complete.
        self.store.upload_bytes(
            json.dumps(summary, indent=1).encode(), destination.child("summary.json"), "application/json"
        )
        totals = summary.get("totals", {})
        log.info(
            "uploaded results to %s: %s requests, %s failures, %s user errors",
            destination, totals.get("requests"), totals.get("failures"), totals.get("user_errors"),
        )

    # --- shared message handling -------------------------------------------------------

    def _handle_common(self, inbound) -> None:
        message = inbound.message
        if inbound.link is Link.STATUS and isinstance(message, Hello):
            self.sockets.reply(inbound.peer, self._status())
        elif inbound.link is Link.COMMAND and isinstance(message, Heartbeat):
            pass  # the controller is alive; only counted while running
        elif inbound.link is Link.COMMAND and isinstance(message, Stop):
            log.info("stop received while %s: nothing to stop", self.state.value)
        else:
            log.debug("ignoring %s on the %s link", type(message).__name__, inbound.link.value)

    def _status(self) -> Status:
        armed = self.armed
        return Status(
            executor_id=self.id,
            version=__version__,
            state=self.state,
            scenario_sha256=armed.scenario.sha256 if armed else None,
            scenario_uri=self.settings.scenario_uri,
            run_id=self.run_id,
            armed_at=armed.armed_at if armed else None,
            gated=bool(armed and armed.runner.plan.gated),
        )

    def _push(self, message) -> None:
        if self.sockets is not None:
            self.sockets.push(message)

    def _push_status_heartbeat(self) -> None:
        now = time.monotonic()
        if now - self._last_status_push >= STATUS_HEARTBEAT_SECONDS:
            self._last_status_push = now
            self._push(self._status())

    def _set_state(self, state: ExecutorState) -> None:
        changed = state is not self.state
        if changed:
            log.debug("state %s -> %s", self.state.value, state.value)
        self.state = state
        self.state_file.write(state, executor_id=self.id, run_id=self.run_id)
        if changed:
            # watchers learn at once, e.g. that we are uploading and will be quiet for a while
            self._push(self._status())

    # --- signals -------------------------------------------------------------------------

    def _install_signal_handlers(self) -> None:
        def handler(signum, _frame):
            self.pending_signal = signum
            if self._arming:
                raise Interrupted(signum)

        signal.signal(signal.SIGTERM, handler)
        signal.signal(signal.SIGINT, handler)
