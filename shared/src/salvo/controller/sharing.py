"""Fleet-wide load on the controller's side: the totals it starts the fleet with, checked against the fleet.

Each executor's share follows from the Start by `salvo.common.fleetload`; what is
decided here is whether the split makes sense for the executors actually started,
before any load: exit 2 when it cannot (nothing started), a warning when some
executor would get nothing of the data. With SALVO_REGION_WEIGHTS the fleet's
regions must match the weights: exit 3 otherwise (the fleet is wrong, not a setting).
"""

from __future__ import annotations

import logging

from salvo.common.errors import ConfigError, ExitCode, SalvoError
from salvo.common.fleetload import LoadMode, Slot, fleet_slots
from salvo.common.protocol import FleetLoad, Status
from salvo.controller.settings import ControllerSettings

log = logging.getLogger(__name__)

__all__ = ["FleetLoadRefused", "RegionsRefused", "check_fleet_load", "fleet_load", "fleet_load_report", "fleet_regions"]


class FleetLoadRefused(ConfigError):
    """SALVO_FLEET_USERS cannot be split over the executors found; no load was started.

    Raise SALVO_FLEET_USERS to at least the fleet size (or start fewer executors),
    unset SALVO_USERS on the executors (the two are alternatives), and give a
    Taurus config with several executions its users per execution instead
    (with SALVO_LOAD_MODE=fleet every execution's concurrency is split).
    """


class RegionsRefused(SalvoError):
    """The executors found do not match SALVO_REGION_WEIGHTS; no load was started.

    Every executor must run in a weighted region (its region comes from the ECS task
    metadata, else SALVO_REGION, else AWS_REGION) and every weighted region must have
    an executor: start executors there, or change the weights."""

    exit_code = ExitCode.SCENARIO


def fleet_load(settings: ControllerSettings) -> FleetLoad:
    return FleetLoad(
        mode=settings.load_mode,
        users=settings.fleet_users,
        spawn_rate=settings.fleet_spawn_rate,
        regions=settings.region_weights,
        rate=settings.fleet_rate,
    )


def fleet_regions(load: FleetLoad, armed: dict[str, Status]) -> list[int] | None:
    """Start.fleet_regions for the fleet sorted(armed): each member's region number; None without weights.

    RegionsRefused when an executor's region is not weighted (or not known), or a weighted region has none."""
    if load.regions is None:
        return None
    names = load.region_names
    ids = sorted(armed)
    outside = [f"{i} ({armed[i].region or 'region unknown'})" for i in ids if armed[i].region not in load.regions]
    if outside:
        raise RegionsRefused(
            f"SALVO_REGION_WEIGHTS weighs {', '.join(names)}, but executor(s) {_listed(outside)} run elsewhere: "
            "weigh their region, or set SALVO_REGION on them"
        )
    empty = [name for name in names if not any(armed[i].region == name for i in ids)]
    if empty:
        raise RegionsRefused(
            f"SALVO_REGION_WEIGHTS gives load to {', '.join(empty)}, where no executor was found: start executors "
            "there or drop the region from the weights"
        )
    number = {name: n for n, name in enumerate(names)}
    return [number[armed[i].region] for i in ids]


def slots(load: FleetLoad, armed: dict[str, Status]) -> list[Slot]:
    """Every member's slot in sorted(armed) order, as each executor will work it out from the Start."""
    regions = fleet_regions(load, armed)
    return fleet_slots(len(armed), load.region_weights, regions or ())


def check_fleet_load(load: FleetLoad, armed: dict[str, Status]) -> None:
    """Refuse a split that cannot be run as asked; warn of executors left without data rows."""
    ids = sorted(armed)
    places = slots(load, armed)  # RegionsRefused first: a fleet in the wrong regions is no split to discuss
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
            idle = ids[load.users :]
            raise FleetLoadRefused(
                f"SALVO_FLEET_USERS={load.users} is fewer than the {len(ids)} executors started: "
                f"{_listed(idle)} would run no users; raise it to at least {len(ids)} or start fewer executors"
            )
        idle = [i for i, slot in zip(ids, places, strict=True) if slot.count(load.users) == 0]
        if idle:
            raise FleetLoadRefused(
                f"SALVO_FLEET_USERS={load.users} split by SALVO_REGION_WEIGHTS leaves {_listed(idle)} with no users: "
                "raise SALVO_FLEET_USERS or the weight of their region, or start fewer executors there"
            )
    rows = {armed[i].data_rows for i in ids if armed[i].data_rows is not None}
    if len(rows) > 1:
        log.warning(
            "the executors' data files differ in length (%s rows): check SALVO_DATA_URI on each",
            ", ".join(map(str, sorted(rows))),
        )
    elif rows:
        total = rows.pop()
        without = [executor_id for executor_id, slot in zip(ids, places, strict=True) if slot.count(total) == 0]
        if without:
            log.warning(
                "the data file has %d row(s) for %d executors: %s get(s) none", total, len(ids), _listed(without)
            )


def fleet_load_report(load: FleetLoad, armed: dict[str, Status]) -> dict:
    """The fleet's totals as report.json shows them (each executor's share is in its own entry)."""
    rows = sorted({s.data_rows for s in armed.values() if s.data_rows is not None})
    return {
        "mode": load.mode.value,
        "users": load.users,
        "spawn_rate": load.spawn_rate,
        "executors": len(armed),
        "data_rows": rows[0] if len(rows) == 1 else None,
        "region_weights": load.regions,
        **({"rate": load.rate.text()} if load.rate is not None else {}),
    }


def _listed(ids: list[str], most: int = 10) -> str:
    return ", ".join(ids[:most]) + (f" and {len(ids) - most} more" if len(ids) > most else "")
