"""SALVO_REGRESSION: thresholds against a baseline, parsed once, with errors naming the bad clause."""

from __future__ import annotations

import math

import pytest

from salvo.common.errors import ConfigError, ExitCode
from salvo.common.settings import load
from salvo.controller.figures import RunFigures
from salvo.controller.regression import RegressionSyntaxError, Unit, change, evaluate, parse
from salvo.controller.settings import ControllerSettings

RESULTS = "s3://results-bucket/results/"


def test_parses_units_directions_and_labels():
    parsed = parse("p95+10%; p99+200ms; p99.9+1.5s; error_rate+0.5pp; rps-20%; label:GET http://api:8080/login:p99+15%")
    assert [(t.metric, t.unit, t.limit, t.label) for t in parsed] == [
        ("p95", Unit.PERCENT, 10, None),
        ("p99", Unit.MS, 200, None),
        ("p99.9", Unit.MS, 1500, None),
        ("error_rate", Unit.POINTS, 0.5, None),
        ("rps", Unit.PERCENT, 20, None),
        ("p99", Unit.PERCENT, 15, "GET http://api:8080/login"),
    ]
    assert parsed[0].rising and not parsed[4].rising


def test_an_open_model_run_has_thresholds_on_its_corrected_latencies_and_dropped_share():
    parsed = parse("p99_intended+10%; p99.9_intended+500ms; max_intended+2s; dropped+0.5pp")
    assert [(t.metric, t.unit, t.limit) for t in parsed] == [
        ("p99_intended", Unit.PERCENT, 10),
        ("p99.9_intended", Unit.MS, 500),
        ("max_intended", Unit.MS, 2000),
        ("dropped", Unit.POINTS, 0.5),
    ]
    base = RunFigures("a", {"p99_intended": 400.0, "p99.9_intended": 700.0, "max_intended": 900.0, "dropped_rate": 0})
    new = RunFigures("b", {"p99_intended": 430.0, "p99.9_intended": 1300, "max_intended": 2900, "dropped_rate": 0.006})
    # dropped is read as the share of planned arrivals (the report's dropped_rate), not the count
    assert [r.passed for r in evaluate(parsed, base, new)] == [True, False, True, False]
    assert evaluate(parsed[3:], base, new)[0].change == pytest.approx(0.6)


def test_empty_thresholds():
    assert parse("") == () and parse(None) == () and parse(" ; ") == ()


@pytest.mark.parametrize(
    ("clause", "why"),
    [
        ("p95-10%", "p95 gets worse as it rises: write e.g. p95+10%"),
        ("rps+20%", "rps gets worse as it falls: write e.g. rps-10%"),
        ("error_rate+1%", "error_rate takes pp (percentage points)"),
        ("error_rate+0.5", "a unit is required"),
        ("p95+10", "a unit is required"),
        ("p95+10pp", "p95 takes % or ms or s"),
        ("rps-20ms", "rps takes %"),
        ("latency+10%", "unknown metric 'latency'"),
        ("p42+1%", "unknown metric 'p42'"),
        ("label:p95+1%", "expected label:NAME:METRIC+VALUE"),
        ("p95 10%", "expected METRIC SIGN VALUE UNIT"),
        ("p95+", "expected METRIC SIGN VALUE UNIT"),
        ("p95<500ms", "expected METRIC SIGN VALUE UNIT"),
        ("dropped+1%", "dropped takes pp (percentage points)"),
        ("dropped-1pp", "dropped gets worse as it rises"),
        ("p99_int+10%", "expected METRIC SIGN VALUE UNIT"),
    ],
)
def test_bad_clauses_name_the_clause_and_the_fix(clause, why):
    with pytest.raises(RegressionSyntaxError) as caught:
        parse(f"p95+10%; {clause}")
    assert repr(clause) in str(caught.value) and why in str(caught.value)


def test_bad_setting_is_exit_2_naming_the_variable_and_clause():
    with pytest.raises(ConfigError) as caught:
        load(ControllerSettings, {"SALVO_RESULTS_URI": RESULTS, "SALVO_REGRESSION": "p95+10%; rps+5%"})
    assert caught.value.exit_code == ExitCode.CONFIG
    (problem,) = caught.value.problems
    assert problem.startswith("SALVO_REGRESSION='p95+10%; rps+5%' is invalid: 'rps+5%': rps gets worse as it falls")


@pytest.mark.parametrize("value", ["run/1", "../run", "s3://Bucket/results/run-1/", "s3:/bucket/run"])
def test_bad_baseline_run_is_exit_2(value):
    with pytest.raises(ConfigError, match=r"SALVO_BASELINE_RUN=.* is invalid"):
        load(ControllerSettings, {"SALVO_RESULTS_URI": RESULTS, "SALVO_BASELINE_RUN": value})


def test_settings_hold_parsed_thresholds_and_the_baseline():
    settings = load(
        ControllerSettings,
        {"SALVO_RESULTS_URI": RESULTS, "SALVO_BASELINE_RUN": "run-7", "SALVO_REGRESSION": "p95+10%; error_rate+0.5pp"},
    )
    assert settings.baseline_run == "run-7" and [t.metric for t in settings.regression] == ["p95", "error_rate"]


def test_change_in_each_unit():
    assert change(200.0, 220.0, Unit.PERCENT) == pytest.approx(10.0)
    assert change(0.002, 0.007, Unit.POINTS) == pytest.approx(0.5)
    assert change(200.0, 150.0, Unit.MS) == -50.0
    assert change(0.0, 0.0, Unit.PERCENT) == 0.0 and change(0.0, 3.0, Unit.PERCENT) == math.inf
    assert change(None, 3.0, Unit.PERCENT) is None and change(3.0, None, Unit.MS) is None


def figures(run_id: str, overall: dict, labels: dict | None = None) -> RunFigures:
    return RunFigures(run_id, overall, labels or {})


def test_thresholds_are_crossed_only_strictly_beyond_the_limit_in_the_worse_direction():
    base = figures("a", {"p95": 100.0, "p99": 200.0, "rps": 50.0, "error_rate": 0.001})
    thresholds = parse("p95+10%; p99+20ms; rps-20%; error_rate+0.5pp")
    at_limits = figures("b", {"p95": 110.0, "p99": 220.0, "rps": 40.0, "error_rate": 0.006})
    assert [r.passed for r in evaluate(thresholds, base, at_limits)] == [True, True, True, True]
    beyond = figures("c", {"p95": 110.5, "p99": 220.5, "rps": 39.5, "error_rate": 0.0061})
    assert [r.passed for r in evaluate(thresholds, base, beyond)] == [False, False, False, False]
    better = figures("d", {"p95": 50.0, "p99": 100.0, "rps": 500.0, "error_rate": 0.0})
    assert all(r.passed for r in evaluate(thresholds, base, better))


def test_a_threshold_without_data_fails_and_says_which_side_lacks_it():
    base = figures("a", {"p95": 100.0}, {"/login": {"p99": 80.0}})
    new = figures("b", {"p95": 100.0}, {"/new": {"p99": 80.0}})
    (login, new_label) = evaluate(parse("label:/login:p99+15%; label:/new:p99+15%"), base, new)
    assert not login.passed and login.description == "label:/login:p99+15%: FAIL (no data in this run)"
    assert not new_label.passed and "no data in the baseline" in new_label.description


def test_description_shows_base_new_and_change():
    (result,) = evaluate(
        parse("error_rate+0.5pp"), figures("a", {"error_rate": 0.001}), figures("b", {"error_rate": 0.008})
    )
    assert result.description == "error_rate+0.5pp: FAIL (base 0.10 %, new 0.80 %, +0.70 pp)"
