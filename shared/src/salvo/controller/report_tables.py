"""The report.html tables, built from report.json's dict: labels, executors, codes, errors, criteria.

Every cell is escaped here; a figure the data does not have shows as "-".
"""

from __future__ import annotations

import html
from collections.abc import Iterable, Sequence

from salvo.controller.criteria import LATENCY_METRICS, RATE_METRICS

TOP_ERRORS = 20
LABEL_COLUMNS = ("requests", "failures", "error_rate", "rps", "avg", "p50", "p95", "p99", "max")
HEADINGS = {
    "error_rate": "error rate",
    "avg": "avg ms",
    "p50": "p50 ms",
    "p95": "p95 ms",
    "p99": "p99 ms",
    "max": "max ms",
    "p99_intended": "p99 from intended ms",
}
OPEN_MODEL_COLUMNS = (*LABEL_COLUMNS, "p99_intended")  # an open-model run's (docs/open-model.md)


# --- cells ----------------------------------------------------------------------------


def ms(value) -> str:
    if not _is_number(value):
        return "-"
    return f"{value:.2f}" if value < 10 else f"{value:.1f}" if value < 1000 else f"{value:,.0f}"


def rate(value) -> str:
    return "-" if not _is_number(value) else f"{value * 100:.2f}%"


def count(value) -> str:
    return "-" if not _is_number(value) else f"{int(value):,}"


def per_second(value) -> str:
    return "-" if not _is_number(value) else f"{value:,.1f}"


def offset_ms(value) -> str:
    return "-" if not _is_number(value) else f"{value:+,.1f} ms"


def text(value) -> str:
    if value is None or value == "":
        return "-"
    if isinstance(value, (list, tuple)):
        return ", ".join(str(v) for v in value)
    return str(value)


def metric_value(metric: str, value) -> str:
    """A criterion's or a stats row's figure in its metric's unit."""
    if metric in LATENCY_METRICS:
        return "-" if not _is_number(value) else f"{ms(value)} ms"
    if metric in RATE_METRICS:
        return rate(value)
    return per_second(value) if metric == "rps" else count(value)


def _is_number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


# --- tables -----------------------------------------------------------------------------


def table(
    table_id: str,
    headings: Sequence[str],
    rows: Iterable[Sequence[str]],
    *,
    raw_cells: bool = False,
    classes: Iterable[str] | None = None,
) -> str:
    """A <table>; cells are escaped unless raw_cells (then the caller escaped them)."""
    head = "".join(f"<th>{html.escape(h)}</th>" for h in headings)
    body = []
    row_classes = list(classes) if classes is not None else None
    for n, row in enumerate(rows):
        cells = "".join(f"<td>{cell if raw_cells else html.escape(cell)}</td>" for cell in row)
        css = f' class="{row_classes[n]}"' if row_classes and row_classes[n] else ""
        body.append(f"<tr{css}>{cells}</tr>")
    if not body:
        body.append(f'<tr class="empty"><td colspan="{len(headings)}">none</td></tr>')
    return (
        f'<div class="scroll"><table id="{table_id}"><thead><tr>{head}</tr></thead>'
        f"<tbody>{''.join(body)}</tbody></table></div>"
    )


def _stats_cells(row: dict, columns: Sequence[str] = LABEL_COLUMNS) -> list[str]:
    formats = {"requests": count, "failures": count, "error_rate": rate, "rps": per_second}
    return [formats.get(column, ms)(row.get(column)) for column in columns]


def regions_table(data: dict) -> str:
    """One row per region (report.json's `regions`): its executors and its merged figures; "" without regions."""
    regions: dict[str, dict] = data.get("regions") or {}
    if not regions:
        return ""
    weights = (data.get("fleet_load") or {}).get("region_weights") or {}
    users = {}
    for entry in (data.get("executors") or {}).values():
        share = entry.get("share") if isinstance(entry.get("share"), dict) else {}
        if entry.get("region") and _is_number(share.get("users")):
            users[entry["region"]] = users.get(entry["region"], 0) + share["users"]
    rows = [
        [region, text(weights.get(region)), count(row.get("executors")), count(users.get(region)), *_stats_cells(row)]
        for region, row in regions.items()
    ]
    return table(
        "regions", ["region", "weight", "executors", "users", *(HEADINGS.get(c, c) for c in LABEL_COLUMNS)], rows
    )


def labels_table(data: dict) -> str:
    overall = data.get("overall") or {}
    columns = OPEN_MODEL_COLUMNS if "p99_intended" in overall else LABEL_COLUMNS
    rows = [["OVERALL", *_stats_cells(overall, columns)]]
    rows += [[label, *_stats_cells(row, columns)] for label, row in (data.get("labels") or {}).items()]
    return table(
        "labels",
        ["label", *(HEADINGS.get(c, c) for c in columns)],
        rows,
        classes=["overall"] + [""] * (len(rows) - 1),
    )


SHARE_COLUMNS = (
    ("index", "share index", text),
    ("users", "users", count),
    ("spawn_rate", "spawn rate", per_second),
    ("rows", "data rows", count),
)


def executors_table(data: dict) -> str:
    """One row per started executor: its load, its start against start_at, its outcome, and its share if known."""
    executors: dict[str, dict] = data.get("executors") or {}
    stats: dict[str, dict] = data.get("per_executor") or {}
    with_share = any(isinstance(entry.get("share"), dict) for entry in executors.values())
    # the version column only when the executors differ (the run's metadata names the one version otherwise)
    with_version = len({entry.get("version") for entry in executors.values() if entry.get("version")}) > 1
    with_clock = any(isinstance(entry.get("clock"), dict) for entry in executors.values())
    with_region = any(entry.get("region") for entry in executors.values())
    headings = (
        ["executor"]
        + (["region"] if with_region else [])
        + ["host", "outcome", "requests", "rps", "p95 ms", "error rate", "start offset", "first request"]
        + (["clock offset", "+-"] if with_clock else [])
    )
    if with_share:
        headings += [heading for _, heading, _ in SHARE_COLUMNS]
    headings += ["version", "reason"] if with_version else ["reason"]
    rows, classes = [], []
    for executor_id, entry in executors.items():
        row = stats.get(executor_id) or {}
        cells = (
            [executor_id]
            + ([text(entry.get("region"))] if with_region else [])
            + [
                text(entry.get("host")),
                text(entry.get("outcome")),
                count(row.get("requests")),
                per_second(row.get("rps")),
                ms(row.get("p95")),
                rate(row.get("error_rate")),
                offset_ms(entry.get("start_offset_ms")),
                offset_ms(entry.get("first_request_offset_ms")),
            ]
        )
        if with_clock:
            clock = entry.get("clock") if isinstance(entry.get("clock"), dict) else {}
            cells += [offset_ms(clock.get("offset_ms")), offset_ms(clock.get("uncertainty_ms"))]
        if with_share:
            share = entry.get("share") if isinstance(entry.get("share"), dict) else {}
            cells += [fmt(share.get(key)) for key, _, fmt in SHARE_COLUMNS]
        cells += [text(entry.get("version"))] if with_version else []
        cells.append(text(entry.get("reason")))
        rows.append(cells)
        classes.append("" if entry.get("outcome") in (None, "finished") else "fail")
    return table("executors", headings, rows, classes=classes)


def codes_table(data: dict) -> str:
    codes: dict[str, int] = data.get("codes") or {}
    total = sum(codes.values()) or 1
    rows = [[code, count(n), rate(n / total)] for code, n in sorted(codes.items(), key=lambda kv: (-kv[1], kv[0]))]
    return table("codes", ["response code", "requests", "share"], rows)


def errors_table(data: dict) -> str:
    errors: dict[str, int] = data.get("errors") or {}
    total = sum(errors.values()) or 1
    ranked = sorted(errors.items(), key=lambda kv: (-kv[1], kv[0]))
    rows = [[message, count(n), rate(n / total)] for message, n in ranked[:TOP_ERRORS]]
    note = (
        (
            f'<p class="note">{len(ranked) - TOP_ERRORS} less frequent error message(s) not shown '
            "(all are in report.json).</p>"
        )
        if len(ranked) > TOP_ERRORS
        else ""
    )
    return table("errors", ["error", "count", "share of failures"], rows) + note


def criteria_table(data: dict) -> str:
    rows, classes = [], []
    for result in data.get("criteria") or []:
        metric = result.get("metric") or ""
        threshold = f"{result.get('op') or ''} {metric_value(metric, result.get('threshold'))}".strip()
        rows.append(
            [
                result.get("criterion") or "",
                result.get("label") or "(overall)",
                metric_value(metric, result.get("value")) if result.get("value") is not None else "no data",
                threshold,
                "pass" if result.get("passed") else "FAIL",
            ]
        )
        classes.append("pass" if result.get("passed") else "fail")
    return table("criteria", ["criterion", "label", "measured", "threshold", "result"], rows, classes=classes)
