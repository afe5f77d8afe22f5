"""For scenarios: which executor of the fleet this load runs on, and its slice of the work.

    from salvo import fleet

    class Shopper(FastHttpUser):
        def on_start(self):
            self.customer = f"c-{fleet.index()}-{id(self)}"

Salvo sets the values in the load tool's environment when the start arrives,
before the first user starts (not yet while a locustfile is being imported:
read them in `on_start`, a task, or a `test_start` listener). Outside a Salvo
run, e.g. in a plain `locust -f` session, each has a stand-alone default:
index 0 of a fleet of 1.
"""

from __future__ import annotations

import os

from salvo.common.fleetload import (
    ENV_DATA_FILE,
    ENV_EXECUTOR_INDEX,
    ENV_FLEET_SIZE,
    ENV_FLEET_SLOT,
    ENV_RUN_ID,
    Slot,
    share_of_count,
)

__all__ = ["data_file", "index", "run_id", "share", "size"]


def index() -> int:
    """This executor's index in the fleet, 0 … size()-1, ordered by executor id."""
    return int(os.environ.get(ENV_EXECUTOR_INDEX, "0"))


def size() -> int:
    """How many executors the run started."""
    return int(os.environ.get(ENV_FLEET_SIZE, "1"))


def run_id() -> str | None:
    return os.environ.get(ENV_RUN_ID)


def data_file() -> str | None:
    """This executor's rows of SALVO_DATA_URI (header kept), or None without one."""
    return os.environ.get(ENV_DATA_FILE)


def share(total: int) -> int:
    """This executor's share of `total`, as Salvo splits users and rows (the shares sum to `total`): by region
    first when the controller has SALVO_REGION_WEIGHTS."""
    weighted = os.environ.get(ENV_FLEET_SLOT)
    if weighted:
        return Slot.decode(weighted).count(total)
    return share_of_count(total, index(), size())
