"""Before any discovery: the run id is new (or explicitly reused) and the reports can be written."""

from __future__ import annotations

import logging

from salvo.common.errors import ConfigError, UploadError
from salvo.common.layout import REPORT_FILES, run_location, write_check_location
from salvo.common.s3 import S3Location, S3ReadError, S3Store
from salvo.controller.settings import ControllerSettings, RunIdReuse

log = logging.getLogger(__name__)


class RunIdTaken(ConfigError):
    """SALVO_RUN_ID names a run that already has a report. Choose a new run id, or set SALVO_RUN_ID_REUSE=overwrite."""


class ReportNotWritable(ConfigError):
    """The controller may not write under SALVO_RESULTS_URI. Check the URI and the role's s3:PutObject there."""


def check_results_destination(store: S3Store, settings: ControllerSettings, run_id: str) -> None:
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
        location = S3Location.parse(uri)
        raise ReportNotWritable(
            f"SALVO_RESULTS_URI={uri} is not writable (bucket {location.bucket!r}, prefix {location.key!r}): {exc}"
        ) from None
