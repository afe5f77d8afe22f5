"""The diff of two runs, the report.json format it reads, and where BASE/NEW sources point."""

from __future__ import annotations

import json

import pytest

from salvo.common.errors import ExitCode
from salvo.common.s3 import S3Location
from salvo.controller.baseline import ReportUnreadable, baseline_source, read_run, report_location
from salvo.controller.compare import OPEN_MODEL_METRICS, TABLE_METRICS, compare
from salvo.controller.figures import NotAReport, RunFigures
from salvo.controller.regression import parse

BASE = RunFigures(
    "run-a",
    {"p50": 10.0, "p95": 100.0, "p99": 200.0, "rps": 50.0, "error_rate": 0.001},
    {
        "/login": {"p50": 5.0, "p95": 50.0, "p99": 90.0, "rps": 10.0, "error_rate": 0.0},
        "/gone": {"p50": 1.0, "p95": 2.0, "p99": 3.0, "rps": 1.0, "error_rate": 0.0},
    },
    start_at=1_800_000_000.0,
)
NEW = RunFigures(
    "run-b",
    {"p50": 11.0, "p95": 120.0, "p99": 190.0, "rps": 35.0, "error_rate": 0.008},
    {
        "/login": {"p50": 6.0, "p95": 70.0, "p99": 130.0, "rps": 9.0, "error_rate": 0.01},
        "/added": {"p50": 3.0, "p95": 4.0, "p99": 5.0, "rps": 2.0, "error_rate": 0.0},
    },
    start_at=1_800_086_400.0,
)


def row_of(table: str, label: str) -> list[str]:
    (line,) = [line for line in table.splitlines() if line.startswith(f"| {label} ")]
    return line.replace("|", " ").split()[1:]


def test_diff_per_label_with_relative_changes_and_percentage_points():
    comparison = compare(BASE, NEW, ())
    assert comparison.labels() == ["/added", "/gone", "/login"]
    overall = comparison.diff(None)
    assert overall["p95"] == {"base": 100.0, "new": 120.0, "change": pytest.approx(20.0), "unit": "%"}
    assert overall["rps"]["change"] == pytest.approx(-30.0)
    assert overall["error_rate"]["change"] == pytest.approx(0.7) and overall["error_rate"]["unit"] == "pp"
    table = comparison.table()
    assert table.splitlines()[0] == (
        "comparison: base run-a (2027-01-15 08:00:00 UTC) -> new run-b (2027-01-16 08:00:00 UTC)"
    )
    assert row_of(table, "OVERALL") == [
        "10.0",
        "11.0",
        "+10.0%",
        "100.0",
        "120.0",
        "+20.0%",
        "200.0",
        "190.0",
        "-5.0%",
        "50.0",
        "35.0",
        "-30.0%",
        "0.10%",
        "0.80%",
        "+0.70pp",
    ]
    assert row_of(table, "/gone")[:3] == ["1.0", "-", "-"]  # only in the baseline
    assert row_of(table, "/added")[:3] == ["-", "3.0", "-"]  # only in the new run


def test_regressions_are_listed_under_the_table_and_in_the_dict():
    comparison = compare(BASE, NEW, parse("p95+10%; p99+20%; label:/login:error_rate+0.5pp"), "s3://b/results/run-a/")
    assert [r.threshold.text for r in comparison.regressions] == ["p95+10%", "label:/login:error_rate+0.5pp"]
    assert "  regression p95+10%: FAIL (base 100.0 ms, new 120.0 ms, +20.0 %)" in comparison.table()
    data = comparison.to_dict()
    assert data["regressed"] is True and data["run_id"] == "run-a" and data["source"] == "s3://b/results/run-a/"
    assert [t["passed"] for t in data["thresholds"]] == [False, True, False]
    assert data["labels"]["/login"]["p99"]["change"] == pytest.approx(44.44, abs=0.01)


def test_dict_is_strict_json_even_for_a_change_from_zero():
    base = RunFigures("a", {"p95": 0.0, "rps": 0.0, "error_rate": 0.0})
    new = RunFigures("b", {"p95": 5.0, "rps": 3.0, "error_rate": 0.0})
    comparison = compare(base, new, parse("p95+10%"))
    assert not comparison.results[0].passed  # from 0 to 5 ms is beyond any relative limit
    data = json.loads(json.dumps(comparison.to_dict(), allow_nan=False))
    assert data["overall"]["p95"]["change"] is None and data["thresholds"][0]["change"] is None
    assert row_of(comparison.table(), "OVERALL")[3:6] == ["0.0", "5.0", "+inf%"]


def report_bytes(**extra) -> bytes:
    return json.dumps(
        {
            "schema": "salvo.report/1",
            "run_id": "run-x",
            "overall": {"requests": 5, "p95": 9.0},
            "labels": {},
            "fleet": ["a", "b"],
            "verdict": "pass",
            "exit_code": 0,
            **extra,
        }
    ).encode()


def test_figures_from_a_report():
    figures = RunFigures.from_json(report_bytes(start_at=1.5))
    assert (figures.run_id, figures.requests, figures.fleet_size, figures.verdict, figures.start_at) == (
        "run-x",
        5,
        2,
        "pass",
        1.5,
    )
    assert figures.value(None, "p95") == 9.0 and figures.value("/absent", "p95") is None


@pytest.mark.parametrize(
    ("raw", "why"),
    [
        (b"{not json", "not valid JSON"),
        (b"[]", "not a JSON object"),
        (json.dumps({"schema": "salvo.summary/1", "overall": {}, "labels": {}}).encode(), "'salvo.summary/1'"),
        (json.dumps({"schema": "salvo.report/1", "labels": {}}).encode(), "no overall and labels"),
    ],
)
def test_what_is_not_a_report(raw, why):
    with pytest.raises(NotAReport, match=why):
        RunFigures.from_json(raw)


def test_sources_name_a_report_json(tmp_path):
    assert report_location("s3://b-1/results/run-1/") == S3Location("b-1", "results/run-1/report.json")
    assert report_location("s3://b-1/results/run-1") == S3Location("b-1", "results/run-1/report.json")
    assert report_location("s3://b-1/results/run-1/report.json") == S3Location("b-1", "results/run-1/report.json")
    assert report_location(str(tmp_path)) == tmp_path / "report.json"
    assert report_location(str(tmp_path / "r.json")) == tmp_path / "r.json"
    assert baseline_source("run-0", S3Location("b-1", "results/")) == S3Location("b-1", "results/run-0/")
    assert baseline_source(S3Location("b-2", "old/run-0/"), S3Location("b-1", "results/")) == S3Location(
        "b-2", "old/run-0/"
    )


def no_s3():
    raise AssertionError("a local source must not touch S3")


def test_local_reports_are_read_and_bad_ones_are_exit_2_naming_them(tmp_path):
    (tmp_path / "report.json").write_bytes(report_bytes())
    assert read_run(str(tmp_path), no_s3, "BASE").run_id == "run-x"
    cases = {
        str(tmp_path / "absent"): "no such file",
        str(tmp_path / "empty-dir"): "no such file",
        str(tmp_path / "junk.json"): "is not a Salvo report.json: not valid JSON",
        "s3://Upper/run/": "bad bucket name 'Upper'",
    }
    (tmp_path / "empty-dir").mkdir()
    (tmp_path / "junk.json").write_text("junk")
    for source, why in cases.items():
        with pytest.raises(ReportUnreadable) as caught:
            read_run(source, no_s3, "NEW")
        assert caught.value.exit_code == ExitCode.CONFIG
        assert str(caught.value).startswith("NEW ") and source in str(caught.value) and why in str(caught.value)


# An open-model baseline (SALVO_FLEET_RATE): its report's overall row has the latencies from the intended send
# time and the arrivals, each label its intended latencies.
OPEN_BASE = RunFigures(
    "rate-a",
    {
        **BASE.overall,
        "p50_intended": 12.0,
        "p95_intended": 150.0,
        "p99_intended": 400.0,
        "planned": 1000,
        "sent": 999,
        "dropped": 1,
        "dropped_rate": 0.001,
    },
    {"/login": {**BASE.labels["/login"], "p50_intended": 6.0, "p95_intended": 60.0, "p99_intended": 100.0}},
)
OPEN_NEW = RunFigures(
    "rate-b",
    {
        **NEW.overall,  # service times barely moved ...
        "p50_intended": 13.0,
        "p95_intended": 900.0,  # ... while the requests were sent late: coordinated omission, corrected
        "p99_intended": 1400.0,
        "planned": 1000,
        "sent": 950,
        "dropped": 50,
        "dropped_rate": 0.05,
    },
    {"/login": {**NEW.labels["/login"], "p50_intended": 7.0, "p95_intended": 600.0, "p99_intended": 1000.0}},
)


def test_a_rate_mode_baseline_compares_the_corrected_percentiles_and_dropped_arrivals():
    comparison = compare(OPEN_BASE, OPEN_NEW, parse("p99+10%; p99_intended+50%; dropped+1pp"))
    overall = comparison.diff(None)
    assert list(overall) == ["p50", "p95", "p99", "rps", "error_rate", *OPEN_MODEL_METRICS]
    assert overall["p99_intended"] == {"base": 400.0, "new": 1400.0, "change": pytest.approx(250.0), "unit": "%"}
    assert overall["dropped_rate"]["change"] == pytest.approx(4.9) and overall["dropped_rate"]["unit"] == "pp"
    assert comparison.diff("/login")["p95_intended"]["change"] == pytest.approx(900.0)
    assert comparison.diff("/login")["dropped_rate"]["base"] is None  # arrivals are the fleet's, not a label's
    # the service-time threshold passes, the corrected one and the dropped share do not
    assert [r.passed for r in comparison.results] == [True, False, False]
    table = comparison.table()
    assert "p99 int ms" in table and "dropped" in table
    assert row_of(table, "OVERALL")[-6:] == ["400.0", "1400.0", "+250.0%", "0.10%", "5.00%", "+4.90pp"]
    assert "  regression dropped+1pp: FAIL (base 0.10 %, new 5.00 %, +4.90 pp)" in table
    data = json.loads(json.dumps(comparison.to_dict(), allow_nan=False))
    assert data["overall"]["p50_intended"]["change"] == pytest.approx(8.33, abs=0.01)
    assert data["labels"]["/login"]["p99_intended"]["new"] == 1000.0


def test_a_closed_model_baseline_compares_as_before():
    comparison = compare(BASE, OPEN_NEW, ())  # the new run in rate mode does not widen a closed baseline's diff
    assert list(comparison.diff(None)) == list(TABLE_METRICS)
    assert "int ms" not in comparison.table() and "dropped" not in comparison.table()
    assert not BASE.open_model and OPEN_BASE.open_model
    # a threshold on a figure the closed baseline lacks fails, saying so
    (result,) = compare(BASE, OPEN_NEW, parse("p99_intended+10%")).results
    assert not result.passed and result.description == "p99_intended+10%: FAIL (no data in the baseline)"
