"""`salvo report s3://…/run_id/`: re-merge a finished run from its executors' summaries and judge it again.

The fleet is the one the run's report.json names (so a summary deleted since
shows as missing), else every executor folder found under the run (each folder
without a summary.json is a missing result).
"""

from __future__ import annotations

import json
import logging

from salvo.common.clock import SystemClock
from salvo.common.errors import ConfigError, ExitCode
from salvo.common.layout import REPORT_FILES
from salvo.common.s3 import S3Location, S3ReadError
from salvo.common.store import Store
from salvo.controller.collect import read_summaries
from salvo.controller.criteria import DEFAULT_CRITERIA, CriteriaSyntaxError, evaluate, parse
from salvo.controller.ledger import Ledger, Liveness, Member
from salvo.controller.openmodel import RateCheck
from salvo.controller.report import Report
from salvo.controller.settings import ControllerSettings, LostExecutorPolicy
from salvo.controller.verdict import judge

log = logging.getLogger(__name__)

DEFAULT_MAX_SUMMARY_BYTES: int = ControllerSettings.model_fields["max_summary_bytes"].default


def rereport(
    uri: str,
    store: Store,
    criteria: str | None = None,
    *,
    max_summary_bytes: int = DEFAULT_MAX_SUMMARY_BYTES,
) -> int:
    """Print the run's table again from its summaries (each at most `max_summary_bytes`); the verdict's exit code."""
    try:
        location = S3Location.parse(uri if uri.endswith("/") else uri + "/")
        parsed = DEFAULT_CRITERIA if criteria is None else parse(criteria)
    except (ValueError, CriteriaSyntaxError) as exc:
        raise ConfigError(str(exc)) from None
    run_id = location.key.rstrip("/").rsplit("/", 1)[-1]
    results = S3Location(location.bucket, location.key.rstrip("/")[: -len(run_id)])
    fleet = _fleet_of(store, location)
    if not fleet:
        print(f"salvo: no executor summaries under {location}executors/")
        return int(ExitCode.SCENARIO)
    clock = SystemClock()
    ledger = Ledger()
    for executor_id in fleet:
        ledger.add(Member(host="-", executor_id=executor_id, last_seen=0.0, liveness=Liveness.ENDED))
    collected = read_summaries(
        store,
        results,
        run_id,
        fleet,
        budget_seconds=store.retry_seconds,
        clock=clock,
        max_bytes=max_summary_bytes,
        count=ledger.count,
    )
    ledger.settle(collected.unreadable, collected.rejected)
    merged = ledger.merged()
    results = evaluate(parsed, merged.overall(), merged.label_rows())
    verdict = judge(
        ledger,
        merged.totals.requests,
        results,
        LostExecutorPolicy.CONTINUE,
        failed_requests=merged.totals.failed_requests,
        rate=RateCheck.of(merged.arrivals, None),
    )
    report = Report(run_id=run_id, merged=merged, ledger=ledger, verdict=verdict, criteria=results, fleet=fleet)
    print(report.console_table())
    return int(verdict.exit_code)


def _fleet_of(store: Store, run: S3Location) -> list[str]:
    try:
        recorded = json.loads(store.read_bytes(run.child(REPORT_FILES[0])))
        if isinstance(recorded, dict) and isinstance(recorded.get("fleet"), list) and recorded["fleet"]:
            return sorted(str(executor_id) for executor_id in recorded["fleet"])
    except (S3ReadError, ValueError):
        pass
    prefix = run.child("executors/")
    # Every executor folder, not only those holding a summary: an executor that uploaded its
    # artifacts but whose summary is gone is a missing result, not an executor that never was.
    return sorted({key[len(prefix.key) :].split("/", 1)[0] for key in store.list_keys(prefix)} - {""})
