"""The merged run's report: console table, report.json, junit.xml and a self-contained report.html."""

from __future__ import annotations

import html
import json
import logging
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from pathlib import Path

from salvo.common.errors import ExitCode
from salvo.controller.compare import Comparison
from salvo.controller.criteria import CriterionResult
from salvo.controller.ledger import Ledger, Outcome
from salvo.controller.merge import MergedRun
from salvo.controller.verdict import Verdict

log = logging.getLogger(__name__)

COLUMNS = ("requests", "failures", "rps", "avg", "p50", "p90", "p95", "p99", "max")


@dataclass
class Report:
    run_id: str
    merged: MergedRun
    ledger: Ledger
    verdict: Verdict
    criteria: list[CriterionResult] = field(default_factory=list)
    start_at: float | None = None
    fleet: list[str] = field(default_factory=list)
    fleet_load: dict | None = None  # the fleet's load totals (salvo.controller.sharing.fleet_load_report)
    baseline: Comparison | None = None  # against SALVO_BASELINE_RUN

    @property
    def passed(self) -> bool:
        return self.verdict.passed

    @property
    def lost(self) -> list[str]:
        return [m.executor_id for m in self.ledger.with_outcome(Outcome.LOST)]

    @property
    def missing(self) -> list[str]:
        return [m.executor_id for m in self.ledger.with_outcome(Outcome.MISSING)]

    @property
    def failed(self) -> list[str]:
        return [m.executor_id for m in self.ledger.with_outcome(Outcome.FAILED)]

    @property
    def partial(self) -> bool:
        return bool(self.lost or self.missing or self.failed) or self.verdict.exit_code in (
            ExitCode.SIGINT, ExitCode.SIGTERM)

    # --- console -----------------------------------------------------------------------

    def console_table(self) -> str:
        rows = [("OVERALL", self.merged.overall())] + list(self.merged.label_rows().items())
        width = max(12, *(len(label) for label, _ in rows))
        line = "+" + "-" * (width + 2) + ("+" + "-" * 10) * len(COLUMNS) + "+"
        out = [line, f"| {'label':<{width}} " + "".join(f"| {c:>8} " for c in COLUMNS) + "|", line]
        for label, row in rows:
            out.append(f"| {label[:width]:<{width}} " + "".join(f"| {_cell(c, row.get(c)):>8} " for c in COLUMNS) + "|")
        out.append(line)
        skew = self.merged.start_skew_ms
        out.append(
            f"run {self.run_id}{' (PARTIAL)' if self.partial else ''}: {len(self.merged.contributors)} contributing "
            f"executor(s); start skew {'-' if skew is None else f'{skew:.1f} ms'}; "
            f"failed: {', '.join(self.failed) or 'none'}; lost: {', '.join(self.lost) or 'none'}; "
            f"missing results: {', '.join(self.missing) or 'none'}"
        )
        for result in self.criteria:
            out.append(f"  criterion {result.description}")
        if self.baseline is not None:
            out.append(self.baseline.table())
        out.append(f"verdict: {self.verdict.word} (exit {int(self.verdict.exit_code)})")
        out += [f"  because {reason}" for reason in self.verdict.reasons]
        return "\n".join(out)

    # --- files -------------------------------------------------------------------------

    def to_dict(self) -> dict:
        merged = self.merged
        return {
            "schema": "salvo.report/1",
            "run_id": self.run_id,
            "status": "partial" if self.partial else "complete",
            "verdict": "pass" if self.passed else "fail",
            "exit_code": int(self.verdict.exit_code),
            "verdict_reasons": self.verdict.reasons,
            "executors": {
                m.executor_id: {"host": m.host, "outcome": m.outcome.value if m.outcome else None, "reason": m.reason,
                                "share": self._share(m.executor_id)}
                for m in sorted(self.ledger.members.values(), key=lambda m: m.executor_id)
            },
            "failed": self.failed,
            "start_at": self.start_at,
            "fleet": self.fleet,
            "fleet_load": self.fleet_load,
            "baseline": self.baseline.to_dict() if self.baseline is not None else None,
            "contributors": merged.contributors,
            "lost": self.lost,
            "missing": self.missing,
            "start_skew_ms": merged.start_skew_ms,
            "first_requests": merged.first_requests,
            "overall": merged.overall(),
            "labels": merged.label_rows(),
            "per_executor": merged.per_executor,
            "codes": merged.totals.codes,
            "errors": merged.totals.errors,
            "criteria": [
                {"criterion": r.criterion.text, "label": r.criterion.label, "metric": r.criterion.metric,
                 "threshold": r.criterion.threshold, "value": r.value, "passed": r.passed}
                for r in self.criteria
            ],
            "series": [
                {
                    "t": t,
                    "requests": tally.requests,
                    "failures": tally.failures,
                    **{f"p{p:g}": tally.histogram.percentile_ms(p) for p in (50.0, 95.0, 99.0)},
                }
                for t, tally in merged.series.items()
            ],
        }

    def _share(self, executor_id: str) -> dict | None:
        """What the executor ran: its index, users, spawn rate and data rows (from its summary)."""
        summary = self.ledger.summaries.get(executor_id)
        return summary.get("share") if summary else None

    def junit_xml(self) -> str:
        data = self.to_dict()
        suite = ET.Element("testsuite", name=f"salvo {self.run_id}")
        failures = 0
        for result in self.criteria:
            case = ET.SubElement(suite, "testcase", classname="salvo.criteria", name=result.criterion.text)
            if not result.passed:
                failures += 1
                ET.SubElement(case, "failure", message=result.description).text = result.description
        for label, row in data["labels"].items():
            case = ET.SubElement(suite, "testcase", classname="salvo.labels", name=label)
            failed = [r for r in self.criteria if r.criterion.label == label and not r.passed]
            if failed:
                failures += 1
                ET.SubElement(case, "failure", message="; ".join(r.description for r in failed))
            ET.SubElement(case, "system-out").text = json.dumps(row)
        verdict = ET.SubElement(suite, "testcase", classname="salvo.run", name="verdict")
        if not self.verdict.passed:
            failures += 1
            message = "; ".join(self.verdict.reasons) or "FAIL"
            ET.SubElement(verdict, "failure", message=message).text = message
        suite.set("tests", str(len(suite)))
        suite.set("failures", str(failures))
        return ET.tostring(suite, encoding="unicode", xml_declaration=True)

    def html(self) -> str:
        data = self.to_dict()
        series = data["series"]
        times = [point["t"] - series[0]["t"] for point in series] if series else []
        charts = [
            _svg_chart("Requests per second", times, {"rps": [p["requests"] for p in series]}),
            _svg_chart("Latency (ms)", times, {f"p{p}": [s[f"p{p}"] for s in series] for p in (50, 95, 99)}),
            _svg_chart("Failures per second", times, {"failures": [p["failures"] for p in series]}),
            _svg_bars("Requests per executor", {k: v["requests"] for k, v in data["per_executor"].items()}),
        ]
        rows = [("OVERALL", data["overall"])] + list(data["labels"].items())
        table = "".join(
            "<tr><td>" + html.escape(label) + "</td>" + "".join(f"<td>{_cell(c, row.get(c))}</td>" for c in COLUMNS) + "</tr>"
            for label, row in rows
        )
        criteria = "".join(
            f"<li class={'pass' if r['passed'] else 'fail'}>{html.escape(r['criterion'])}: "
            f"{'pass' if r['passed'] else 'FAIL'} (measured {r['value'] if r['value'] is not None else 'no data'})</li>"
            for r in data["criteria"]
        )
        skew = data["start_skew_ms"]
        return _HTML.format(
            run_id=html.escape(self.run_id),
            status=data["status"],
            verdict=data["verdict"].upper(),
            contributors=len(data["contributors"]),
            lost=html.escape(", ".join(self.lost) or "none"),
            missing=html.escape(", ".join(self.missing) or "none"),
            failed=html.escape(", ".join(self.failed) or "none"),
            reasons="".join(f"<li class=fail>{html.escape(r)}</li>" for r in self.verdict.reasons),
            skew="-" if skew is None else f"{skew:.1f} ms",
            header="".join(f"<th>{c}</th>" for c in COLUMNS),
            table=table,
            criteria=criteria or "<li>none</li>",
            charts="".join(charts),
        )


def publish_report(report: Report, store, location, report_dir: Path | None) -> None:
    """report.json, junit.xml and report.html to S3 (and a local folder if given)."""
    files = {
        "report.json": (json.dumps(report.to_dict(), indent=1), "application/json"),
        "junit.xml": (report.junit_xml(), "application/xml"),
        "report.html": (report.html(), "text/html"),
    }
    if report_dir is not None:
        try:
            report_dir.mkdir(parents=True, exist_ok=True)
            for name, (text, _) in files.items():
                (report_dir / name).write_text(text)
            log.info("report written to %s", report_dir)
        except OSError as exc:  # the S3 copy below still happens: nothing is lost
            log.warning("could not write the report to SALVO_REPORT_DIR=%s: %s (make it writable by this user)", report_dir, exc)
    for name, (text, content_type) in files.items():
        store.upload_bytes(text.encode(), location.child(name), content_type)
    log.info("report uploaded to %s", location)


def _cell(column: str, value) -> str:
    if value is None:
        return "-"
    if column in ("requests", "failures"):
        return str(int(value))
    if column == "rps":
        return f"{value:.1f}"
    return f"{value:.1f}" if value < 1000 else f"{value:.0f}"


_COLOURS = ["#2563eb", "#16a34a", "#dc2626", "#9333ea", "#ea580c"]


def _svg_chart(title: str, xs: list[float], lines: dict[str, list]) -> str:
    width, height, pad = 640, 220, 40
    values = [v for points in lines.values() for v in points if v is not None]
    if not xs or not values:
        return f"<figure><figcaption>{html.escape(title)}</figcaption><p>no data</p></figure>"
    top = max(values) or 1
    span = max(xs[-1], 1)
    paths, legend = [], []
    for n, (name, points) in enumerate(lines.items()):
        coords = [
            f"{pad + x / span * (width - 2 * pad):.1f},{height - pad - (v / top) * (height - 2 * pad):.1f}"
            for x, v in zip(xs, points) if v is not None
        ]
        colour = _COLOURS[n % len(_COLOURS)]
        paths.append(f'<polyline fill="none" stroke="{colour}" stroke-width="2" points="{" ".join(coords)}"/>')
        legend.append(f'<text x="{pad + 70 * n}" y="14" fill="{colour}">{html.escape(name)}</text>')
    axes = (
        f'<line x1="{pad}" y1="{height - pad}" x2="{width - pad}" y2="{height - pad}" stroke="#888"/>'
        f'<line x1="{pad}" y1="{pad}" x2="{pad}" y2="{height - pad}" stroke="#888"/>'
        f'<text x="2" y="{pad}" font-size="10">{top:.4g}</text><text x="{width - pad}" y="{height - 8}" '
        f'font-size="10">{span:.0f}s</text>'
    )
    return (f'<figure><figcaption>{html.escape(title)}</figcaption><svg width="{width}" height="{height}" '
            f'xmlns="http://www.w3.org/2000/svg">{axes}{"".join(legend)}{"".join(paths)}</svg></figure>')


def _svg_bars(title: str, bars: dict[str, float]) -> str:
    if not bars:
        return f"<figure><figcaption>{html.escape(title)}</figcaption><p>no data</p></figure>"
    width, row = 640, 22
    top = max(bars.values()) or 1
    items = "".join(
        f'<text x="0" y="{n * row + 15}" font-size="12">{html.escape(name[:24])}</text>'
        f'<rect x="200" y="{n * row + 3}" height="16" width="{(value / top) * (width - 280):.1f}" fill="#2563eb"/>'
        f'<text x="{205 + (value / top) * (width - 280):.1f}" y="{n * row + 15}" font-size="12">{value:g}</text>'
        for n, (name, value) in enumerate(sorted(bars.items()))
    )
    return (f'<figure><figcaption>{html.escape(title)}</figcaption><svg width="{width}" height="{row * len(bars) + 6}" '
            f'xmlns="http://www.w3.org/2000/svg">{items}</svg></figure>')


_HTML = """<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>Salvo run {run_id}</title>
<style>body{{font-family:system-ui,sans-serif;margin:2em;color:#222}} table{{border-collapse:collapse}}
td,th{{border:1px solid #ccc;padding:4px 8px;text-align:right}} td:first-child{{text-align:left}}
.pass{{color:#16a34a}} .fail{{color:#dc2626}} figure{{margin:1.5em 0}} figcaption{{font-weight:bold}}</style></head>
<body><h1>Salvo run {run_id}</h1>
<p>Status: <b>{status}</b> &middot; verdict: <b>{verdict}</b> &middot; {contributors} contributing executor(s)
&middot; start skew {skew} &middot; failed: {failed} &middot; lost: {lost} &middot; missing results: {missing}</p>
<ul>{reasons}</ul>
<table><tr><th>label</th>{header}</tr>{table}</table>
<h2>Criteria</h2><ul>{criteria}</ul>
<h2>Over time</h2>{charts}
</body></html>
"""
