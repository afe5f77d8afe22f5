"""Before any discovery: the run id is new (or explicitly reused), the reports can be written, the baseline is there."""

from __future__ import annotations

import logging

from salvo.common.errors import ConfigError, UploadError
from salvo.common.layout import REPORT_FILES, run_location, write_check_location
from salvo.common.s3 import S3ReadError
from salvo.common.store import Store
from salvo.controller.baseline import Baseline, baseline_source, read_run
from salvo.controller.settings import ControllerSettings, RunIdReuse

log = logging.getLogger(__name__)


class RunIdTaken(ConfigError):
    """SALVO_RUN_ID names a run that already has a report. Choose a new run id, or set SALVO_RUN_ID_REUSE=overwrite."""


class ReportNotWritable(ConfigError):
    """The controller may not write under SALVO_RESULTS_URI. Check the URI and the role's s3:PutObject there."""


def check_results_destination(store: Store, settings: ControllerSettings, run_id: str) -> None:
    """Refuse a run id that has a report, and prove the report can be written - before any load."""
    uri = settings.results_uri
    report = run_location(uri, run_id).child(REPORT_FILES[0])
    try:
        taken = store.exists(report)
    except S3ReadError as exc:
        raise ReportNotWritable(f"SALVO_RESULTS_URI={uri} cannot be read: {exc}") from None
    if taken:
        if settings.run_id_reuse is RunIdReuse.REFUSE:
            raise RunIdTaken(
                f"SALVO_RUN_ID={run_id} already has a report at {report}: choose another run id "
                "or set SALVO_RUN_ID_REUSE=overwrite"
            )
        log.warning("SALVO_RUN_ID_REUSE=overwrite: replacing the report of run %s", run_id)
    try:
        store.upload_bytes(b"{}", write_check_location(uri, f"controller-{run_id}"), "application/json")
    except UploadError as exc:
        raise ReportNotWritable(
            f"SALVO_RESULTS_URI={uri} is not writable (bucket {uri.bucket!r}, prefix {uri.key!r}): {exc}"
        ) from None


def read_baseline(store: Store, settings: ControllerSettings) -> Baseline | None:
    """SALVO_BASELINE_RUN's report, read before any load: a missing one is exit 2 now, not after the run."""
    if settings.baseline_run is None:
        if settings.regression:
            log.warning("SALVO_REGRESSION is set but SALVO_BASELINE_RUN is not: no comparison is made")
        return None
    source = baseline_source(settings.baseline_run, settings.results_uri)
    figures = read_run(source, lambda: store, f"SALVO_BASELINE_RUN={settings.baseline_run}")
    if figures.verdict != "pass":
        log.warning("the baseline run %s did not pass its own verdict (%s)", figures.run_id, figures.verdict)
    log.info("baseline: run %s (%s), %s request(s)", figures.run_id, source, figures.requests)
    return Baseline(figures, str(source))
