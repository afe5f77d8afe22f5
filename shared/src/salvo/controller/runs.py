"""`salvo runs s3://bucket/results/`: the past runs under a results prefix, newest first, from their report.json.

The run folders are listed with a delimiter (paginated), each report.json is
looked at with one HEAD (the date it was written picks the newest runs), and
only the reports of the runs shown are read - a bounded number, whatever the
prefix holds - and shown by their start_at. A run without a report (still
running, or its controller died) is listed after those with one.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from salvo.common.errors import ConfigError
from salvo.common.layout import REPORT_FILES, WRITE_CHECKS
from salvo.common.s3 import S3Location, S3ReadError
from salvo.common.store import Store
from salvo.controller.figures import NotAReport, RunFigures, utc

DEFAULT_LIMIT = 20
CONCURRENCY = 16


class ResultsUnreadable(ConfigError):
    """The results prefix could not be listed. Check the s3:// URI and that the role may s3:ListBucket the bucket."""


@dataclass
class PastRun:
    run_id: str
    written: float | None  # when its report.json was written; None: no report
    figures: RunFigures | None = None
    problem: str | None = None

    def cells(self) -> tuple[str, ...]:
        f = self.figures
        if f is None:
            return (self.run_id, "-", "-", "-", "-", "-", self.problem or "no report")
        p95, errors = f.value(None, "p95"), f.value(None, "error_rate")
        verdict = (f.verdict or "?").upper() + ("" if f.exit_code in (None, 0, 1) else f" (exit {f.exit_code})")
        return (
            self.run_id,
            utc(f.start_at),
            "-" if f.fleet_size is None else str(f.fleet_size),
            "-" if f.requests is None else str(f.requests),
            "-" if p95 is None else f"{p95:.1f}",
            "-" if errors is None else f"{errors * 100:.2f}%",
            verdict + (" partial" if f.status == "partial" else ""),
        )


HEADINGS = ("run id", "date (start_at)", "fleet", "requests", "p95 ms", "errors", "verdict")


def list_runs(uri: str, store: Store, limit: int = DEFAULT_LIMIT) -> int:
    try:
        results = S3Location.parse(uri if uri.endswith("/") else uri + "/")
    except ValueError as exc:
        raise ConfigError(str(exc)) from None
    if limit < 1:
        raise ConfigError(f"--limit {limit}: expected at least 1")
    try:
        run_ids = [name for name in store.list_folders(results) if name and name != WRITE_CHECKS]
    except S3ReadError as exc:
        raise ResultsUnreadable(f"{results} cannot be listed: {exc}") from None
    if not run_ids:
        print(f"no runs under {results}")
        return 0
    with ThreadPoolExecutor(CONCURRENCY) as pool:
        runs = list(pool.map(lambda run_id: _dated(store, results, run_id), run_ids))
        runs.sort(key=lambda run: (run.written is not None, run.written or 0.0, run.run_id), reverse=True)
        shown = runs[:limit]
        list(pool.map(lambda run: _read(store, results, run), [run for run in shown if run.written is not None]))
    shown.sort(key=_newest_first, reverse=True)
    rows = [HEADINGS] + [run.cells() for run in shown]
    widths = [max(len(row[n]) for row in rows) for n in range(len(HEADINGS))]
    for row in rows:
        print(
            "  ".join(
                f"{cell:<{w}}" if n in (0, 1, 6) else f"{cell:>{w}}"
                for n, (cell, w) in enumerate(zip(row, widths, strict=True))
            ).rstrip()
        )
    if len(runs) > limit:
        print(f"{len(runs) - limit} older run(s) not shown (--limit {limit})")
    return 0


def _newest_first(run: PastRun) -> tuple:
    """Runs with a report by their start_at (else when the report was written), then those without."""
    started = run.figures.start_at if run.figures is not None else None
    return (run.written is not None, started if started is not None else run.written or 0.0, run.run_id)


def _report(results: S3Location, run_id: str) -> S3Location:
    return results.child(run_id + "/", REPORT_FILES[0])


def _dated(store: Store, results: S3Location, run_id: str) -> PastRun:
    try:
        return PastRun(run_id, store.last_modified(_report(results, run_id)))
    except S3ReadError as exc:
        return PastRun(run_id, None, problem=f"report unreadable: {exc}")


def _read(store: Store, results: S3Location, run: PastRun) -> None:
    try:
        run.figures = RunFigures.from_json(store.read_bytes(_report(results, run.run_id)))
    except (S3ReadError, NotAReport) as exc:
        run.problem = f"report unreadable: {exc}"
