"""The report's figures beyond the merged stats: each executor's start and outcome, the run's metadata, series.

Read from the executors' summaries (their meta and timings, see salvo.executor.run.executor `_upload`)
as the ledger counted them; what a summary does not say is None, never guessed.
"""

from __future__ import annotations

from salvo import __version__
from salvo.common.summary_schema import Timings
from salvo.controller.ledger import Counted, Ledger
from salvo.controller.merge import MAX_EXECUTOR_SERIES, MergedRun

SERIES_PERCENTILES = (50.0, 95.0, 99.0)


def executor_entries(ledger: Ledger, start_at: float | None) -> dict[str, dict]:
    """Per executor: where it ran, its outcome, its share, its version and when it started against start_at."""
    entries = {}
    for member in sorted(ledger.members.values(), key=lambda m: m.executor_id):
        summary: Counted | None = ledger.counted.get(member.executor_id)
        timings = summary.timings if summary is not None else None
        entries[member.executor_id] = {
            "host": member.host,
            "outcome": member.outcome.value if member.outcome else None,
            "reason": member.reason,
            "share": summary.share.model_dump() if summary is not None and summary.share is not None else None,
            "region": summary.region if summary is not None else None,
            "version": summary.version if summary is not None else None,
            "tools": dict(summary.tools) if summary is not None else None,
            "gated": summary.gated if summary is not None else None,
            "exit_code": summary.exit_code if summary is not None else None,
            "stop_reason": summary.stop_reason if summary is not None else None,
            "released_at": released_at(timings),
            "start_offset_ms": _offset_ms(released_at(timings), start_at),
            "first_request_offset_ms": _offset_ms(timings.first_request if timings else None, start_at),
        }
    return entries


def released_at(timings: Timings | None) -> float | None:
    """When the executor's load tool was let go: its first gate release, else its launch (bzt, ungated)."""
    if timings is None:
        return None
    if timings.gate_released:
        return min(timings.gate_released)
    return timings.launched_at


def run_metadata(ledger: Ledger, fleet: list[str], fleet_load: dict | None) -> dict:
    """Scenario, versions and users as the executors reported them (several values when they differ)."""
    summaries = [ledger.counted[k] for k in sorted(ledger.counted)]
    scenarios = [s.scenario for s in summaries if s.scenario is not None]
    tools = [s.tools for s in summaries]
    share_users = [s.share.users if s.share is not None else None for s in summaries]
    users = (fleet_load or {}).get("users")
    if users is None and share_users and all(isinstance(u, int) for u in share_users):
        users = sum(share_users)
    return {
        "scenario": {"uri": _distinct(s.uri for s in scenarios), "sha256": _distinct(s.sha256 for s in scenarios)},
        "fleet_size": len(fleet) if fleet else len(ledger.members),
        "users": users,
        "versions": {
            "controller": __version__,
            "executors": _distinct(s.version for s in summaries),
            "locust": _distinct(t.get("locust") for t in tools),
            "bzt": _distinct(t.get("bzt") for t in tools),
        },
    }


def series_points(merged: MergedRun) -> list[dict]:
    """The merged per-second figures: requests, failures, p50/p95/p99 and the slowest request (ms)."""
    return [
        {
            "t": t,
            "requests": tally.requests,
            "failures": tally.failures,
            **{f"p{p:g}": tally.histogram.percentile_ms(p) for p in SERIES_PERCENTILES},
            "max": tally.histogram.max_ms,
        }
        for t, tally in merged.series.items()
    ]


def executor_series(merged: MergedRun) -> dict[str, dict]:
    """Per executor (the first MAX_EXECUTOR_SERIES by id: all the merge keeps), its requests and failures per
    wall-clock second, as columns to keep report.json small."""
    return {
        executor: {
            "t": list(points),
            "requests": [r for r, _ in points.values()],
            "failures": [f for _, f in points.values()],
        }
        for executor, points in sorted(merged.executor_series.items())[:MAX_EXECUTOR_SERIES]
    }


def region_rows(runs: dict[str, MergedRun]) -> dict[str, dict]:
    """Per region: its executors and its figures (a stats row: rps over the region's own first to last request)."""
    return {region: {"executors": len(run.contributors), **run.overall()} for region, run in runs.items()}


def region_series(runs: dict[str, MergedRun]) -> dict[str, dict]:
    """Per region, its requests and failures per wall-clock second, as columns (executor_series' form)."""
    return {
        region: {
            "t": list(run.series),
            "requests": [tally.requests for tally in run.series.values()],
            "failures": [tally.failures for tally in run.series.values()],
        }
        for region, run in runs.items()
    }


def _distinct(values) -> str | list | None:
    """One value when all agree, the sorted distinct values when they differ, None when none is known."""
    known = sorted({str(v) for v in values if v is not None})
    if not known:
        return None
    return known[0] if len(known) == 1 else known


def _offset_ms(moment: float | None, start_at: float | None) -> float | None:
    return None if moment is None or start_at is None else (moment - start_at) * 1000
