"""`salvo report s3://…/run_id/`: re-merge a finished run from its executors' summaries."""

from __future__ import annotations

import json
import logging

from salvo.controller.criteria import evaluate, parse
from salvo.common.errors import ConfigError, ExitCode
from salvo.controller.merge import merge_summaries
from salvo.controller.report import Report
from salvo.common.s3 import S3Location, S3Store

log = logging.getLogger(__name__)


def rereport(uri: str, criteria: str | None = None, store: S3Store | None = None) -> int:
    try:
        location = S3Location.parse(uri if uri.endswith("/") else uri + "/")
    except ValueError as exc:
        raise ConfigError(str(exc)) from None
    store = store or S3Store()
    keys = sorted(k for k in store.list_keys(location.child("executors/")) if k.endswith("/summary.json"))
    if not keys:
        print(f"salvo: no executor summaries under {location}executors/")
        return int(ExitCode.SCENARIO)
    summaries = [json.loads(store.read_bytes(S3Location(location.bucket, key))) for key in keys]
    merged = merge_summaries(summaries)
    run_id = location.key.rstrip("/").rsplit("/", 1)[-1]
    results = evaluate(parse(criteria), merged.overall(), merged.label_rows())
    report = Report(run_id=run_id, merged=merged, criteria=results)
    print(report.console_table())
    return int(ExitCode.OK if report.passed else ExitCode.FAILED)
