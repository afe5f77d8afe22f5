"""The executor's state on local disk, for its health check (`salvo-health`, `salvo health`)."""

from __future__ import annotations

import json
import os
import tempfile
import time
from pathlib import Path

from salvo.common.states import ExecutorState

STATE_NAME = "state.json"  # in the executor's work folder: where the executor writes it and salvo-health reads it


class StateFile:
    def __init__(self, path: Path):
        self.path = path

    def write(self, state: ExecutorState, **details: object) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        record = {"state": state.value, "pid": os.getpid(), "updated_at": time.time(), **details}
        handle, temporary = tempfile.mkstemp(dir=self.path.parent, prefix=".state-", suffix=".tmp")
        with os.fdopen(handle, "w") as out:
            out.write(json.dumps(record))
        os.replace(temporary, self.path)

    def read(self) -> dict | None:
        try:
            return json.loads(self.path.read_text())
        except (OSError, ValueError):
            return None

    def health(self) -> tuple[bool, str]:
        """(healthy, one-line reason): healthy while the executor process lives and is armed or running."""
        record = self.read()
        if record is None:
            return False, f"no executor state at {self.path}"
        try:
            state = ExecutorState(record.get("state"))
        except ValueError:
            return False, f"unknown executor state {record.get('state')!r}"
        pid = int(record.get("pid", 0))
        if not _alive(pid):
            return False, f"executor process {pid} is gone (last state {state.value})"
        return state.healthy, f"executor {record.get('executor_id', '?')} is {state.value}"


def _alive(pid: int) -> bool:
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
