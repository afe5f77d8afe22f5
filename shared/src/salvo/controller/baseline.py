"""Where a past run's report.json is, and reading it: an S3 run prefix or object, a local file or folder.

    s3://bucket/results/RUN_ID/            the run's report.json (the trailing "/" may be left out)
    s3://bucket/results/RUN_ID/report.json the object itself
    reports/  or  reports/report.json      a local copy (SALVO_REPORT_DIR)

SALVO_BASELINE_RUN names a run id under the controller's SALVO_RESULTS_URI, or a full s3:// run prefix.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from salvo.common.errors import ConfigError
from salvo.common.layout import REPORT_FILES, run_location
from salvo.common.s3 import S3Location, S3ReadError
from salvo.common.store import Store
from salvo.controller.figures import NotAReport, RunFigures

REPORT = REPORT_FILES[0]
_RUN_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._\-]{0,127}")


class ReportUnreadable(ConfigError):
    """A run's report.json could not be read or is not a Salvo report.

    Check the run id, s3:// URI or path named in the message, that the run finished
    with a report, and that the role may s3:GetObject it.
    """


@dataclass(frozen=True)
class Baseline:
    figures: RunFigures
    source: str  # where its report was read


def check_baseline_run(value: str | S3Location) -> str | S3Location:
    """The SALVO_BASELINE_RUN validator: a run id, or an s3:// run prefix as its S3Location (ValueError otherwise)."""
    if isinstance(value, S3Location):
        return value
    if not isinstance(value, str):
        raise ValueError("expected a run id or an s3:// run prefix")
    if value.startswith("s3://"):
        return S3Location.parse(value)
    if not _RUN_ID.fullmatch(value):
        raise ValueError(
            "expected a run id under SALVO_RESULTS_URI (letters, digits, '.', '_' or '-') "
            "or an s3:// run prefix such as s3://bucket/results/run-1/"
        )
    return value


def baseline_source(baseline_run: str | S3Location, results: S3Location) -> S3Location:
    """SALVO_BASELINE_RUN as a source for `read_run`: a bare run id lives under SALVO_RESULTS_URI."""
    return baseline_run if isinstance(baseline_run, S3Location) else run_location(results, baseline_run)


def report_location(source: str | S3Location) -> S3Location | Path:
    """The report.json a source names; ValueError for a malformed s3:// URI."""
    if isinstance(source, str) and source.startswith("s3://"):
        source = S3Location.parse(source)  # `salvo compare`'s arguments are parsed here, once
    if isinstance(source, S3Location):
        if source.key.endswith(".json"):
            return source
        return S3Location(source.bucket, source.key.rstrip("/") + "/" if source.key else "").child(REPORT)
    path = Path(source)
    return path / REPORT if path.is_dir() else path


def read_run(source: str | S3Location, store_factory: Callable[[], Store], role: str) -> RunFigures:
    """The figures of the run `source` names; ReportUnreadable naming `role` (e.g. BASE) and where it looked."""
    try:
        location = report_location(source)
    except ValueError as exc:
        raise ReportUnreadable(f"{role} {source!r}: {exc}") from None
    try:
        raw = store_factory().read_bytes(location) if isinstance(location, S3Location) else location.read_bytes()
    except S3ReadError as exc:
        raise ReportUnreadable(f"{role} {source}: no readable report: {exc}") from None
    except FileNotFoundError:
        raise ReportUnreadable(f"{role} {source}: no such file {location}") from None
    except OSError as exc:
        raise ReportUnreadable(f"{role} {source}: cannot read {location}: {exc.strerror or exc}") from None
    try:
        return RunFigures.from_json(raw)
    except NotAReport as exc:
        raise ReportUnreadable(f"{role} {source}: {location} is not a Salvo report.json: {exc}") from None
