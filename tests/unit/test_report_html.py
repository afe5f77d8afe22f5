"""report.json's added figures and report.html's content, without a browser.

tests/integration/test_report_browser.py draws it.
"""

from __future__ import annotations

import dataclasses
import json
import re
import tomllib
from pathlib import Path

import pytest

from salvo.common.summary_schema import Timings
from salvo.controller import report_html
from salvo.controller.ledger import Ledger, Liveness, Member
from salvo.controller.merge import merge_summaries
from salvo.controller.report import Report
from salvo.controller.report_data import MAX_EXECUTOR_SERIES, released_at
from salvo.controller.settings import LostExecutorPolicy
from salvo.controller.verdict import judge
from salvo.executor.results.toolversions import load_tool_versions
from tests.support.reports import LABELS, START_AT, Shape, realistic_report

ROOT = Path(__file__).resolve().parents[2]
ASSETS = ROOT / "shared/src/salvo/controller/assets"


@pytest.fixture(scope="module")
def report() -> Report:
    return realistic_report(Shape(executors=4, seconds=30, lost=1), with_baseline=True)


def tbody_rows(page: str, table_id: str) -> int:
    match = re.search(rf'<table id="{table_id}">.*?<tbody>(.*?)</tbody>', page, re.S)
    assert match, f"no table {table_id}"
    return match.group(1).count("<tr")


def test_report_json_keeps_its_fields_and_adds_the_report_figures(report):
    data = json.loads(json.dumps(report.to_dict(), allow_nan=False))
    for legacy in (
        "schema",
        "run_id",
        "status",
        "verdict",
        "exit_code",
        "verdict_reasons",
        "executors",
        "failed",
        "start_at",
        "fleet",
        "fleet_load",
        "baseline",
        "contributors",
        "lost",
        "missing",
        "start_skew_ms",
        "first_requests",
        "overall",
        "labels",
        "per_executor",
        "codes",
        "errors",
        "criteria",
        "series",
    ):
        assert legacy in data
    assert set(data["series"][0]) >= {"t", "requests", "failures", "p50", "p95", "p99", "max"}
    entry = data["executors"]["executor-00"]
    assert entry["outcome"] == "finished" and entry["share"]["index"] == 0 and entry["tools"]["locust"] == "2.47.0"
    assert 0 < entry["start_offset_ms"] < 5  # its gate released 0.8-4 ms after start_at
    assert (
        data["executors"]["executor-03"]["outcome"] == "lost"
        and data["executors"]["executor-03"]["start_offset_ms"] is None
    )
    assert data["run"]["scenario"]["sha256"].startswith("9f86d0") and data["run"]["fleet_size"] == 4
    assert data["run"]["users"] == 200 and data["run"]["versions"]["bzt"] == "1.17.2"
    assert data["duration_s"] == pytest.approx(30, abs=1.5)
    assert set(data["executor_series"]) == {"executor-00", "executor-01", "executor-02"}


def test_executor_series_sum_to_the_merged_series(report):
    data = report.to_dict()
    per_second = {point["t"]: point["requests"] for point in data["series"]}
    summed: dict[int, int] = {}
    for own in data["executor_series"].values():
        for second, requests in zip(own["t"], own["requests"], strict=True):
            summed[second] = summed.get(second, 0) + requests
    assert summed == per_second
    assert sum(per_second.values()) == data["overall"]["requests"]


def test_a_large_fleet_keeps_report_json_small_and_says_what_the_chart_leaves_out():
    report = realistic_report(Shape(executors=30, seconds=2, lost=0, rps_per_executor=5))
    data = report.to_dict()
    assert (
        len(data["executor_series"]) == MAX_EXECUTOR_SERIES
        and data["executor_series_omitted"] == 30 - MAX_EXECUTOR_SERIES
    )
    page = report.html()
    charts = json.loads(re.search(r'id="salvo-chart-data">(.*?)</script>', page, re.S).group(1))
    assert charts["executors_hidden"] == 6 and tbody_rows(page, "executors") == 30


def test_release_is_the_first_gate_else_the_launch():
    assert released_at(Timings(start_at=10, ended_at=20, gate_released=[12.5, 12.25], launched_at=3.0)) == 12.25
    assert released_at(Timings(start_at=10, ended_at=20, launched_at=3.0)) == 3.0
    assert released_at(Timings(start_at=10, ended_at=20)) is None
    assert released_at(None) is None


def test_the_page_is_self_contained(report):
    page = report.html()
    assert "<link" not in page and not re.search(r"""\b(src|href)\s*=\s*["']?(https?:)?//""", page)
    assert "@import" not in page and "url(http" not in page
    assert report_html.UPLOT_VERSION in page and "var uPlot=" in page
    chart_json = re.search(r'<script type="application/json" id="salvo-chart-data">(.*?)</script>', page, re.S)
    charts = json.loads(chart_json.group(1))
    assert len(charts["series"]) == len(report.merged.series) and len(charts["executors"]) == 3


def test_the_tables_have_a_row_per_label_executor_code_and_criterion(report):
    page = report.html()
    data = report.to_dict()
    assert tbody_rows(page, "labels") == 1 + len(data["labels"]) == 1 + len(LABELS) + 1  # + the user-error label
    assert tbody_rows(page, "executors") == 4
    assert tbody_rows(page, "codes") == len(data["codes"]) >= 2
    assert tbody_rows(page, "errors") == len(data["errors"]) >= 2
    assert tbody_rows(page, "criteria") == len(data["criteria"]) == 4
    assert tbody_rows(page, "baseline-diff") == 1 + len(data["labels"])
    assert "share index" in page and "spawn rate" in page and "load mode" in page


def test_cells_are_escaped():
    data = {
        "run_id": "<r>",
        "verdict": "fail",
        "labels": {"<img src=x>": {"requests": 1}},
        "errors": {"<script>alert(1)</script>": 3},
        "series": [{"t": 1, "note": "</script><b>"}],
    }
    page = report_html.render_html(data)
    assert "<img src=x>" not in page and "<script>alert(1)" not in page and "</script><b>" not in page


def test_no_baseline_renders_no_baseline_section(report):
    assert report_html.baseline_section({"baseline": None}) == ""
    assert report_html.baseline_section({}) == ""
    plain = realistic_report(Shape(executors=2, seconds=5, lost=0))
    assert 'id="baseline"' not in plain.html() and 'id="baseline"' in report.html()


def test_share_columns_only_when_executors_report_a_share():
    plain = realistic_report(Shape(executors=2, seconds=5, lost=0))
    for executor_id, counted in plain.ledger.counted.items():
        plain.ledger.counted[executor_id] = dataclasses.replace(counted, share=None)
    plain.fleet_load = None
    page = plain.html()
    assert "share index" not in page and "load mode" not in page and tbody_rows(page, "executors") == 2


def test_a_run_without_any_request_still_renders():
    ledger = Ledger()
    ledger.add(Member(host="h", executor_id="only", last_seen=0.0, liveness=Liveness.ENDED))
    ledger.settle({})
    merged = merge_summaries([])
    verdict = judge(ledger, 0, [], LostExecutorPolicy.CONTINUE)
    page = Report(run_id="empty", merged=merged, ledger=ledger, verdict=verdict, start_at=START_AT).html()
    assert tbody_rows(page, "labels") == 1 and tbody_rows(page, "executors") == 1
    assert "no load ran" in page


def test_the_assets_ship_as_package_data():
    config = tomllib.loads((ROOT / "shared/pyproject.toml").read_text())
    patterns = config["tool"]["setuptools"]["package-data"]["salvo.controller"]
    assert patterns == ["assets/*"]
    names = {path.name for path in ASSETS.iterdir()}
    assert {
        "report.html.template",
        "report.js",
        "report.css",
        "uplot.iife.min.js",
        "uplot.min.css",
        "uplot.LICENSE",
    } <= names
    assert "MIT License" in (ASSETS / "uplot.LICENSE").read_text()
    assert f"(v{report_html.UPLOT_VERSION})" in (ASSETS / "uplot.iife.min.js").read_text()[:200]


def test_executor_summaries_name_the_load_tools():
    versions = load_tool_versions()
    assert set(versions) == {"locust", "bzt"}
    assert all(v is None or re.match(r"\d+\.\d+", v) for v in versions.values())
