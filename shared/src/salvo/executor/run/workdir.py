"""The executor's work folder: owned by one process at a time, a fresh folder for every run.

A second executor pointed at the same SALVO_WORK_DIR would overwrite the first's
state file and could count its sample files; it is refused (exit 2) instead.
Leftovers of earlier processes are removed when the lock is taken, so a run only
ever reads what it wrote itself.
"""

from __future__ import annotations

import fcntl
import os
import shutil
from pathlib import Path

from salvo.common.errors import ConfigError
from salvo.executor.presence.statefile import STATE_NAME

LOCK_NAME = "executor.lock"
RUNS = "runs"


class WorkDirInUse(ConfigError):
    """Another executor process holds this SALVO_WORK_DIR. Give each executor its own SALVO_WORK_DIR."""


class WorkDir:
    def __init__(self, root: Path):
        self.root = root
        self._lock: int | None = None
        self._runs = 0

    @property
    def state_path(self) -> Path:
        return self.root / STATE_NAME

    def acquire(self) -> None:
        """Lock the folder for this process (released when it exits, however it exits)."""
        try:
            self.root.mkdir(parents=True, exist_ok=True)
            handle = os.open(self.root / LOCK_NAME, os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as exc:
            raise ConfigError(f"SALVO_WORK_DIR={self.root} cannot be used: {exc.strerror or exc}") from None
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.read(handle, 32).decode(errors="replace").strip() or "unknown"
            os.close(handle)
            raise WorkDirInUse(
                f"SALVO_WORK_DIR={self.root} is in use by executor pid {holder}: "
                "give each executor on this host its own SALVO_WORK_DIR"
            ) from None
        os.ftruncate(handle, 0)
        os.write(handle, str(os.getpid()).encode())
        self._lock = handle
        shutil.rmtree(self.root / RUNS, ignore_errors=True)

    def new_run_dir(self) -> Path:
        """An empty folder for the next run: nothing of an earlier run can be read as this one's."""
        self._runs += 1
        path = self.root / RUNS / str(self._runs)
        shutil.rmtree(path, ignore_errors=True)
        path.mkdir(parents=True)
        return path

    def release(self) -> None:
        if self._lock is not None:
            os.close(self._lock)
            self._lock = None
