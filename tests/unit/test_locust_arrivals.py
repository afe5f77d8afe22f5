"""The arrival pool inside a real locust (in a child process: importing locust monkey-patches the interpreter).

A user class written for the closed model (it waits 5 s between tasks) whose task takes 100 ms runs at 100
arrivals a second with a pool of at most 2 users: the wait is skipped, the pool grows to 2, and with no lateness
allowed the arrivals no user is free for are dropped at once (k6's rule): planned = sent + dropped, exactly.
"""

from __future__ import annotations

from tests.support.scripts import run_script

SCRIPT = r"""
import gc, json, time
import gevent
from types import SimpleNamespace
from locust import User, constant, task
from locust.env import Environment
from salvo.common.arrivals import OpenModel, RateProfile
from salvo.executor.tool.locust_arrivals import install_arrivals

intended = []

class Slow(User):
    wait_time = constant(5)  # a closed-model pause: skipped, arrivals pace the task

    @task
    def work(self):
        started = time.time()
        gevent.sleep(0.1)
        self.environment.events.request.fire(
            request_type="GET", name="/slow", response_time=(time.time() - started) * 1000, response_length=0,
            exception=None, context={}, start_time=started,
        )

environment = Environment(user_classes=[Slow])
environment.parsed_options = SimpleNamespace(num_users=1, spawn_rate=1.0, run_time=2)
runner = environment.create_local_runner()
start_at = time.time() + 0.3
go = SimpleNamespace(
    start_at=start_at, run_id="r1", clock=0.0,
    open_model=OpenModel(RateProfile.parse("100"), max_users=__MAX_USERS__, max_lateness=__LATENESS__),
)
pool = install_arrivals(environment, go, 2.0, None)
frozen = gc.get_freeze_count()
environment.events.request.add_listener(lambda **_: intended.append(pool.iteration_lateness()))
runner.start(0, 1)
gevent.sleep(start_at + 2.5 - time.time())
runner.quit()
counts = [sum(cell[i] for cell in pool.counts.values()) for i in range(3)]
print(json.dumps({"counts": counts, "requests": len(intended), "users": max(pool.created.values()),
                  "most_late": max(intended), "frozen": frozen}))
"""


def run_pool(max_users: int, lateness: float) -> dict:
    return run_script(SCRIPT.replace("__MAX_USERS__", str(max_users)).replace("__LATENESS__", repr(lateness)))[0]


def test_arrivals_no_user_is_free_for_are_dropped_and_counted():
    result = run_pool(max_users=2, lateness=0.0)
    planned, sent, dropped = result["counts"]
    assert planned == 200 and planned == sent + dropped
    assert result["users"] == 2 and result["requests"] == sent
    assert 30 <= sent <= 45, result  # 2 users x 10 tasks a second for 2 s, the first ones from the start
    assert result["most_late"] < 0.2  # what was sent went out on time, but for a new user's start and the machine
    assert result["frozen"] > 10_000  # locust and gevent, kept out of the full collections that held every greenlet


def test_with_lateness_allowed_arrivals_wait_and_are_sent_late():
    result = run_pool(max_users=2, lateness=0.5)
    planned, sent, dropped = result["counts"]
    assert planned == 200 and planned == sent + dropped and dropped > 0
    assert 0.3 <= result["most_late"] <= 0.6, result  # late up to the half second allowed (and a task's length)


KILLED_IN_HAND = r"""
import json, time
import gevent
from types import SimpleNamespace
from locust import User, constant, task
from locust.env import Environment
from salvo.common.arrivals import OpenModel, RateProfile
from salvo.executor.tool.locust_arrivals import install_arrivals

class Waiting(User):
    wait_time = constant(0)

    @task
    def work(self):
        pass

environment = Environment(user_classes=[Waiting])
environment.parsed_options = SimpleNamespace(num_users=2, spawn_rate=1.0, run_time=30)
runner = environment.create_local_runner()
go = SimpleNamespace(start_at=time.time() + 0.1, run_id="r1", clock=0.0,
                     open_model=OpenModel(RateProfile.parse("0"), max_users=2, max_lateness=0.0))
pool = install_arrivals(environment, go, 30.0, None)
runner.start(0, 1)
deadline = time.time() + 10
while len(pool.idle) < 2 and time.time() < deadline:  # both users have asked for an arrival
    gevent.sleep(0.01)
killed = pool.idle[-1].greenlet  # the one the next arrival goes to
killed.kill(block=False)  # its GreenletExit is thrown in before the arrival's wake-up runs
pool.arrive(time.time())  # handed to it: in hand, never started
pool.arrive(time.time())  # to the other user, which takes it
gevent.sleep(0.1)
cells = [list(cell) for cell in pool.counts.values()]
runner.quit()
print(json.dumps({"cells": cells, "dead": killed.dead, "idle": len(pool.idle)}))
"""


def test_a_user_killed_with_an_arrival_in_hand_counts_it_dropped():
    result = run_script(KILLED_IN_HAND)[0]
    assert result["dead"]
    planned, sent, dropped, in_hand = (sum(cell[i] for cell in result["cells"]) for i in range(4))
    assert (planned, sent, dropped, in_hand) == (2, 1, 1, 0), result


def test_a_slow_target_grows_the_pool_to_what_the_rate_needs_without_delay():
    result = run_pool(max_users=50, lateness=0.0)  # 100 arrivals a second of a 100 ms task: about 10 users busy
    planned, sent, dropped = result["counts"]
    assert planned == 200 and (sent, dropped) == (200, 0), result
    assert 9 <= result["users"] <= 14, result
    assert result["most_late"] < 0.05, result  # every arrival found a user, or one was made for it at once


CONNECTING = r"""
import json, time
import gevent
from types import SimpleNamespace
from locust import User, constant, task
from locust.env import Environment
from salvo.common.arrivals import OpenModel, RateProfile
from salvo.executor.tool.locust_arrivals import install_arrivals

def burn(seconds):  # the CPU a request's work takes: nothing else runs meanwhile
    end = time.perf_counter() + seconds
    while time.perf_counter() < end:
        pass

class Connecting(User):
    wait_time = constant(0)

    def on_start(self):
        self.connected = False

    @task
    def work(self):
        if not self.connected:  # a new user's first request connects: a wait on the network, then the handshake
            gevent.sleep(0.005)
            burn(0.0024)
            self.connected = True
        burn(0.0004)
        gevent.sleep(0.0005)

environment = Environment(user_classes=[Connecting])
environment.parsed_options = SimpleNamespace(num_users=2, spawn_rate=1.0, run_time=2)
runner = environment.create_local_runner()
start_at = time.time() + 0.3
go = SimpleNamespace(start_at=start_at, run_id="r1", clock=0.0,
                     open_model=OpenModel(RateProfile.parse("600"), max_users=200, max_lateness=0.0))
pool = install_arrivals(environment, go, 1.0, None)
runner.start(0, 1)
gevent.sleep(start_at + 1.3 - time.time())
runner.quit()
counts = [sum(cell[i] for cell in pool.counts.values()) for i in range(3)]
print(json.dumps({"counts": counts, "users": max(pool.created.values())}))
"""


def test_a_busy_process_does_not_grow_its_pool_for_arrivals_the_cpu_holds_back():
    # 600 arrivals a second of 0.4 ms of CPU each: a quarter of the core. A user's first request also waits 5 ms to
    # connect and 2.4 ms for its handshake. Growing a user for every arrival that found none free made 21 users (46
    # with another process on the core), each new one adding a handshake; the scheduler waking late says the
    # arrivals wait for the CPU, and users coming back take them (measured: 5 users, with that process or without).
    result = run_script(CONNECTING)[0]
    planned, sent, dropped = result["counts"]
    assert planned == 600 and (sent, dropped) == (600, 0), result
    assert result["users"] <= 12, result
