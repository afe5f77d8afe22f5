"""report.html: one self-contained file built from report.json's dict (opens offline; no network at all).

Tables are rendered here; the charts are drawn in the browser by uPlot (MIT, vendored under
assets/ with its licence) from the series embedded as JSON. Template, script and styles are
package data in assets/.
"""

from __future__ import annotations

import html
import json
import math
from functools import cache
from importlib import resources
from string import Template

from salvo.controller.figures import utc
from salvo.controller.regression import Unit, format_change, format_value
from salvo.controller.report_data import MAX_EXECUTOR_SERIES
from salvo.controller.report_tables import (
    codes_table,
    count,
    criteria_table,
    errors_table,
    executors_table,
    labels_table,
    ms,
    per_second,
    regions_table,
    table,
    text,
)

ASSETS = "salvo.controller.assets"
UPLOT_VERSION = "1.6.32"


@cache
def asset(name: str) -> str:
    return resources.files(ASSETS).joinpath(name).read_text(encoding="utf-8")


def render_html(data: dict) -> str:
    """The whole page for one run's report.json dict."""
    verdict = str(data.get("verdict") or "fail")
    return Template(asset("report.html.template")).substitute(
        title=html.escape(f"Salvo run {data.get('run_id')}: {verdict.upper()}"),
        run_id=html.escape(str(data.get("run_id"))),
        verdict_class="pass" if verdict == "pass" else "fail",
        verdict=html.escape(verdict.upper()),
        status=html.escape(str(data.get("status"))),
        exit_code=html.escape(str(data.get("exit_code"))),
        overview=html.escape(overview(data)),
        reasons=reasons_list(data),
        security=security_banner(data),
        clocks=html.escape(str((data.get("clocks") or {}).get("line") or "")),
        metadata=metadata_table(data),
        labels=labels_table(data),
        executors=executors_table(data),
        regions=regions_section(data),
        region_chart=(REGION_CHART if data.get("regions") else "") + (ARRIVALS_CHART if data.get("arrivals") else ""),
        codes=codes_table(data),
        errors=errors_table(data),
        criteria=criteria_table(data),
        baseline=baseline_section(data),
        chart_data=_script_json(chart_data(data)),
        uplot_css=asset("uplot.min.css"),
        report_css=asset("report.css"),
        uplot_js=asset("uplot.iife.min.js"),
        report_js=asset("report.js"),
        uplot_version=UPLOT_VERSION,
    )


REGION_CHART = (
    "<figure><figcaption>Requests per second, per region</figcaption>"
    '<div class="chart" id="chart-regions"></div></figure>'
)


ARRIVALS_CHART = (
    "<figure><figcaption>Arrivals per second: planned, sent and dropped (open model)</figcaption>"
    '<div class="chart" id="chart-arrivals"></div></figure>'
)


def regions_section(data: dict) -> str:
    """The per-region table (report.json's `regions`); nothing when no executor named its region."""
    rows = regions_table(data)
    if not rows:
        return ""
    return (
        '<section id="regions-section"><h2>Per region</h2><p class="note">each region\'s summaries merged '
        "exactly, as the overall; rps over the region's own first to last request.</p>" + rows + "</section>"
    )


def security_banner(data: dict) -> str:
    """A red line at the top when the run's control links were open (SALVO_INSECURE=true)."""
    if not (data.get("security") or {}).get("insecure"):
        return ""
    return (
        '<p id="insecure" class="insecure">INSECURE run: SALVO_INSECURE=true, the control links were neither '
        "authenticated nor encrypted; anyone on the network could have commanded this fleet.</p>"
    )


def reasons_list(data: dict) -> str:
    reasons = data.get("verdict_reasons") or []
    notes = "".join(f'<p class="note verdict-note">{html.escape(str(n))}</p>' for n in data.get("verdict_notes") or [])
    if not reasons:
        return notes + '<p class="pass">No reason to fail: every executor counted, every criterion met.</p>'
    return (
        notes + '<ul id="reasons">' + "".join(f'<li class="fail">{html.escape(str(r))}</li>' for r in reasons) + "</ul>"
    )


def overview(data: dict) -> str:
    """One line under the title: how many executors and users, when, which scenario."""
    run = data.get("run") or {}
    users = run.get("users")
    parts = [f"{run.get('fleet_size', len(data.get('fleet') or []))} executor(s)"]
    if users is not None:
        parts.append(f"{count(users)} users")
    parts.append(f"start_at {utc_ms(data.get('start_at'))}")
    uri = (run.get("scenario") or {}).get("uri")
    if uri:
        parts.append(f"scenario {text(uri)}")
    return " · ".join(parts)


def metadata_table(data: dict) -> str:
    """What ran, where and when: scenario, fleet, load, start, versions."""
    run = data.get("run") or {}
    scenario = run.get("scenario") or {}
    versions = run.get("versions") or {}
    load = data.get("fleet_load") or {}
    fleet = data.get("fleet") or []
    first = data.get("first_requests") or {}
    duration = data.get("duration_s")
    rows = [
        ("run id", text(data.get("run_id"))),
        ("scenario", text(scenario.get("uri"))),
        ("scenario sha256", text(scenario.get("sha256"))),
        (
            "fleet",
            f"{run.get('fleet_size', len(fleet))} executor(s), {len(data.get('contributors') or [])} "
            f"contributing; lost: {text(data.get('lost')) if data.get('lost') else 'none'}; "
            f"missing results: {text(data.get('missing')) if data.get('missing') else 'none'}"
            + (f"; rejected results: {text(sorted(data['rejected']))}" if data.get("rejected") else ""),
        ),
        ("users", count(run.get("users"))),
    ]
    if data.get("dropped_live_messages"):
        rows.append(
            (
                "dropped live messages",
                f"{count(data.get('dropped_live_messages_total'))} malformed: "
                + ", ".join(f"{text(executor)} {count(n)}" for executor, n in data["dropped_live_messages"].items()),
            )
        )
    if load:
        rows += [("load mode", text(load.get("mode"))), ("fleet spawn rate", per_second(load.get("spawn_rate")))]
        if load.get("rate"):
            rows.append(("fleet arrival rate (/s)", text(load.get("rate"))))  # SALVO_FLEET_RATE's profile
        if load.get("data_rows") is not None:
            rows.append(("data rows", count(load.get("data_rows"))))
    rows += [
        ("start_at", utc_ms(data.get("start_at"))),
        ("first request", utc_ms(min(first.values())) if first else "-"),
        (
            "start skew",
            "-"
            if data.get("start_skew_ms") is None
            else f"{ms(data['start_skew_ms'])} ms (spread of the executors' first requests)",
        ),
        ("duration", "-" if duration is None else f"{duration:,.1f} s (first request to last response)"),
        ("salvo", f"controller {text(versions.get('controller'))}, executors {text(versions.get('executors'))}"),
        ("locust", text(versions.get("locust"))),
        ("bzt", text(versions.get("bzt"))),
    ]
    return table("metadata", ["", ""], rows)


def baseline_section(data: dict) -> str:
    """The comparison with SALVO_BASELINE_RUN (report.json's `baseline`); nothing when the run had none."""
    baseline = data.get("baseline")
    if not isinstance(baseline, dict):
        return ""
    metrics = list((baseline.get("overall") or {}).keys())
    headings = ["label"] + [f"{metric}: base \u2192 new (change)" for metric in metrics]
    rows = []
    for name, diff in [("OVERALL", baseline.get("overall") or {})] + list((baseline.get("labels") or {}).items()):
        cells = [name]
        for metric in metrics:
            values = diff.get(metric) or {}
            change = values.get("change")
            moved = format_change(change, Unit(values.get("unit", "%"))) if change is not None else "-"
            cells.append(
                f"{format_value(metric, values.get('base'))} \u2192 {format_value(metric, values.get('new'))} ({moved})"
            )
        rows.append(cells)
    thresholds = "".join(
        f'<li class="{"pass" if t.get("passed") else "fail"}">{html.escape(str(t.get("threshold")))}: '
        f"{'pass' if t.get('passed') else 'FAIL'}</li>"
        for t in baseline.get("thresholds") or []
    )
    where = html.escape(text(baseline.get("source") or baseline.get("run_id")))
    return (
        f'<section id="baseline"><h2>Against the baseline run {html.escape(text(baseline.get("run_id")))}</h2>'
        f'<p class="note">read from {where}; started {html.escape(utc(baseline.get("start_at")))}</p>'
        + table("baseline-diff", headings, rows)
        + (f"<ul>{thresholds}</ul>" if thresholds else "")
        + "</section>"
    )


def chart_data(data: dict) -> dict:
    """What the charts need, and no more: the merged series and, for a readable fleet, each executor's."""
    executors = data.get("executor_series") or {}
    shown = dict(list(executors.items())[:MAX_EXECUTOR_SERIES])
    hidden = len(executors) - len(shown) + int(data.get("executor_series_omitted") or 0)
    return {
        "start_at": data.get("start_at"),
        "series": data.get("series") or [],
        "executors": shown,
        "executors_hidden": hidden,
        "regions": data.get("region_series") or {},
        "arrivals": (data.get("arrivals") or {}).get("per_second"),
    }


def utc_ms(moment) -> str:
    """An epoch time as UTC to the millisecond: start_at and first requests are milliseconds apart."""
    if not isinstance(moment, (int, float)):
        return "-"
    whole = utc(math.floor(moment))
    return whole.replace(" UTC", f".{round((moment % 1) * 1000) % 1000:03d} UTC")


def _finite(value):
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_finite(v) for v in value]
    return value


def _script_json(value) -> str:
    """JSON safe inside <script>: no '</script>' can close it early, no NaN that JSON.parse refuses."""
    return json.dumps(_finite(value), separators=(",", ":")).replace("<", "\\u003c")
