"""`salvo-health`: the executor's container health check (Docker HEALTHCHECK, ECS healthCheck, Kubernetes probe).

It runs every few seconds beside the load tool, so it stays light: the state file and the standard library, no
settings model. (`salvo health`, which loads the settings first, costs ~0.7 s of CPU a check; on a busy executor a
check that fell on start_at delayed the load's first requests by tens of milliseconds.) The work folder is
$SALVO_WORK_DIR, which the images set; unset, the settings model is asked for its default.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping
from pathlib import Path

from salvo.executor.presence.statefile import STATE_NAME, StateFile

WORK_DIR_ENV = "SALVO_WORK_DIR"


def work_dir(environ: Mapping[str, str]) -> Path:
    configured = environ.get(WORK_DIR_ENV, "").strip()
    if configured:
        return Path(configured)
    from salvo.common.settings import CommonSettings, load

    return load(CommonSettings).work_dir


def check(folder: Path) -> tuple[bool, str]:
    """(healthy, one line): healthy while the executor process lives and is armed or busy with a run."""
    return StateFile(folder / STATE_NAME).health()


def main() -> int:
    try:
        healthy, reason = check(work_dir(os.environ))
    except Exception as exc:  # a probe answers in one line, whatever went wrong
        healthy, reason = False, f"salvo-health: {exc}"
    print(reason)
    return 0 if healthy else 1


if __name__ == "__main__":
    sys.exit(main())
