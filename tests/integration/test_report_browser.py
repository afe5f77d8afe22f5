"""report.html in headless Chromium: charts drawn, tables filled, no console error, no network request.

.ci/run installs Debian's chromium so this never skips in CI; elsewhere it skips, saying why.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from salvo.controller.ledger import Ledger, Liveness, Member
from salvo.controller.merge import merge_summaries
from salvo.controller.report import Report
from salvo.controller.settings import LostExecutorPolicy
from salvo.controller.verdict import judge
from tests.support.chromium import BrowserError, Chromium, find_chromium
from tests.support.reports import START_AT, Shape, realistic_report

NO_CHROMIUM = "no chromium installed (apt-get install chromium, as .ci/run does; or set SALVO_TEST_CHROMIUM)"
pytestmark = [
    pytest.mark.integration,
    # .ci/run sets SALVO_TEST_REQUIRE_CHROMIUM: there a missing browser fails the test instead of skipping it
    pytest.mark.skipif(
        find_chromium() is None and not os.environ.get("SALVO_TEST_REQUIRE_CHROMIUM"), reason=NO_CHROMIUM
    ),
]

PAINTED_PIXELS = """Array.from(document.querySelectorAll('.uplot')).map(chart => {
  const canvas = chart.querySelector('canvas');
  const pixels = canvas.getContext('2d').getImageData(0, 0, canvas.width, canvas.height).data;
  let painted = 0;
  for (let i = 3; i < pixels.length; i += 4) if (pixels[i] !== 0) painted++;
  return {chart: chart.dataset.chart, width: canvas.width, height: canvas.height, painted: painted};
})"""


def rows(browser: Chromium, table_id: str) -> int:
    return browser.evaluate(f"document.querySelectorAll('#{table_id} tbody tr:not(.empty)').length")


@pytest.fixture(scope="module")
def browser():
    executable = find_chromium()
    if executable is None:
        pytest.fail(f"SALVO_TEST_REQUIRE_CHROMIUM is set but {NO_CHROMIUM}")
    with Chromium(executable) as chromium:
        yield chromium


def open_report(browser: Chromium, report: Report, tmp_path: Path) -> None:
    page = tmp_path / "report.html"
    page.write_text(report.html())
    browser.events.clear()
    browser.open(page)
    try:
        browser.wait_until("document.body.dataset.chartsDrawn !== undefined")
    except BrowserError as exc:
        pytest.fail(f"the charts script never finished: {exc}; console: {browser.console_problems()}")


def test_charts_and_tables_are_drawn_without_errors_or_network(browser, tmp_path):
    report = realistic_report(Shape(executors=5, seconds=60, lost=1), with_baseline=True)
    data = report.to_dict()
    open_report(browser, report, tmp_path)

    charts = browser.evaluate(PAINTED_PIXELS)
    assert [c["chart"] for c in charts] == ["chart-latency", "chart-throughput", "chart-executors"]
    for chart in charts:
        assert chart["width"] >= 320 and chart["height"] > 100, chart
        assert chart["painted"] > 2000, f"{chart['chart']} is (nearly) blank: {chart}"
    legends = browser.evaluate(
        "Array.from(document.querySelectorAll('.uplot')).map("
        "c => Array.from(c.querySelectorAll('.u-legend .u-label')).map(l => l.textContent))"
    )
    assert legends[0] == ["time (UTC)", "p50", "p95", "p99", "max"]
    assert legends[2][1:] == ["executor-00", "executor-01", "executor-02", "executor-03"]
    assert browser.evaluate("salvoCharts[0].scales.y.distr") == 3  # latency on a log scale

    assert rows(browser, "labels") == 1 + len(data["labels"])
    assert rows(browser, "executors") == 5
    assert rows(browser, "codes") == len(data["codes"]) and rows(browser, "errors") == len(data["errors"])
    assert rows(browser, "criteria") == len(data["criteria"])
    assert rows(browser, "baseline-diff") == 1 + len(data["labels"])
    assert browser.evaluate("document.getElementById('verdict').textContent") == "FAIL"
    badge = browser.evaluate(
        "(s => [s.color, s.backgroundColor])(getComputedStyle(document.getElementById('verdict')))"
    )
    assert badge[0] != badge[1], f"the verdict is unreadable: {badge}"

    assert browser.console_problems() == []
    assert browser.requested_urls() == [(tmp_path / "report.html").resolve().as_uri()]


def test_zooming_one_chart_zooms_them_all(browser, tmp_path):
    open_report(browser, realistic_report(Shape(executors=2, seconds=40, lost=0)), tmp_path)
    first = int(START_AT) + 10
    browser.evaluate(f"salvoCharts[1].setScale('x', {{min: {first}, max: {first + 5}}})")
    scales = browser.evaluate("salvoCharts.map(c => [c.scales.x.min, c.scales.x.max])")
    assert scales == [[first, first + 5]] * 3
    assert browser.console_problems() == []


def test_a_run_without_requests_says_so_instead_of_drawing(browser, tmp_path):
    ledger = Ledger()
    ledger.add(Member(host="h", executor_id="only", last_seen=0.0, liveness=Liveness.ENDED))
    ledger.settle({})
    verdict = judge(ledger, 0, [], LostExecutorPolicy.CONTINUE)
    open_report(
        browser,
        Report(run_id="empty", merged=merge_summaries([]), ledger=ledger, verdict=verdict, start_at=START_AT),
        tmp_path,
    )
    assert browser.evaluate("document.body.dataset.chartsDrawn") == "0"
    assert browser.evaluate("document.querySelectorAll('.no-data').length") == 3
    assert rows(browser, "executors") == 1
    assert browser.console_problems() == []


def test_regions_get_a_table_and_a_chart_of_their_own(browser, tmp_path):
    report = realistic_report(Shape(executors=5, seconds=30, lost=1, regions=("us-east-1", "eu-west-1")))
    data = report.to_dict()
    open_report(browser, report, tmp_path)
    charts = browser.evaluate(PAINTED_PIXELS)
    assert [c["chart"] for c in charts] == ["chart-latency", "chart-throughput", "chart-executors", "chart-regions"]
    assert charts[3]["painted"] > 2000, f"the region chart is (nearly) blank: {charts[3]}"
    legend = browser.evaluate(
        "Array.from(document.querySelectorAll('[data-chart=chart-regions] .u-legend .u-label')).map(l => l.textContent)"
    )
    assert legend == ["time (UTC)", "eu-west-1", "us-east-1"]
    assert rows(browser, "regions") == 2 and data["regions"]["us-east-1"]["executors"] == 2  # executor-04 was lost
    cells = browser.evaluate(
        "Array.from(document.querySelectorAll('#regions tbody tr:first-child td')).map(c => c.textContent)"
    )
    assert cells[:3] == ["eu-west-1", "-", "2"] and cells[4] == f"{data['regions']['eu-west-1']['requests']:,}"
    assert browser.console_problems() == []


def test_a_large_fleet_draws_24_executor_lines_and_says_so(browser, tmp_path):
    open_report(browser, realistic_report(Shape(executors=30, seconds=3, lost=0, rps_per_executor=5)), tmp_path)
    legend = browser.evaluate(
        "Array.from(document.querySelectorAll('[data-chart=chart-executors] .u-legend .u-label'))"
        ".map(l => l.textContent)"
    )
    assert len(legend) == 1 + 24
    assert "6 more executor(s) not drawn" in browser.evaluate("document.getElementById('chart-executors').textContent")
    assert rows(browser, "executors") == 30
    assert browser.console_problems() == []
