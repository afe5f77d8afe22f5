"""bzt's final-stats files (dump-xml, dump-csv) rewritten from Salvo's own count of a gated locust run.

In a gated locust run bzt reads one request: Salvo's recorder keeps bzt's
per-request kpi.jtl writer out of locust's hot path
(`salvo.executor.tool.locust_recorder`), so the final-stats files bzt writes at the
end say "1 sample". The ones the scenario's reporting asks for (AWS DLT's
results.xml, which DLT's results parser reads) are written again after the run
from the run's summary, in bzt's format: FinalStatus, TestDuration, one Group a
label and the all-labels Group "", each with throughput (count), concurrency,
succ, fail, avg_rt, stdev_rt, avg_lt, avg_ct (locust measures neither: 0, as
bzt writes for locust), bytes, rc per code and perc at bzt's levels, times in
seconds. JMeter runs keep bzt's own files: bzt reads their every request.
"""

from __future__ import annotations

import csv
import xml.etree.ElementTree as ElementTree
from pathlib import Path

from salvo.common.summary import Tally
from salvo.executor.results.aggregate import SummaryBuilder
from salvo.executor.scenario.reportfiles import ReportOutput

__all__ = ["PERCENTILES", "write_final_stats"]

PERCENTILES = (0.0, 50.0, 90.0, 95.0, 99.0, 99.9, 100.0)  # bzt's final-stats levels


def write_final_stats(
    outputs: list[ReportOutput], artifacts_dir: Path, run: SummaryBuilder, concurrency: int
) -> list[Path]:
    """Write every final-stats output of `outputs` (in `artifacts_dir`) from `run`; the files written."""
    groups = {label: _kpis(tally, concurrency) for label, tally in sorted(run.labels.items())}
    groups[""] = _kpis(run.totals, concurrency)
    written = []
    for output in outputs:
        if output.module != "final-stats":
            continue
        path = output.path(artifacts_dir)
        if output.key == "dump-xml":
            _write_xml(path, groups, run)
        elif output.key == "dump-csv":
            _write_csv(path, groups)
        else:
            continue
        written.append(path)
    return written


def _kpis(tally: Tally, concurrency: int) -> dict[str, int | float | dict[str, int | float]]:
    """One Group's KPIs in bzt's order; rc and perc are keyed by their param."""
    histogram = tally.histogram
    percentiles = histogram.percentiles_ms(list(PERCENTILES))
    failed = tally.failed_requests
    return {
        "throughput": tally.requests,
        "concurrency": concurrency,
        "succ": tally.requests - failed,
        "fail": failed,
        "avg_rt": (tally.mean_ms or 0.0) / 1000,
        "stdev_rt": (histogram.stdev_ms or 0.0) / 1000,
        "avg_lt": 0.0,
        "avg_ct": 0.0,
        "bytes": tally.bytes,
        "rc": dict(sorted(tally.codes.items())),
        "perc": {str(level): (value or 0.0) / 1000 for level, value in percentiles.items()},
    }


def _text(value: int | float | str) -> str:
    """bzt's rendering of a KPI value."""
    if isinstance(value, float):
        return f"{value:.5f}"
    return str(value)


def _write_xml(path: Path, groups: dict[str, dict], run: SummaryBuilder) -> None:
    root = ElementTree.Element("FinalStatus")
    if run.first_request is not None and run.last_request is not None:
        ElementTree.SubElement(root, "TestDuration").text = str(round(run.last_request - run.first_request, 3))
    for label, kpis in groups.items():
        group = ElementTree.SubElement(root, "Group", label=label)
        for name, value in kpis.items():
            params = value.items() if isinstance(value, dict) else [(None, value)]
            for param, item in params:
                element = ElementTree.SubElement(group, name, value=_text(item))
                if param is not None:
                    element.set("param", param)
                ElementTree.SubElement(element, "name").text = name if param is None else f"{name}/{param}"
                ElementTree.SubElement(element, "value").text = _text(item)
    tree = ElementTree.ElementTree(root)
    ElementTree.indent(tree)
    path.parent.mkdir(parents=True, exist_ok=True)
    tree.write(path, encoding="UTF-8", xml_declaration=True)


def _write_csv(path: Path, groups: dict[str, dict]) -> None:
    def row(label: str, kpis: dict) -> dict[str, str]:
        flat = {"label": label}
        flat.update({key: _text(kpis[key]) for key in sorted(kpis) if key not in ("rc", "perc")})
        flat.update({f"perc_{level}": _text(value) for level, value in kpis["perc"].items()})
        flat.update({f"rc_{code}": _text(count) for code, count in kpis["rc"].items()})
        return flat

    rows = [row(label, kpis) for label, kpis in groups.items()]
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", newline="") as handle:
        writer = csv.DictWriter(handle, list(rows[-1]), extrasaction="ignore")  # the "" group has every code
        writer.writeheader()
        writer.writerows(rows)
