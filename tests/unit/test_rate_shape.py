"""A rate shape (salvo.rate.RateShape): its hook's answers as each second's fleet count, split exactly across the
fleet, refused in one line when it raises or answers no rate (while arming and mid-run), and refused for JMeter."""

from __future__ import annotations

import itertools
import json
import math
import time
from fractions import Fraction

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from salvo.common.arrivals import ExecutorShare, OpenModel, RateProfile, RateShapeError, rate_value, shape_counts
from salvo.common.errors import ExitCode, ScenarioError
from salvo.common.fleetload import LoadMode
from salvo.common.protocol import FleetLoad, Start
from salvo.common.settings import load
from salvo.executor.run.arming import ScenarioPreparer
from salvo.executor.run.fleetplace import max_users_refusal, take_place
from salvo.executor.scenario.bztconfig import RunPlan
from salvo.executor.scenario.locustprobe import probe_locustfile
from salvo.executor.settings import ExecutorSettings
from salvo.executor.tool.gate import Go, check_go
from salvo.rate import RateShape, rate_shapes
from tests.support.jmeter import JMETER_HOME, require_jmeter
from tests.support.scripts import run_script

SHAPE = RateProfile.parse("shape")


def test_shape_is_a_profile_that_travels_as_its_word():
    assert SHAPE.shaped and SHAPE.text() == "shape" and RateProfile.parse(" shape ") == SHAPE
    assert SHAPE.seconds is None  # the hook ends it, or the run's duration
    model = OpenModel(SHAPE, 1, 3)
    check_go(Go(start_at=time.time() + 5, index=1, size=3, mode=LoadMode.FLEET, open_model=model))
    with pytest.raises(ValueError, match="from its rate shape's counts"):
        model.share()
    with pytest.raises(ValueError, match="locustfile's hook"):
        SHAPE.arrivals_until(3)


def test_a_hooks_rates_add_up_exactly_second_by_second_and_none_ends_them():
    def rate(run_time: float) -> float | None:
        assert run_time == int(run_time)  # whole seconds since start_at, the same on every executor
        return None if run_time >= 6 else (0.5 if run_time < 2 else 100.1)

    assert list(shape_counts(rate)) == [0, 1, 100, 100, 100, 100]  # 0.5 + 0.5, then 100.1 with the tenths kept
    assert sum(shape_counts(lambda t: None if t >= 10 else 0.1)) == 1  # ten tenths: 0.1 is 1/10, not the float


def test_a_hook_split_over_the_fleet_sums_to_its_count_every_second():
    steps = [100, 100, 400, 7, 0, 1, 2]
    shares = [list(ExecutorShare(SHAPE, i, 3, shape_counts(_steps(steps))).counts()) for i in range(3)]
    assert [sum(column) for column in zip(*shares, strict=True)] == steps
    assert shares[0][3] + shares[1][3] + shares[2][3] == 7 and max(map(len, shares)) == len(steps)


@settings(deadline=None, max_examples=60)
@given(
    rates=st.lists(st.floats(0, 2000, allow_nan=False).map(lambda r: round(r, 3)), min_size=1, max_size=30),
    size=st.integers(1, 12),
)
def test_shares_of_any_hook_sum_exactly_and_stay_fair(rates, size):
    fleet = list(shape_counts(_steps(rates)))
    assert len(fleet) == len(rates)
    assert sum(fleet) == math.floor(sum(Fraction(str(rate)) for rate in rates))  # nothing lost to floats
    shares = [list(ExecutorShare(SHAPE, i, size, shape_counts(_steps(rates))).counts()) for i in range(size)]
    for k, count in enumerate(fleet):
        column = [share[k] for share in shares]
        assert sum(column) == count and all(abs(part - count / size) < 1 for part in column)
    totals = [sum(share) for share in shares]
    assert max(totals) - min(totals) <= 1


@pytest.mark.parametrize(
    ("answer", "reason"),
    [
        (-1, "rate(0) returned -1: a rate cannot be negative"),
        (float("nan"), "rate(0) returned nan: expected a finite number"),
        (float("inf"), "rate(0) returned inf: expected a finite number"),
        ("100", "rate(0) returned '100': expected arrivals per second (a number >= 0) or None"),
        (True, "rate(0) returned True: expected arrivals per second"),
        ((100, 10), "rate(0) returned (100, 10): expected arrivals per second"),
        (10**9, "rate(0) returned 1000000000: more than 10000000 arrivals per second"),
    ],
)
def test_an_answer_that_is_no_rate_is_refused_naming_the_second(answer, reason):
    with pytest.raises(RateShapeError) as caught:
        next(shape_counts(lambda _: answer))
    assert str(caught.value).startswith(reason)


def test_a_hook_that_raises_is_one_line_naming_the_second_and_its_error():
    def rate(run_time: float) -> float:
        return 100 / (3 - run_time)

    counts = shape_counts(rate)
    assert list(itertools.islice(counts, 3)) == [33, 50, 100]
    with pytest.raises(RateShapeError) as caught:
        next(counts)
    assert str(caught.value) == "rate(3) raised ZeroDivisionError: float division by zero"
    assert caught.value.__cause__ is None and caught.value.__suppress_context__


def test_rate_value_keeps_a_millionth():
    assert rate_value(0.1, 0) == Fraction(1, 10) and rate_value(2, 0) == 2 and rate_value(None, 0) is None


def test_rate_shapes_are_found_as_locust_finds_a_load_test_shape():
    class Base(RateShape):
        abstract = True

    class Steps(Base):
        def rate(self, run_time: float) -> float | None:
            return 1

    assert rate_shapes({"Base": Base, "Steps": Steps, "RateShape": RateShape, "x": 1, "again": Steps}) == [Steps]
    with pytest.raises(NotImplementedError, match="must define rate"):
        type("Empty", (RateShape,), {})().rate(0)


# --- while arming: the probe evaluates the first seconds --------------------------------------------------------

USER = "from locust import HttpUser, task\nclass U(HttpUser):\n    @task\n    def t(self):\n        pass\n"


def _probe(tmp_path, shape: str):
    path = tmp_path / "lf.py"
    path.write_text(USER + "from salvo.rate import RateShape\n" + shape)
    return probe_locustfile(path)


def test_the_probe_names_a_working_rate_shape(tmp_path):
    facts = _probe(tmp_path, "class Steps(RateShape):\n    def rate(self, t):\n        return 100 if t < 5 else None\n")
    assert facts.rate_shape == "Steps" and [user.name for user in facts.users] == ["U"]
    assert _probe(tmp_path, "").rate_shape is None


@pytest.mark.parametrize(
    ("shape", "message"),
    [
        (
            "class Bad(RateShape):\n    def rate(self, t):\n        return 100 if t < 30 else -5\n",
            "lf.py: rate shape Bad: rate(30) returned -5: a rate cannot be negative",
        ),
        (
            "class Bad(RateShape):\n    def rate(self, t):\n        return {}[t]\n",
            "lf.py: rate shape Bad: rate(0) raised KeyError: 0.0",
        ),
        (
            "class Bad(RateShape):\n    def rate(self, t):\n        return float('nan')\n",
            "lf.py: rate shape Bad: rate(0) returned nan: expected a finite number of arrivals per second",
        ),
        (
            "class Bad(RateShape):\n    def __init__(self):\n        raise OSError('no file')\n",
            "lf.py: rate shape Bad cannot be created: OSError: no file",
        ),
        (
            "class A(RateShape):\n    pass\nclass B(RateShape):\n    pass\n",
            "lf.py: defines 2 rate shapes (A, B): keep one",
        ),
    ],
)
def test_a_broken_rate_shape_is_refused_in_one_line_while_arming(tmp_path, shape, message):
    with pytest.raises(ScenarioError) as caught:
        _probe(tmp_path, shape)
    assert caught.value.exit_code == ExitCode.SCENARIO
    assert str(caught.value) == message


# --- at the start: a hook is a locustfile's ----------------------------------------------------------------------

EXECUTOR = {"SALVO_SCENARIO_URI": "s3://bucket/s/test.json", "SALVO_RESULTS_URI": "s3://bucket/r/"}


@pytest.mark.parametrize(
    ("executors", "shapes", "refusal"),
    [
        (["locust"], ["Steps"], None),
        (["jmeter"], [], "a rate shape .* is a locustfile's hook, not applicable to jmeter"),
        (["locust"], [], "defines none: add a subclass of salvo.rate.RateShape"),
    ],
)
def test_a_fleet_rate_shape_runs_a_locustfile_that_has_one(tmp_path, executors, shapes, refusal):
    settings = load(ExecutorSettings, EXECUTOR)
    plan = RunPlan(configs=[], cwd=tmp_path, gates=1, executors=executors, concurrencies=[5], rate_shapes=shapes)
    start = Start(
        run_id="r",
        fleet=["a", "b"],
        start_at=time.time() + 5,
        load=FleetLoad(mode=LoadMode.FLEET, rate=SHAPE),
    )
    if refusal is None:
        place = take_place(start, "b", settings, plan, None)
        assert place.open_model.profile.shaped and (place.open_model.position, place.open_model.members) == (1, 2)
    else:
        with pytest.raises(ValueError, match=refusal):
            take_place(start, "a", settings, plan, None)


# --- inside locust: the pool runs the hook's counts, and a hook failing mid-run ends the run ---------------------

POOL = r"""
import json, logging, time
import gevent
from types import SimpleNamespace
from locust import User, constant, task
from locust.env import Environment
from salvo.common.arrivals import OpenModel, RateProfile
from salvo.executor.tool.locust_arrivals import install_arrivals
from salvo.rate import RateShape

logging.basicConfig(level=logging.ERROR, format="%(levelname)s %(message)s")
sent = []

class Quick(User):
    wait_time = constant(5)

    @task
    def work(self):
        sent.append(time.time())

class Steps(RateShape):
    def rate(self, run_time):
        if run_time >= __FAIL_AT__:
            return 1 / 0
        return 20 if run_time < 1 else 60

environment = Environment(user_classes=[Quick])
environment.parsed_options = SimpleNamespace(num_users=1, spawn_rate=1.0, run_time=3)
runner = environment.create_local_runner()
start_at = time.time() + 0.3
go = SimpleNamespace(
    start_at=start_at, run_id="r1", clock=0.0, index=__INDEX__, size=3,
    open_model=OpenModel(RateProfile.parse("shape"), __INDEX__, 3, max_users=20),
)
pool = install_arrivals(environment, go, 3.0, None, Steps)
runner.start(0, 1)
gevent.sleep(start_at + 3.3 - time.time())
runner.quit()
per_second = [0, 0, 0]
for t in sent:
    if 0 <= t - start_at < 3:
        per_second[int(t - start_at)] += 1
counts = [sum(cell[i] for cell in pool.counts.values()) for i in range(3)]
print(json.dumps({"per_second": per_second, "counts": counts, "failure": pool.failure,
                  "exit": environment.process_exit_code}))
"""


def _run_pool(index: int, fail_at: int) -> tuple[dict, str]:
    return run_script(POOL.replace("__INDEX__", str(index)).replace("__FAIL_AT__", str(fail_at)))


def test_the_pool_runs_its_share_of_the_hooks_counts():
    result, _ = _run_pool(index=2, fail_at=99)
    # 20 then 60 a second for the fleet of 3: this executor's third, the remainder going round (7, 6, 7 of 20)
    assert result["counts"][0] == result["counts"][1] == 46 and result["counts"][2] == 0
    assert result["per_second"] == [6, 20, 20] and result["failure"] is None and result["exit"] is None


def test_the_hook_is_not_asked_past_the_runs_end():
    result, stderr = _run_pool(index=0, fail_at=3)  # the run lasts 3 s: second 3 is never reached
    assert result["failure"] is None and result["exit"] is None and "rate shape" not in stderr
    assert result["counts"] == [47, 47, 0]


def test_a_hook_failing_mid_run_ends_the_run_failed_with_one_line():
    result, stderr = _run_pool(index=0, fail_at=2)
    assert result["per_second"] == [7, 20, 0]  # seconds 0 and 1 ran; second 2's rate raised
    assert result["failure"] == "rate shape Steps: rate(2) raised ZeroDivisionError: division by zero"
    assert result["exit"] == 1
    assert "ERROR rate shape Steps: rate(2) raised ZeroDivisionError: division by zero; the run ends" in stderr
    assert "Traceback" not in stderr


def _steps(rates: list[float]):
    return lambda run_time: rates[int(run_time)] if run_time < len(rates) else None


# --- SALVO_MAX_USERS and JMeter: a JMeter plan's pool is its threads ---------------------------------------------


def _armed(tmp_path, env: dict[str, str], execution: dict):
    """ScenarioPreparer.prepare on a scenario of one execution, as an executor arms it."""
    entry = tmp_path / "download" / "test.json"
    entry.parent.mkdir(parents=True)
    config = {"execution": [execution], "modules": {"jmeter": {"path": str(JMETER_HOME)}}}
    entry.write_text(json.dumps(config))
    settings = load(ExecutorSettings, {**EXECUTOR, "SALVO_TARGET_HOST": "http://127.0.0.1:9", **env})
    return ScenarioPreparer(settings, store=None).prepare(entry, "0" * 64, tmp_path / "run")


JMETER_EXECUTION = {"executor": "jmeter", "concurrency": 4, "scenario": {"requests": ["/"]}}


def test_salvo_max_users_is_refused_for_a_jmeter_plan_while_arming(tmp_path):
    require_jmeter()
    with pytest.raises(ScenarioError) as caught:
        _armed(tmp_path, {"SALVO_MAX_USERS": "50"}, JMETER_EXECUTION)
    assert caught.value.exit_code == ExitCode.SCENARIO
    assert str(caught.value) == (
        "SALVO_MAX_USERS=50 grows a locust pool; a JMeter plan's pool is its thread groups' threads (their "
        "concurrency, split across the fleet in fleet mode), never grown: unset SALVO_MAX_USERS and size the "
        "thread groups"
    )
    assert _armed(tmp_path / "unset", {}, JMETER_EXECUTION).plan.executors == ["jmeter"]  # its default: no refusal


def test_salvo_max_users_grows_a_locust_pool_and_is_taken_there(tmp_path):
    settings = load(ExecutorSettings, {**EXECUTOR, "SALVO_MAX_USERS": "50"})
    locust = RunPlan(configs=[], cwd=tmp_path, gates=1, executors=["locust"], concurrencies=[4])
    jmeter = RunPlan(configs=[], cwd=tmp_path, gates=1, executors=["jmeter"], concurrencies=[4])
    assert max_users_refusal(settings, locust) is None
    assert max_users_refusal(settings, jmeter).startswith("SALVO_MAX_USERS=50 grows a locust pool")
    assert max_users_refusal(load(ExecutorSettings, EXECUTOR), jmeter) is None


def test_salvo_rate_shape_is_refused_for_a_jmeter_plan_while_arming(tmp_path):
    require_jmeter()
    with pytest.raises(ScenarioError, match="is a locustfile's hook, not applicable to jmeter"):
        _armed(tmp_path, {"SALVO_RATE": "shape"}, JMETER_EXECUTION)
