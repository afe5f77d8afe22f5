"""What a run produced, read as it is written: live intervals, the summary, the upload.

One source per run, chosen from the plan (RunPlan.locust_stats): a gated locust's stats lines
(`salvo-stats-*.jsonl`, counted per second inside locust), else the tool's
per-request kpi*.jtl (JMeter and other bzt executors), with, for a gated JMeter in an
open-model run, its arrivals file (`salvo-arrivals-*.jsonl`: planned/sent/dropped and
the latencies from the intended send time). Files are read
incrementally, each byte once, so the summary at the end costs only the last
second's lines, however many requests the run sent. Only the current run's
artifacts folder is read.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from pathlib import Path

from salvo.common.clock import Clock
from salvo.common.layout import SUMMARY
from salvo.common.protocol import MAX_LIVE_LABELS, LabelInterval
from salvo.common.s3 import S3Location
from salvo.common.store import Store
from salvo.common.summary_schema import RejectedSummary, parse_summary
from salvo.executor.results.aggregate import IntervalAccumulator, SummaryBuilder
from salvo.executor.results.toolversions import load_tool_versions
from salvo.executor.tool.samples import SampleTail
from salvo.executor.tool.statsfile import ARRIVALS_GLOB, STATS_GLOB, arrival_record, read_lines

log = logging.getLogger(__name__)

JTL_GLOB = "kpi*.jtl"


@dataclass(frozen=True)
class IntervalSnapshot:
    start: float
    end: float
    requests: int
    failures: int  # failed requests and user errors
    histogram: str  # encoded
    users: int = 0
    user_errors: int = 0
    labels: dict[str, LabelInterval] = field(default_factory=dict)
    arrivals: tuple[int, int, int] = (0, 0, 0)  # open model: planned, sent, dropped
    intended: str = ""  # open model: encoded histogram of the latencies from the intended send time


class _StatsTail:
    """A stats file's complete lines, each once."""

    def __init__(self, path: Path):
        self.path = path
        self.offset = 0
        self.rest = b""
        self.malformed = 0

    def read_new(self, final: bool = False) -> list[dict]:
        try:
            with open(self.path, "rb") as handle:
                handle.seek(self.offset)
                data = handle.read()
        except FileNotFoundError:
            return []
        self.offset += len(data)
        records, self.rest, malformed = read_lines(self.rest + data + (b"\n" if final else b""))
        self.malformed += malformed
        return records


class ResultsCollector:
    def __init__(
        self,
        artifacts_dir: Path,
        clock: Clock,
        *,
        locust_stats: bool = True,
        jtl_timestamp_is_start: bool = False,
        per_label: bool = False,
        clock_offset: float = 0.0,
    ):
        self.artifacts_dir = artifacts_dir
        self.clock = clock
        self.locust_stats = locust_stats
        self.jtl_timestamp_is_start = jtl_timestamp_is_start
        self.clock_offset = clock_offset  # the tool's timestamps (this host's clock) less it: the controller's time
        self.run = SummaryBuilder()
        self._stats: dict[Path, _StatsTail] = {}
        self._samples: dict[Path, SampleTail] = {}
        self._interval = IntervalAccumulator(per_label)
        self._interval_start = clock.time()

    def _read_new(self, final: bool = False) -> None:
        if self.locust_stats:
            for path in sorted(self.artifacts_dir.glob(STATS_GLOB)):
                for record in self._stats.setdefault(path, _StatsTail(path)).read_new(final):
                    self.run.add_record(record)
                    self._interval.add_record(record)
        else:
            for path in sorted(self.artifacts_dir.glob(JTL_GLOB)):
                tail = self._samples.setdefault(path, SampleTail(path, self.jtl_timestamp_is_start, self.clock_offset))
                for sample in tail.read_new(final):
                    self.run.add(sample)
                    self._interval.add(sample)
            for path in sorted(self.artifacts_dir.glob(ARRIVALS_GLOB)):
                arrivals = self._stats.setdefault(path, _StatsTail(path))
                for line in arrivals.read_new(final):
                    try:
                        record = arrival_record(line)
                    except (ValueError, TypeError, KeyError):  # a damaged line: counted as unreadable
                        arrivals.malformed += 1
                        continue
                    self.run.add_record(record)
                    self._interval.add_record(record)

    def drain_interval(self) -> IntervalSnapshot:
        """Results completed since the last call."""
        self._read_new()
        snapshot = self._interval.drain()
        now = self.clock.time()
        start, self._interval_start = self._interval_start, now
        busiest = sorted(snapshot.labels.items(), key=lambda item: -item[1].requests)[:MAX_LIVE_LABELS]
        labels = {
            label: LabelInterval(
                requests=tally.requests,
                failures=tally.failures,
                user_errors=tally.user_errors,
                histogram=tally.histogram.encode(),
            )
            for label, tally in busiest
        }
        return IntervalSnapshot(
            start=start,
            end=now,
            requests=snapshot.requests,
            failures=snapshot.failures,
            histogram=snapshot.histogram.encode(),
            users=snapshot.users,
            labels=labels,
            user_errors=snapshot.user_errors,
            arrivals=snapshot.arrivals,
            intended=snapshot.intended.encode() if snapshot.intended is not None else "",
        )

    def summary(self, meta: dict, timings: dict) -> dict:
        """The run's summary.json: what was read so far plus the rest (call once the tool has exited)."""
        self._read_new(final=True)
        malformed = sum(t.malformed for t in self._stats.values()) + sum(t.malformed for t in self._samples.values())
        if malformed:
            log.error(
                "%d result line(s) in %s could not be read: the run is not counted whole", malformed, self.artifacts_dir
            )
        meta = dict(meta)
        tools = {**load_tool_versions(), **(meta.pop("tools", None) or {})}  # Python's tools, and the plan's (JMeter)
        summary = self.run.to_dict(timings=timings, tools=tools, **meta, unreadable_lines=malformed)
        try:  # the controller's own check, on the form it will read: a writer's bug shows here, by name
            parse_summary(json.dumps(summary).encode(), str(summary.get("run_id")), str(summary.get("executor_id")))
        except RejectedSummary as exc:
            log.error("this run's summary.json will be rejected by the controller: %s", exc)
        return summary


def publish(store: Store, destination: S3Location, artifacts_dir: Path, summary: dict) -> None:
    """The load tool's artifacts, then summary.json last: its presence says the results are complete."""
    for path in sorted(artifacts_dir.rglob("*")):
        if path.is_file():
            store.upload_file(path, destination.child(str(path.relative_to(artifacts_dir))))
    store.upload_bytes(json.dumps(summary, indent=1).encode(), destination.child(SUMMARY), "application/json")
    totals = summary.get("totals", {})
    log.info(
        "uploaded results to %s: %s requests, %s failures, %s user errors",
        destination,
        totals.get("requests"),
        totals.get("failures"),
        totals.get("user_errors"),
    )
