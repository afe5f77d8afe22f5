"""This executor's place in a started fleet: its index, and in fleet mode its share of the load.

Everything follows from the Start (the sorted fleet and the fleet's totals) by the
functions of `salvo.common.fleetload`, the same ones the controller reports with.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, replace

from salvo.common.arrivals import OpenModel, RateProfile
from salvo.common.fleetload import LoadMode, Slot, fleet_index
from salvo.common.protocol import Start
from salvo.executor.scenario.bztconfig import RunPlan, write_fleet_share
from salvo.executor.scenario.dlt import fleet_warning
from salvo.executor.scenario.jmeterplan import JMETER
from salvo.executor.scenario.testdata import TestData
from salvo.executor.settings import ExecutorSettings
from salvo.executor.tool.gate import Go, check_go

__all__ = ["FleetPlace", "max_users_refusal", "place_in", "rate_shape_refusal", "take_place"]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class FleetPlace:
    index: int
    size: int
    run_id: str
    mode: LoadMode
    users: int | None = None  # set when the controller gave SALVO_FLEET_USERS: this executor's share
    spawn_rate: float | None = None
    scenario_users: list[int] | None = None  # fleet mode otherwise: each execution's share of its concurrency
    rows: int | None = None  # rows of SALVO_DATA_URI this executor got
    weighted: Slot | None = None  # with region weights: its place in the split by region (told to the load tool)
    open_model: OpenModel | None = None  # SALVO_FLEET_RATE (its share) or SALVO_RATE: arrivals at a rate

    def go(self, start_at: float, clock: float = 0.0) -> Go:
        """The GO line's fields: `start_at` on this host's clock, `clock` its offset from the controller's."""
        return Go(
            start_at=start_at,
            index=self.index,
            size=self.size,
            run_id=self.run_id,
            mode=self.mode,
            users=self.users,
            rate=self.spawn_rate,
            clock=clock,
            weighted=self.weighted,
            open_model=self.open_model,
        )

    def report(self) -> dict:
        """The share as the summary and the report show it."""
        users = (
            self.users
            if self.users is not None
            else (sum(self.scenario_users) if self.scenario_users is not None else None)
        )
        return {
            "index": self.index,
            "size": self.size,
            "mode": self.mode.value,
            "users": users,
            "spawn_rate": self.spawn_rate,
            "rows": self.rows,
        }


def take_place(
    start: Start, executor_id: str, settings: ExecutorSettings, plan: RunPlan, data: TestData | None
) -> FleetPlace:
    """Everything to do between accepting a start and releasing the load: this executor's place,
    its rows of the data file, and (for a run bzt launches at start_at) its share in the config.

    The GO line is checked first, before anything is written: a start the load tool would not
    read raises GateProtocolError here, with nothing changed, rather than aborting the tool later."""
    place = place_in(start, executor_id, settings, plan.concurrencies)
    if place.open_model is not None and not plan.gated:
        raise ValueError(
            "an open-model rate (SALVO_FLEET_RATE, SALVO_RATE) runs a gated locust or JMeter scenario only; this "
            f"scenario runs {', '.join(sorted(set(plan.executors))) or 'no gated tool'}"
        )
    if place.open_model is not None and not plan.locust_stats and plan.gates > 1:
        # each JMeter would run this executor's whole share: the arrivals are not split between processes
        raise ValueError(
            f"an open-model rate (SALVO_FLEET_RATE, SALVO_RATE) runs one JMeter execution; this scenario has "
            f"{plan.gates}: make them thread groups of one plan"
        )
    if place.open_model is not None and (refusal := rate_shape_refusal(place.open_model.profile, plan)):
        raise ValueError(refusal)
    if plan.rate_shapes and (place.open_model is None or not place.open_model.profile.shaped):
        log.warning(
            "the locustfile's rate shape %s is unused: it paces an open-model run with SALVO_FLEET_RATE=shape "
            "(or SALVO_RATE=shape)",
            plan.rate_shapes[0],
        )
    check_go(place.go(start.start_at))
    if warning := fleet_warning(plan.task_counts, place.size, place.mode):
        log.warning("%s", warning)
    slot = start.slot(executor_id)
    if data is not None:
        place = replace(place, rows=data.write_slice(slot))
        if place.rows == 0:
            log.warning(
                "executor %s (index %d of %d) gets no rows: the data file has only %d",
                executor_id,
                place.index,
                place.size,
                data.rows,
            )
    if place.mode is LoadMode.FLEET and not plan.gated:
        write_fleet_share(plan, slot)
    return place


def rate_shape_refusal(profile: RateProfile, plan: RunPlan) -> str | None:
    """Why `plan` cannot run `profile` when it asks for a rate shape (SALVO_FLEET_RATE=shape, SALVO_RATE=shape):
    the hook is a locustfile's, so a JMeter scenario or a locustfile without one cannot; None otherwise."""
    if not profile.shaped:
        return None
    if not plan.locust_stats:
        return (
            "a rate shape (SALVO_FLEET_RATE=shape, SALVO_RATE=shape) is a locustfile's hook, not applicable to "
            f"{', '.join(sorted(set(plan.executors) - {'locust'})) or 'this scenario'}: give a profile such as "
            "100:30s,400:60s"
        )
    if not plan.rate_shapes:
        return (
            "SALVO_FLEET_RATE=shape (or SALVO_RATE=shape) asks for the locustfile's rate shape, and it defines "
            "none: add a subclass of salvo.rate.RateShape with rate(self, run_time), or give a profile"
        )
    return None


def max_users_refusal(settings: ExecutorSettings, plan: RunPlan) -> str | None:
    """Why SALVO_MAX_USERS, set, cannot apply to `plan`: it grows a locust pool of users, and a JMeter plan's pool
    is its thread groups' threads, which the gate never grows; set and ignored, it would promise a pool that
    the run does not have (arrivals dropped at the threads' count, not at SALVO_MAX_USERS). None otherwise."""
    if "max_users" not in settings.model_fields_set or plan.locust_stats or JMETER not in plan.executors:
        return None
    return (
        f"SALVO_MAX_USERS={settings.max_users} grows a locust pool; a JMeter plan's pool is its thread groups' "
        "threads (their concurrency, split across the fleet in fleet mode), never grown: unset SALVO_MAX_USERS "
        "and size the thread groups"
    )


def place_in(start: Start, executor_id: str, settings: ExecutorSettings, concurrencies: list[int | None]) -> FleetPlace:
    """Where `executor_id` stands in `start`'s fleet and what it runs: its share of users and, in an
    open-model run, of the arrivals (salvo.common.arrivals)."""
    place = _users_in(start, executor_id, settings, concurrencies)
    return replace(place, open_model=open_model(start, place.index, settings))


def open_model(start: Start, index: int, settings: ExecutorSettings) -> OpenModel | None:
    """The fleet's rate split by index (SALVO_FLEET_RATE wins), else this executor's own SALVO_RATE, else None."""
    if start.load.rate is not None:
        profile, position, members = start.load.rate, index, len(start.fleet)
        if settings.rate is not None:
            log.warning(
                "the controller's SALVO_FLEET_RATE is split across the fleet; this executor's SALVO_RATE is unused"
            )
    elif settings.rate is not None:
        profile, position, members = settings.rate, 0, 1
    else:
        return None
    return OpenModel(
        profile=profile,
        position=position,
        members=members,
        pattern=settings.arrivals,
        max_users=settings.max_users,
        max_lateness=settings.max_lateness,
    )


def _users_in(
    start: Start, executor_id: str, settings: ExecutorSettings, concurrencies: list[int | None]
) -> FleetPlace:
    """Where `executor_id` stands in `start`'s fleet and what it runs.

    `concurrencies` are the users of each execution as armed (SALVO_USERS for a locustfile);
    in fleet mode without SALVO_FLEET_USERS they are the fleet's totals and are split (by region
    first when the controller has SALVO_REGION_WEIGHTS: see Start.slot)."""
    index, size, load = fleet_index(start.fleet, executor_id), len(start.fleet), start.load
    place = FleetPlace(index=index, size=size, run_id=start.run_id, mode=load.mode)
    if load.mode is not LoadMode.FLEET:
        return place
    slot: Slot = start.slot(executor_id)
    weighted = slot if start.fleet_regions is not None else None
    if load.users is None:
        shares = [slot.count(c) if c is not None else 0 for c in concurrencies]
        return FleetPlace(
            index=index, size=size, run_id=start.run_id, mode=load.mode, scenario_users=shares, weighted=weighted
        )
    users = slot.count(load.users)
    if load.spawn_rate is not None:
        rate = slot.rate(load.spawn_rate)
    elif settings.spawn_rate is not None:
        rate = settings.spawn_rate
    elif settings.ramp_up:
        rate = max(users, 1) / settings.ramp_up
    else:
        rate = float(max(users, 1))  # all at once, as locust does without a spawn rate
    return FleetPlace(
        index=index, size=size, run_id=start.run_id, mode=load.mode, users=users, spawn_rate=rate, weighted=weighted
    )
