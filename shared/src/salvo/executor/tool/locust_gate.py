"""Inside the locust process: hold locust at the start gate until the executor's GO, release it at start_at.

Locust is held in `events.init`: after the locustfile is imported and the runner
exists, before locust's run-time timer starts. Everything slow (bzt's checks,
interpreter start, imports) happens before the executor reports "armed"; after
release only the user spawn is left, so first requests land milliseconds after
`start_at`. The lines spoken are those of `salvo.executor.tool.gate`.
Stdlib + locust only.
"""

from __future__ import annotations

import contextlib
import os
import socket
import time
from collections.abc import Callable
from typing import Any

from salvo.common.fleetload import Slot
from salvo.executor.tool import gate as protocol

__all__ = ["EARLY_RELEASE_SECONDS", "install_gate", "loaded"]

EARLY_RELEASE_SECONDS = 0.05
ORPHAN_GRACE_SECONDS = 5.0  # to stop users gracefully once the executor is gone, then exit regardless
_SPIN_SECONDS = 0.0001  # the OS timer overshoots by ~60 µs; spinning longer only steals cores

_user_namespace: dict[str, Any] = {}  # the user's locustfile, once loaded: where its rate shape is found


def loaded(namespace: dict[str, Any]) -> None:
    """The user's locustfile was imported (locust_plugin): an open-model run may look for its rate shape."""
    _user_namespace.update(namespace)


def install_gate(events: Any, on_go: Callable[[protocol.Go], None] | None = None, recorder: Any = None) -> bool:
    """Hold at the gate when the executor asked for it ($SALVO_GATE_SOCKET); whether it will.

    `on_go` hears the GO line first (the recorder takes its clock offset from it); `recorder` also
    writes an open-model run's arrival counts (salvo.executor.tool.locust_arrivals)."""
    if not os.environ.get(protocol.GATE_SOCKET_ENV):
        return False
    _hold_at_gate.on_go = on_go  # type: ignore[attr-defined]
    _hold_at_gate.recorder = recorder  # type: ignore[attr-defined]
    events.init.add_listener(_hold_at_gate)
    # locust fires `quitting` once, in reverse order of registration: first in the list speaks last,
    # after the recorder has written its stats.
    events.quitting._handlers.insert(0, _say_done)
    return True


def _say_done(**_: Any) -> None:
    gate = getattr(_hold_at_gate, "socket", None)
    if gate is not None:
        with contextlib.suppress(OSError):
            gate.sendall(protocol.encode_done(time.time()))


def _say_failed(reason: str) -> None:
    """The scenario ended the run early: the executor fails the run with `reason` (bzt would exit 0)."""
    gate = getattr(_hold_at_gate, "socket", None)
    if gate is not None:
        with contextlib.suppress(OSError):
            gate.sendall(protocol.encode_failed(reason))


def _hold_at_gate(environment: Any = None, **_: Any) -> None:
    """Block until GO; let locust start up just before start_at, its users wait for start_at."""
    _warm_up_resolver(getattr(environment, "host", None))
    gate = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        gate.connect(protocol.socket_address(os.environ[protocol.GATE_SOCKET_ENV]))
        gate.sendall(protocol.encode_ready(os.getpid()))
        go = protocol.decode_go(protocol.read_line(gate))
    except (OSError, protocol.GateProtocolError):
        os._exit(protocol.ABORT_EXIT_CODE)
    on_go = getattr(_hold_at_gate, "on_go", None)
    if on_go is not None:
        on_go(go)
    start_at = go.start_at
    os.environ.update(go.scenario_environment())
    if go.split and environment is not None:
        _take_share(environment, go)
    options = getattr(environment, "parsed_options", None)
    if go.open_model is not None and options is not None:
        from salvo.common.arrivals import rate_shapes
        from salvo.executor.tool.locust_arrivals import install_arrivals

        shapes = rate_shapes(_user_namespace) if go.open_model.profile.shaped else []
        recorder = getattr(_hold_at_gate, "recorder", None)
        install_arrivals(
            environment, go, options.run_time or None, recorder, shapes[0] if shapes else None, _say_failed
        )
    # Locust's own start-up (runner, dispatch, spawning users: ~2 ms of CPU) happens in the
    # last EARLY_RELEASE before start_at, so that at start_at only the first requests are left.
    _sleep_until(start_at - EARLY_RELEASE_SECONDS)
    early = max(0.0, start_at - time.time())
    if options is not None and getattr(options, "run_time", None):
        options.run_time += early  # locust's run-time timer starts now: it must not lose the wait
    barrier = _hold_users_until_released()
    import gevent

    gevent.spawn(_open_at, start_at, barrier, gate)
    gevent.spawn(_stop_when_the_executor_is_gone, gate, environment)
    _hold_at_gate.socket = gate  # type: ignore[attr-defined]  # kept open for the process's life


def _take_share(environment: Any, go: protocol.Go) -> None:
    """Fleet mode: run this executor's share of the users (of every tick, with a LoadTestShape)."""
    shape = getattr(environment, "shape_class", None)
    if shape is not None:
        _share_the_shape(shape, go.slot)
        return
    options = environment.parsed_options
    if go.users is not None:
        options.num_users, options.spawn_rate = go.users, go.rate or float(max(go.users, 1))
    else:  # the scenario's own numbers (SALVO_USERS, Taurus concurrency) are the fleet's
        total = options.num_users or 1
        options.num_users = go.slot.count(total)
        options.spawn_rate = go.slot.rate(options.spawn_rate or total)


def _share_the_shape(shape: Any, slot: Slot) -> None:
    """The shape tells the fleet's user count at each tick; this executor runs its share of it.

    Every executor's shape clock starts at the same start_at, so a step happens fleet-wide at once."""
    fleet_tick = shape.tick

    def tick():
        step = fleet_tick()
        if step is None:
            return None
        users, rate, *rest = step
        return (slot.count(int(users)), slot.rate(rate), *rest)

    shape.tick = tick


def _stop_when_the_executor_is_gone(gate: socket.socket, environment: Any) -> None:
    """The executor never writes after GO: the gate closing means it died (even by SIGKILL).

    Nobody would collect this run's results or answer to the kill switch, so the load
    stops at once; bzt's own stop on the executor's death is not to be relied on."""
    try:
        while gate.recv(protocol.MAX_LINE_BYTES):
            pass
    except OSError:
        pass
    runner = getattr(environment, "runner", None)
    if runner is not None:
        runner.quit()
    import gevent

    gevent.sleep(ORPHAN_GRACE_SECONDS)
    os._exit(protocol.ABORT_EXIT_CODE)


def _hold_users_until_released():
    """Every user waits here before its on_start and first task."""
    from gevent.event import Event
    from locust import User

    barrier = Event()
    original_run = User.run

    def run(self):
        if not barrier.is_set():
            barrier.wait()
        return original_run(self)

    User.run = run
    return barrier


def _open_at(start_at: float, barrier, gate: socket.socket) -> None:
    import gevent

    gevent.sleep(max(0.0, start_at - time.time() - 0.002))
    _sleep_until(start_at)
    barrier.set()
    with contextlib.suppress(OSError):
        gate.sendall(protocol.encode_released(time.time()))


def _warm_up_resolver(host_url: str | None) -> None:
    """gevent resolves names in a thread pool whose first use starts a thread (~3 ms):
    pay for it, and for the target's DNS lookup, before READY rather than after start_at."""
    from urllib.parse import urlsplit

    hostname = urlsplit(host_url).hostname if host_url else None
    for name in {hostname or "127.0.0.1", "127.0.0.1"}:
        with contextlib.suppress(OSError):
            socket.getaddrinfo(name, 80, 0, socket.SOCK_STREAM)


def _sleep_until(deadline: float) -> None:
    """Sleep with the OS's microsecond timer (gevent's is millisecond-coarse), spin the rest.

    Blocking the whole process is intended: nothing else may run before the start. The
    event loop's cached clock is refreshed afterwards, or locust's --run-time timer,
    armed right after, would fire early by as long as this blocked."""
    import gevent
    from gevent.monkey import get_original

    os_sleep = get_original("time", "sleep")
    while True:
        remaining = deadline - time.time()
        if remaining <= 0:
            break
        if remaining > _SPIN_SECONDS:
            os_sleep(remaining - _SPIN_SECONDS)
    gevent.get_hub().loop.update_now()
