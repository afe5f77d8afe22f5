"""The merged run's report: console table, report.json, junit.xml and a self-contained report.html."""

from __future__ import annotations

import json
import logging
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

from salvo.common.errors import ExitCode
from salvo.common.keys import KeyMode
from salvo.controller.compare import Comparison
from salvo.controller.criteria import CriterionResult
from salvo.controller.ledger import Ledger, Outcome
from salvo.controller.merge import ArrivalTotals, MergedRun
from salvo.controller.report_data import (
    MAX_EXECUTOR_SERIES,
    executor_entries,
    executor_series,
    region_rows,
    region_series,
    run_metadata,
    series_points,
)
from salvo.controller.report_html import render_html
from salvo.controller.verdict import Verdict

log = logging.getLogger(__name__)

COLUMNS = ("requests", "failures", "rps", "avg", "p50", "p90", "p95", "p99", "max")
OPEN_MODEL_COLUMNS = (*COLUMNS, "p99_intended")  # an open-model run: also p99 from the intended send time
HEADINGS = {"p99_intended": "p99_int"}  # a console column is 8 characters wide


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
    links: KeyMode | None = None  # how the control links were secured (None: not known, e.g. `salvo report`)
    clocks: dict | None = None  # salvo.controller.clocks.FleetClocks.report(): offsets measured and corrected

    @cached_property
    def regions(self) -> dict[str, MergedRun]:
        """Each region's counted summaries merged (the same summaries as the overall, grouped by region)."""
        return self.ledger.regions()

    @property
    def insecure(self) -> bool:
        return self.links is KeyMode.INSECURE

    def links_line(self) -> str:
        if self.links is None:
            return "control links: not recorded"
        if self.insecure:
            return "control links: INSECURE (SALVO_INSECURE=true: not authenticated, not encrypted)"
        return f"control links: authenticated and encrypted ({self.links.value} keys)"

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
    def dropped_live_messages(self) -> dict[str, int]:
        """Executor -> its status messages the controller dropped (malformed, or naming another executor)."""
        return dict(sorted(self.ledger.dropped.items()))

    @property
    def rejected(self) -> list[str]:
        return [m.executor_id for m in self.ledger.with_outcome(Outcome.REJECTED)]

    @property
    def partial(self) -> bool:
        return bool(self.lost or self.missing or self.failed or self.rejected) or self.verdict.exit_code in (
            ExitCode.SIGINT,
            ExitCode.SIGTERM,
        )

    # --- console -----------------------------------------------------------------------

    def console_table(self) -> str:
        rows = [("OVERALL", self.merged.overall())] + list(self.merged.label_rows().items())
        columns = OPEN_MODEL_COLUMNS if self.merged.totals.intended is not None else COLUMNS
        out = _grid("label", rows, columns)
        if self.regions:
            out += _grid(
                "region (executors)",
                [(f"{region} ({len(run.contributors)})", run.overall()) for region, run in self.regions.items()],
                COLUMNS,
            )
        skew = self.merged.start_skew_ms
        out.append(
            f"run {self.run_id}{' (PARTIAL)' if self.partial else ''}: {len(self.merged.contributors)} contributing "
            f"executor(s); start skew {'-' if skew is None else f'{skew:.1f} ms'}; "
            f"failed: {', '.join(self.failed) or 'none'}; lost: {', '.join(self.lost) or 'none'}; "
            f"missing results: {', '.join(self.missing) or 'none'}"
            + (f"; rejected results: {', '.join(self.rejected)}" if self.rejected else "")
        )
        if self.dropped_live_messages:
            out.append(
                f"dropped live messages: {sum(self.dropped_live_messages.values())} malformed ("
                + ", ".join(f"{k}: {n}" for k, n in self.dropped_live_messages.items())
                + ")"
            )
        if self.merged.arrivals is not None:
            out.append(_arrivals_line(self.merged.arrivals))
        for result in self.criteria:
            out.append(f"  criterion {result.description}")
        if self.baseline is not None:
            out.append(self.baseline.table())
        if self.clocks:
            out.append(self.clocks["line"])
        out.append(self.links_line())
        notes = "".join(f"; {note}" for note in self.verdict.notes)
        out.append(f"verdict: {self.verdict.word} (exit {int(self.verdict.exit_code)}){notes}")
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
            "verdict_notes": self.verdict.notes,
            "security": {"links": self.links.value if self.links else None, "insecure": self.insecure},
            "executors": self._executor_entries(),
            "clocks": self.clocks,
            "failed": self.failed,
            "start_at": self.start_at,
            "fleet": self.fleet,
            "fleet_load": self.fleet_load,
            "baseline": self.baseline.to_dict() if self.baseline is not None else None,
            "run": run_metadata(self.ledger, self.fleet, self.fleet_load),
            "contributors": merged.contributors,
            "lost": self.lost,
            "missing": self.missing,
            "rejected": {m.executor_id: m.reason for m in self.ledger.with_outcome(Outcome.REJECTED)},
            "dropped_live_messages": self.dropped_live_messages,
            "dropped_live_messages_total": sum(self.dropped_live_messages.values()),
            "start_skew_ms": merged.start_skew_ms,
            "duration_s": merged.duration_s,
            "first_requests": merged.first_requests,
            "overall": merged.overall(),
            "labels": merged.label_rows(),
            "per_executor": merged.per_executor,
            "codes": merged.totals.codes,
            "errors": merged.totals.errors,
            "criteria": [
                {
                    "criterion": r.criterion.text,
                    "label": r.criterion.label,
                    "metric": r.criterion.metric,
                    "op": r.criterion.op,
                    "threshold": r.criterion.threshold,
                    "value": r.value,
                    "passed": r.passed,
                }
                for r in self.criteria
            ],
            "series": series_points(merged),
            "arrivals": (
                {**merged.arrivals.row(), "per_second": merged.arrivals.columns()} if merged.arrivals else None
            ),
            "executor_series": executor_series(merged),
            "executor_series_omitted": max(0, len(merged.contributors) - MAX_EXECUTOR_SERIES),
            "regions": region_rows(self.regions),
            "region_series": region_series(self.regions),
        }

    def _executor_entries(self) -> dict:
        entries = executor_entries(self.ledger, self.start_at)
        for executor_id, clock in ((self.clocks or {}).get("executors") or {}).items():
            if executor_id in entries:
                entries[executor_id]["clock"] = clock
        return entries

    def junit_xml(self) -> str:
        data = self.to_dict()
        suite = ET.Element("testsuite", name=f"salvo {self.run_id}")
        properties = ET.SubElement(suite, "properties")
        ET.SubElement(properties, "property", name="salvo.links", value=self.links.value if self.links else "unknown")
        if self.clocks:
            ET.SubElement(properties, "property", name="salvo.clocks", value=self.clocks["line"])
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
        ET.SubElement(verdict, "system-out").text = "\n".join([*self.verdict.notes, self.links_line()])
        suite.set("tests", str(len(suite) - 1))  # the properties element is no test
        suite.set("failures", str(failures))
        return ET.tostring(suite, encoding="unicode", xml_declaration=True)

    def html(self) -> str:
        return render_html(self.to_dict())


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
            log.warning(
                "could not write the report to SALVO_REPORT_DIR=%s: %s (make it writable by this user)", report_dir, exc
            )
    for name, (text, content_type) in files.items():
        store.upload_bytes(text.encode(), location.child(name), content_type)
    log.info("report uploaded to %s", location)


def _grid(heading: str, rows: list[tuple[str, dict]], columns: tuple[str, ...]) -> list[str]:
    """A console table: one named row each, the figures of `columns`."""
    width = max(12, len(heading), *(len(name) for name, _ in rows))
    line = "+" + "-" * (width + 2) + ("+" + "-" * 10) * len(columns) + "+"
    out = [line, f"| {heading:<{width}} " + "".join(f"| {HEADINGS.get(c, c):>8} " for c in columns) + "|", line]
    for name, row in rows:
        out.append(f"| {name[:width]:<{width}} " + "".join(f"| {_cell(c, row.get(c)):>8} " for c in columns) + "|")
    out.append(line)
    return out


def _arrivals_line(arrivals: ArrivalTotals) -> str:
    """Open model: the arrivals planned, sent and dropped, and the seconds that fell short of their plan."""
    row = arrivals.row()
    short = [(t, cell) for t, cell in sorted(arrivals.seconds.items()) if cell[1] < cell[0]]
    seconds = ""
    if short:
        shown = ", ".join(f"{t}: {cell[1]}/{cell[0]}" for t, cell in short[:5])
        seconds = f"; short seconds (sent/planned): {shown}" + (f" and {len(short) - 5} more" if len(short) > 5 else "")
    return (
        f"arrivals: {row['planned']} planned, {row['sent']} sent, {row['dropped']} dropped "
        f"({row['dropped_rate'] * 100:.2f} %) over {len(arrivals.seconds)} s{seconds}"
    )


def _cell(column: str, value) -> str:
    if value is None:
        return "-"
    if column in ("requests", "failures"):
        return str(int(value))
    if column == "rps":
        return f"{value:.1f}"
    return f"{value:.1f}" if value < 1000 else f"{value:.0f}"
