"""What the outside sees of an executor: its state on disk (for `salvo health`) and its Status messages."""

from __future__ import annotations

import logging
from dataclasses import dataclass

from salvo import __version__
from salvo.common.clock import Clock
from salvo.common.protocol import ExecutorState, Status
from salvo.executor.parts import ExecutorLink
from salvo.executor.presence.statefile import StateFile

log = logging.getLogger(__name__)

STATUS_HEARTBEAT_SECONDS = 1.0


@dataclass(frozen=True)
class ArmedFacts:
    scenario_sha256: str
    armed_at: float
    gated: bool
    users_set: bool = False
    executions: int = 0
    data_rows: int | None = None


class Presence:
    def __init__(
        self, executor_id: str, scenario_uri: str, state_file: StateFile, clock: Clock, region: str | None = None
    ):
        self.executor_id = executor_id
        self.region = region
        self.scenario_uri = scenario_uri
        self.state_file = state_file
        self.clock = clock
        self.link: ExecutorLink | None = None  # bound once armed; until then nothing is pushed
        self.state = ExecutorState.STARTING
        self.run_id: str | None = None
        self.armed: ArmedFacts | None = None
        self._last_heartbeat = float("-inf")

    def set_state(self, state: ExecutorState) -> None:
        changed = state is not self.state
        if changed:
            log.debug("state %s -> %s", self.state.value, state.value)
        self.state = state
        self.state_file.write(state, executor_id=self.executor_id, run_id=self.run_id)
        if changed:
            self.push(self.status())  # watchers learn at once, e.g. that we upload and will be quiet a while

    def status(self) -> Status:
        armed = self.armed
        return Status(
            executor_id=self.executor_id,
            version=__version__,
            state=self.state,
            scenario_uri=self.scenario_uri,
            scenario_sha256=armed.scenario_sha256 if armed else None,
            armed_at=armed.armed_at if armed else None,
            gated=bool(armed and armed.gated),
            run_id=self.run_id,
            sent_at=self.clock.time(),
            users_set=bool(armed and armed.users_set),
            executions=armed.executions if armed else 0,
            data_rows=armed.data_rows if armed else None,
            region=self.region,
        )

    def push(self, message) -> None:
        if self.link is not None:
            self.link.push(message)

    def heartbeat(self) -> None:
        """A Status to every watcher once a second: the controller's liveness check listens for it."""
        now = self.clock.monotonic()
        if now - self._last_heartbeat >= STATUS_HEARTBEAT_SECONDS:
            self._last_heartbeat = now
            self.push(self.status())
