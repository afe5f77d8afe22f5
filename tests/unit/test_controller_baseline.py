"""SALVO_BASELINE_RUN in the controller: read before any load, compared after it, crossed thresholds FAIL."""

from __future__ import annotations

import json

import pytest

from salvo.common.errors import ExitCode
from salvo.controller.baseline import ReportUnreadable
from tests.unit.test_controller import RESULTS, make, members, report


@pytest.fixture
def baseline_store(tmp_path):
    """A finished run `run-0` of two executors at 20 requests/s each, its report.json in the fake S3."""
    controller, fleet = make(members(2, rate=20), tmp_path, run_id="run-0")
    assert controller.run() == ExitCode.OK
    assert f"{RESULTS}run-0/report.json" in fleet.store.objects
    return fleet.store


def test_a_regression_beyond_the_thresholds_fails_the_run(tmp_path, baseline_store, capsys):
    controller, _ = make(
        members(2, rate=10),
        tmp_path,
        store=baseline_store,
        baseline_run="run-0",
        regression="rps-20%; p95+10%; label:/:p99+15%",
    )
    assert controller.run() == ExitCode.FAILED
    data = report(tmp_path)
    assert data["verdict"] == "fail" and data["exit_code"] == 1
    base_rps = json.loads(baseline_store.objects[f"{RESULTS}run-0/report.json"])["overall"]["rps"]
    new_rps = data["overall"]["rps"]
    (reason,) = data["verdict_reasons"]
    assert reason == (
        f"regression against the baseline rps-20%: FAIL (base {base_rps:.1f}/s, new {new_rps:.1f}/s, "
        f"{100 * (new_rps - base_rps) / base_rps:+.1f} %)"
    )
    baseline = data["baseline"]
    assert baseline["run_id"] == "run-0" and baseline["source"] == f"{RESULTS}run-0/" and baseline["regressed"]
    assert [t["passed"] for t in baseline["thresholds"]] == [False, True, True]
    assert baseline["overall"]["rps"] == {
        "base": base_rps,
        "new": new_rps,
        "unit": "%",
        "change": pytest.approx(100 * (new_rps - base_rps) / base_rps),
    }
    assert -60 < baseline["overall"]["rps"]["change"] < -40  # half the rate
    assert set(baseline["labels"]) == {"/"}
    output = capsys.readouterr().out
    assert "comparison: base run-0" in output and "  regression rps-20%: FAIL" in output
    assert output.index("comparison: base run-0") < output.index("verdict: FAIL")


def test_a_run_within_the_thresholds_passes_and_keeps_the_diff(tmp_path, baseline_store):
    controller, _ = make(
        members(2, rate=20),
        tmp_path,
        store=baseline_store,
        baseline_run="s3://results-bucket/results/run-0/",
        regression="rps-20%; p95+10%",
    )
    assert controller.run() == ExitCode.OK
    data = report(tmp_path)
    assert data["verdict"] == "pass" and data["verdict_reasons"] == []
    assert data["baseline"]["regressed"] is False and all(t["passed"] for t in data["baseline"]["thresholds"])
    assert data["baseline"]["overall"]["p95"]["change"] == pytest.approx(0.0)


def test_without_a_baseline_the_report_says_so(tmp_path):
    controller, _ = make(members(1), tmp_path, regression="p95+10%")
    assert controller.run() == ExitCode.OK
    assert report(tmp_path)["baseline"] is None


def test_a_missing_baseline_is_exit_2_before_any_load(tmp_path, baseline_store):
    controller, fleet = make(members(2), tmp_path, store=baseline_store, baseline_run="run-9", regression="p95+10%")
    with pytest.raises(ReportUnreadable) as caught:
        controller.run()
    assert caught.value.exit_code == ExitCode.CONFIG
    assert str(caught.value).startswith(f"SALVO_BASELINE_RUN=run-9 {RESULTS}run-9/: no readable report")
    assert "report.json not found" in str(caught.value)
    assert not fleet.links  # refused before discovery: no load wasted
