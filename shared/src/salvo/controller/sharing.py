"""Fleet-wide load on the controller's side: the totals it starts the fleet with, checked against the fleet.

Each executor's share follows from the Start by `salvo.common.fleetload`; what is
decided here is whether the split makes sense for the executors actually started,
before any load: exit 2 when it cannot (nothing started), a warning when some
executor would get nothing of the data.
"""

from __future__ import annotations

import logging

from salvo.common.errors import ConfigError
from salvo.common.fleetload import LoadMode, split_count
from salvo.common.protocol import FleetLoad, Status
from salvo.controller.settings import ControllerSettings

log = logging.getLogger(__name__)

__all__ = ["FleetLoadRefused", "check_fleet_load", "fleet_load", "fleet_load_report"]


class FleetLoadRefused(ConfigError):
    """SALVO_FLEET_USERS cannot be split over the executors found; no load was started.

    Raise SALVO_FLEET_USERS to at least the fleet size (or start fewer executors),
    unset SALVO_USERS on the executors (the two are alternatives), and give a
    Taurus config with several executions its users per execution instead
    (with SALVO_LOAD_MODE=fleet every execution's concurrency is split).
    """


def fleet_load(settings: ControllerSettings) -> FleetLoad:
    return FleetLoad(mode=settings.load_mode, users=settings.fleet_users, spawn_rate=settings.fleet_spawn_rate)


def check_fleet_load(load: FleetLoad, armed: dict[str, Status]) -> None:
    """Refuse a split that cannot be run as asked; warn of executors left without data rows."""
    ids = sorted(armed)
    if load.mode is LoadMode.FLEET and load.users is not None:
        clashing = [i for i in ids if armed[i].users_set]
        if clashing:
            raise FleetLoadRefused(
                f"SALVO_FLEET_USERS={load.users} is set here and SALVO_USERS on executor(s) {_listed(clashing)}: "
                "they are alternatives (total for the fleet, or per executor); unset one"
            )
        several = [f"{i} ({armed[i].executions})" for i in ids if armed[i].executions > 1]
        if several:
            raise FleetLoadRefused(
                f"SALVO_FLEET_USERS={load.users} is one user count, but the scenario of {_listed(several)} has several "
                "executions: set each execution's concurrency and SALVO_LOAD_MODE=fleet instead"
            )
        if load.users < len(ids):
            idle = ids[load.users:]
            raise FleetLoadRefused(
                f"SALVO_FLEET_USERS={load.users} is fewer than the {len(ids)} executors started: "
                f"{_listed(idle)} would run no users; raise it to at least {len(ids)} or start fewer executors"
            )
    rows = {armed[i].data_rows for i in ids if armed[i].data_rows is not None}
    if len(rows) > 1:
        log.warning("the executors' data files differ in length (%s rows): check SALVO_DATA_URI on each",
                    ", ".join(map(str, sorted(rows))))
    elif rows and (total := rows.pop()) < len(ids):
        without = [executor_id for executor_id, share in zip(ids, split_count(total, len(ids))) if share == 0]
        log.warning("the data file has %d row(s) for %d executors: %s get(s) none", total, len(ids), _listed(without))


def fleet_load_report(load: FleetLoad, armed: dict[str, Status]) -> dict:
    """The fleet's totals as report.json shows them (each executor's share is in its own entry)."""
    rows = sorted({s.data_rows for s in armed.values() if s.data_rows is not None})
    return {"mode": load.mode.value, "users": load.users, "spawn_rate": load.spawn_rate, "executors": len(armed),
            "data_rows": rows[0] if len(rows) == 1 else None}


def _listed(ids: list[str], most: int = 10) -> str:
    return ", ".join(ids[:most]) + (f" and {len(ids) - most} more" if len(ids) > most else "")
