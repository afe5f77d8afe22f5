"""An executor's states: in its Status messages, its state file and its health check.

Kept apart from the wire messages (pydantic) so that the container health check, which runs every few seconds
beside the load tool, imports nothing heavy.
"""

from __future__ import annotations

from enum import Enum


class ExecutorState(str, Enum):
    STARTING = "starting"
    FETCHING = "fetching"
    ARMING = "arming"
    ARMED = "armed"
    SCHEDULED = "scheduled"  # start accepted, waiting for start_at
    RUNNING = "running"
    STOPPING = "stopping"
    UPLOADING = "uploading"
    DONE = "done"
    FAILED = "failed"

    @property
    def healthy(self) -> bool:
        """Ready or busy with a run: what a container health check should accept."""
        return self in (
            ExecutorState.ARMED,
            ExecutorState.SCHEDULED,
            ExecutorState.RUNNING,
            ExecutorState.STOPPING,
            ExecutorState.UPLOADING,
        )
