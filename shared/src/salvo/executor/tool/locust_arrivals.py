"""Inside the locust process: open-model load. Arrivals come at planned times; each runs one task iteration.

An arrival scheduler greenlet walks this executor's share of the rate profile
(salvo.common.arrivals) and, at each planned instant (above one arrival per
BATCH_SECONDS, at the next point of that grid: `wake_offset`), hands the arrival
to the free user of a pool that came back last. The pool starts with the run's
users (SALVO_USERS, or the fleet share) and grows, up to SALVO_MAX_USERS,
whenever arrivals wait and no user is on its way to take them, except while the
scheduler itself wakes late (BEHIND_SECONDS): then the users wait for the CPU,
not for the target, a new user would only add work, and arrivals wait for the
next user back (for at most GROW_ANYWAY_SECONDS before the pool grows). With the pool
full and every user busy, an arrival waits at most SALVO_MAX_LATENESS for a user
(then it is sent late), and past that it is *dropped*: counted, never silently
skipped. Every arrival whose time came is planned = sent + dropped, per second
of its planned time.

The scenario's users run unchanged: their TaskSet loop still picks the next task;
before running it, the user takes an arrival (blocking while it has none, in
locust's "waiting" state so a stop ends it at once), and locust's wait_time is
skipped, since arrivals pace the load. A task that is a nested TaskSet is no
iteration itself: its own tasks are.

Each request is also timed from its intended send time: its iteration's lateness
(actual start - planned time) is added to its service time. That is what a
closed-model tool leaves out when a slow system holds its users back (coordinated
omission).

With a `shape` profile, the locustfile's rate shape (salvo.rate.RateShape) gives the
fleet's rate of each second, evaluated when the scheduler reaches that second; a hook
that raises or answers no rate then ends the run, failed, with one line in locust's
log (the executor's failure hint) and never a traceback.

Stdlib + gevent + locust only: imported inside the locust process alone (by salvo.executor.tool.locust_gate,
once a GO line asks for an open model), so gevent and locust are imported at the top: the per-arrival paths are hot.
"""

from __future__ import annotations

import gc
import itertools
import json
import logging
import math
import time
from collections import deque
from typing import Any

import gevent
from gevent.event import Event
from gevent.hub import get_hub
from locust.exception import StopUser
from locust.user.task import TaskSet
from locust.user.users import LOCUST_STATE_RUNNING, LOCUST_STATE_WAITING

from salvo.common.arrivals import (
    OpenModel,
    Pattern,
    RateShapeError,
    arrival_offsets,
    seeded_rng,
    shape_counts,
    wake_offset,
)

__all__ = ["RATE_SHAPE_EXIT_CODE", "ArrivalPool", "install_arrivals"]

log = logging.getLogger(__name__)

RATE_SHAPE_EXIT_CODE = 1  # locust's exit code when the rate shape failed mid-run: the run failed

# Locust's --run-time outlasts the arrivals by this much: its timer and the scheduler both end at start_at +
# duration, and a timer firing a few ms early would cut the last arrivals out of the plan. No load is added:
# the pool's users end with the arrivals.
END_GRACE_SECONDS = 1.0
# A full collection of the locust process took 15-115 ms on the loaded bench machine: it runs before the start
# only when this much is left, and the gate still releases locust 50 ms before start_at.
COLLECT_BEFORE_START_SECONDS = 0.25
# A scheduler that wakes this much after its time finds the process busy: its users wait for the CPU, not for the
# target, and a new user only adds work (its creation and its first connection cost a few requests' CPU). So the
# pool does not grow then: arrivals wait for the next user back. Growing regardless turned the start of a run near
# one core's capacity into a cascade of new users whose catch-up moved arrivals into the next second
# (measured in docs/open-model.md#cost).
BEHIND_SECONDS = 0.002
# ...but an arrival that has waited this long may be held by a slow target rather than the CPU: the pool grows after
# all (up to SALVO_MAX_USERS, then arrivals are dropped as usual). It bounds the lateness this rule can add.
GROW_ANYWAY_SECONDS = 0.02


class _Turn:
    """A user waiting for an arrival: `planned` is the arrival handed to it (None: no more arrivals)."""

    __slots__ = ("greenlet", "planned")

    def __init__(self, greenlet: Any) -> None:
        self.greenlet: Any = greenlet  # None once the user was killed while it waited
        self.planned: float | None = None


class ArrivalPool:
    """The scheduler, the pool of users and the per-second counts of one locust process."""

    def __init__(
        self,
        model: OpenModel,
        environment: Any,
        start_at: float,
        duration: float | None,
        run_id: str,
        clock_offset: float,
        initial_users: int,
        place: tuple[int, int] = (0, 1),
        rate_shape: Any = None,
        on_failure: Any = None,
    ) -> None:
        """`place`: this executor's index and the fleet's size, which interleave the fleet's arrival grids and
        seed its Poisson draws (in per-executor mode too, where each executor runs its own SALVO_RATE).
        `rate_shape`: the locustfile's RateShape subclass, which a `shape` profile runs; `on_failure` hears
        the one line of a failure that ends the run (the gate tells the executor)."""
        self.model = model
        self.environment = environment
        self.start_at = start_at
        profile_end = model.profile.seconds
        ends = [end for end in (duration, float(profile_end) if profile_end is not None else None) if end is not None]
        self.end = start_at + min(ends) if ends else math.inf
        self.run_id = run_id
        self.clock_offset = clock_offset
        self.initial_users = max(1, min(initial_users, model.max_users))
        self.index, self.size = place
        self.idle: deque[_Turn] = deque()  # users waiting for an arrival
        self._hub: Any = None
        self.backlog: deque[tuple[float, float]] = deque()  # (planned, drop after) of arrivals waiting for a user
        self.starting = 0  # users created that have not yet asked for their first arrival
        self.created: dict[str, int] = {}  # user class name -> users this pool created
        # second (controller time) -> [planned, sent, dropped, in hand]: "in hand" were handed to a waiting user
        # that has not woken yet (sent once it does)
        self.counts: dict[int, list[int]] = {}
        self.lateness: dict[Any, float] = {}  # user greenlet -> its iteration's lateness, seconds
        self.rate_shape_instance: Any = None
        self.rate_shape = rate_shape
        self.on_failure = on_failure
        self.failure: str | None = None  # why the arrivals ended early (a rate shape that failed)
        self.stopped = False
        self.behind = False  # the scheduler's last wake-up came BEHIND_SECONDS or more after its time
        self._scheduler: Any = None
        self._runner_started: Any = None  # set once locust's runner has started (users may be created then)

    # --- the scheduler --------------------------------------------------------------------------

    def start(self) -> None:
        self._hub = get_hub()
        self._runner_started = Event()
        self.environment.events.spawning_complete.add_listener(lambda **_: self._runner_started.set())
        self._scheduler = gevent.spawn(self._run)

    def _run(self) -> None:
        # The runner starts just before start_at (the gate's early release) and gives the user classes their
        # host: the pool's first users are created then, and wait at the gate's barrier like locust's own.
        self._runner_started.wait()
        for _ in range(self.initial_users):
            self._grow()
        model = self.model
        rng = seeded_rng(self.run_id, self.index) if model.pattern is Pattern.POISSON else None
        try:
            self._schedule(model, rng)
        except RateShapeError as exc:
            named = f" {self.rate_shape.__name__}" if self.rate_shape is not None else ""
            self.fail(f"rate shape{named}: {exc}")
            return
        self.stop()

    def _fleet_counts(self) -> Any:
        """The fleet's count of each second: a `shape` profile's from the locustfile's rate shape."""
        if not self.model.profile.shaped:
            return None
        if self.rate_shape is None:
            raise RateShapeError("asked for (SALVO_FLEET_RATE=shape), and the locustfile defines no RateShape subclass")
        try:
            self.rate_shape_instance = self.rate_shape()
        except Exception as exc:  # the scenario's code: one line, never a traceback
            raise RateShapeError(f"cannot be created: {type(exc).__name__}: {exc}") from None
        return shape_counts(self.rate_shape_instance.rate)

    def fail(self, message: str) -> None:
        """End the run, failed: `message` is the one line locust logs (the executor's failure hint)."""
        self.failure = message
        log.error("%s; the run ends", message)
        if self.on_failure is not None:
            self.on_failure(message)
        self.stop()
        self.environment.process_exit_code = RATE_SHAPE_EXIT_CODE
        runner = getattr(self.environment, "runner", None)
        if runner is not None:
            gevent.spawn(runner.quit)

    def _schedule(self, model: OpenModel, rng: Any) -> None:
        counts = model.share(self._fleet_counts()).counts()
        for second in itertools.count():
            begin = self.start_at + second
            if self.stopped or begin >= self.end:
                break
            count = next(counts, None)  # a rate shape is asked only for the seconds the run reaches
            if count is None:  # the rate shape said None: no more arrivals
                break
            now = time.time()
            for offset in arrival_offsets(count, self.index, self.size, model.pattern, rng):
                planned = begin + offset
                if planned >= self.end:
                    break
                if planned > now:  # the clock is read again only for an arrival not yet due at the last reading
                    due = begin + wake_offset(offset, count)
                    delay = due - time.time()
                    if delay > 0:
                        gevent.sleep(delay)
                    now = time.time()
                    # Behind until what the CPU held back is all taken: on time again, the process still owes it.
                    self.behind = now - due >= BEHIND_SECONDS or (self.behind and bool(self.backlog))
                if not self.idle:  # users done with an iteration but not yet back are free: let them come first
                    gevent.sleep(0)
                if self.stopped:
                    return
                self.arrive(planned)
            if count == 0:  # nothing this second: wait for the next one rather than run ahead
                gevent.sleep(max(0.0, begin + 1 - time.time()))

    def _second(self, planned: float) -> int:
        """The second (controller time) an arrival planned at `planned` (this host's time) counts in."""
        return int(planned - self.clock_offset)

    def _cell(self, planned: float) -> list[int]:
        second = self._second(planned)
        cell = self.counts.get(second)
        if cell is None:
            cell = self.counts[second] = [0, 0, 0, 0]
        return cell

    def arrive(self, planned: float) -> None:
        """An arrival's time has come: a free user runs it, or it waits for one, or it is dropped.

        This and `take` run once per arrival: kept to a few dictionary operations."""
        cell = self._cell(planned)
        cell[0] += 1
        if self.backlog:  # the clock is read only when something may have waited too long
            self._drop_stale(time.time())
        if self.idle:
            # The user that came back last: its connection and its memory are the warmest.
            self._hand(self.idle.pop(), planned)
            cell[3] += 1
            return
        if len(self.backlog) < self.starting:  # a user on its way will take it
            self.backlog.append((planned, math.inf))
        elif self._user_count() < self.model.max_users:
            self.backlog.append((planned, math.inf))
            if not self.behind or planned - self.backlog[0][0] >= GROW_ANYWAY_SECONDS:
                self._grow()
        elif self.model.max_lateness > 0:
            self.backlog.append((planned, planned + self.model.max_lateness))
        else:
            self._cell(planned)[2] += 1

    def _drop_stale(self, now: float) -> None:
        backlog = self.backlog
        while backlog and backlog[0][1] < now:
            self._cell(backlog.popleft()[0])[2] += 1

    def _user_count(self) -> int:
        return int(getattr(self.environment.runner, "user_count", 0) or 0)

    def _grow(self) -> None:
        """One more user, of the class furthest below its weight's share of the pool."""
        classes = [cls for cls in self.environment.user_classes if not getattr(cls, "abstract", False)]
        if not classes:
            return
        chosen = min(classes, key=lambda cls: self.created.get(cls.__name__, 0) / max(getattr(cls, "weight", 1), 1))
        self.created[chosen.__name__] = self.created.get(chosen.__name__, 0) + 1
        self.starting += 1
        user = chosen(self.environment)
        user.start(self.environment.runner.user_greenlets).link(lambda _: self._joined(user))

    def _joined(self, user: Any) -> None:
        """`user` is ready for arrivals, or ended before it ever was (its on_start failed): either way it is
        no longer on its way."""
        if not getattr(user, "_salvo_pooled", False):
            user._salvo_pooled = True
            self.starting = max(0, self.starting - 1)

    def stop(self, **_: Any) -> None:
        """No more arrivals: idle users end, arrivals still waiting are dropped."""
        if self.stopped:
            return
        self.stopped = True
        while self.idle:
            self._hand(self.idle.popleft(), None)
        while self.backlog:
            self._cell(self.backlog.popleft()[0])[2] += 1

    # --- the users' side ------------------------------------------------------------------------

    def take(self, user: Any) -> float:
        """Block until an arrival is this user's; its planned time. StopUser once the arrivals are over."""
        if self.starting:
            self._joined(user)
        if self.backlog:
            self._drop_stale(time.time())
            if self.backlog:
                planned = self.backlog.popleft()[0]
                self._cell(planned)[1] += 1
                return planned
        if self.stopped:
            raise StopUser()
        turn = _Turn(gevent.getcurrent())
        self.idle.append(turn)
        user._state = LOCUST_STATE_WAITING  # a stop kills a waiting user at once, as between tasks
        try:
            planned = self._hub.switch()  # until `_wake` switches back here with the arrival
        except BaseException:  # killed while it waited (GreenletExit, as a stop does), or anything else thrown in
            turn.greenlet = None  # a wake-up still on its way finds no one
            if turn in self.idle:
                self.idle.remove(turn)
            elif turn.planned is not None:
                cell = self._cell(turn.planned)
                cell[3] -= 1
                cell[2] += 1  # handed over, never started
            raise
        user._state = LOCUST_STATE_RUNNING
        if planned is None:
            raise StopUser()
        cell = self._cell(planned)  # in hand since `arrive`
        cell[3] -= 1
        cell[1] += 1
        return planned

    def _hand(self, turn: _Turn, planned: float | None) -> None:
        """Give `turn`'s user the arrival `planned`: it wakes on the event loop's next pass.

        What a gevent Waiter does, without its generality: one callback and one switch per arrival."""
        turn.planned = planned
        self._hub.loop.run_callback(self._wake, turn)

    @staticmethod
    def _wake(turn: _Turn) -> None:
        if turn.greenlet is not None:
            turn.greenlet.switch(turn.planned)

    def iteration_lateness(self) -> float:
        """Seconds the current greenlet's iteration started after its planned time (0 outside an iteration)."""
        return self.lateness.get(gevent.getcurrent(), 0.0)

    # --- what the recorder writes -----------------------------------------------------------------

    def lines(self, horizon: float) -> list[str]:
        """Stats lines of the seconds before `horizon` (controller time) that nothing will change any more.

        A second is settled once its arrivals were all sent or dropped, or the pool stopped."""
        waiting = [self._second(planned) for planned, _ in self.backlog]
        waiting += [second for second, cell in self.counts.items() if cell[3]]
        oldest = min(waiting, default=math.inf)
        done = [second for second in self.counts if second < horizon and (second < oldest or self.stopped)]
        lines = []
        for second in sorted(done):
            planned, sent, dropped, _ = self.counts.pop(second)
            arrivals = {"planned": planned, "sent": sent, "dropped": dropped}
            lines.append(json.dumps({"t": second, "arrivals": arrivals}, separators=(",", ":")))
        return lines


def install_arrivals(
    environment: Any,
    go: Any,
    duration: float | None,
    recorder: Any,
    rate_shape: Any = None,
    on_failure: Any = None,
) -> ArrivalPool:
    """Run `go.open_model` in this locust process: its users become the pool, arrivals pace them.

    `rate_shape`: the locustfile's RateShape subclass (a `shape` profile runs it); `on_failure`: told the one
    line of a failure that ends the run."""
    if getattr(environment, "shape_class", None) is not None:
        # The profile says the load over time; a shape would start users of its own beside the pool.
        logging.getLogger(__name__).warning(
            "open model: the locustfile's %s is not used, the rate profile %s paces the load",
            type(environment.shape_class).__name__,
            go.open_model.profile.text(),
        )
        environment.shape_class = None
    options = environment.parsed_options
    initial = int(getattr(options, "num_users", None) or 1)
    options.num_users = 0  # locust spawns none: the pool's users are created at start_at, and as arrivals need
    options.spawn_rate = 1.0
    if duration:
        options.run_time = duration + END_GRACE_SECONDS
    pool = ArrivalPool(
        go.open_model,
        environment,
        start_at=go.start_at,
        duration=duration,
        run_id=go.run_id,
        clock_offset=go.clock,
        initial_users=initial,
        place=(int(getattr(go, "index", 0)), int(getattr(go, "size", 1))),
        rate_shape=rate_shape,
        on_failure=on_failure,
    )
    original = TaskSet.execute_next_task

    def execute_next_task(self: Any) -> None:
        task = self._task_queue[0]
        if isinstance(task, type) and issubclass(task, TaskSet):
            return original(self)  # entering a nested TaskSet: its tasks are the iterations
        planned = pool.take(self.user)
        current = gevent.getcurrent()
        pool.lateness[current] = max(0.0, time.time() - planned)
        try:
            return original(self)
        finally:
            pool.lateness.pop(current, None)

    TaskSet.execute_next_task = execute_next_task
    TaskSet._sleep = lambda self, seconds: None  # arrivals pace the load, not wait_time
    environment.events.test_stopping.add_listener(pool.stop)
    if recorder is not None:
        recorder.arrivals = pool
    # Everything loaded so far (locust, gevent, the locustfile: ~50,000 objects) lives as long as the process:
    # out of the collector's sight, a full collection no longer walks it. Measured in the bench's locust process,
    # 2-4 full collections a 10 s run held every greenlet 50-85 ms each, and one across a second's end moved
    # that many ms of arrivals into the next second. Collected first, with time to spare before the start, so
    # start-up's garbage is not frozen and the collection it would have caused does not fall in the first second.
    if go.start_at - time.time() > COLLECT_BEFORE_START_SECONDS:
        gc.collect()
    gc.freeze()
    pool.start()
    return pool
