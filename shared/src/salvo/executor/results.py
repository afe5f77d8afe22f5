"""What a run produced, read from the load tool's files: live intervals, the summary, the upload.

Gated (locust) runs are read from Salvo's own sample files, written inside locust
with every request and every user-code exception; other bzt executors from their
kpi*.jtl files. Only the current run's artifacts folder is read.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

from salvo.common.clock import Clock
from salvo.common.layout import SUMMARY
from salvo.common.s3 import S3Location, S3Store
from salvo.executor.aggregate import IntervalAccumulator, SummaryBuilder
from salvo.executor.samples import Sample, SampleTail, read_samples

log = logging.getLogger(__name__)

SALVO_SAMPLES_GLOB = "salvo-samples-*.csv"
JTL_GLOB = "kpi*.jtl"


@dataclass(frozen=True)
class IntervalSnapshot:
    start: float
    end: float
    requests: int
    failures: int
    histogram: str  # encoded


class ResultsCollector:
    def __init__(self, artifacts_dir: Path, clock: Clock):
        self.artifacts_dir = artifacts_dir
        self.clock = clock
        self._tails: dict[Path, SampleTail] = {}
        self._interval = IntervalAccumulator()
        self._interval_start = clock.time()

    def sample_files(self) -> list[Path]:
        own = sorted(self.artifacts_dir.glob(SALVO_SAMPLES_GLOB))
        return own or sorted(self.artifacts_dir.glob(JTL_GLOB))

    def drain_interval(self) -> IntervalSnapshot:
        """Samples completed since the last call (tails the files as they grow)."""
        for path in self.sample_files():
            tail = self._tails.setdefault(path, SampleTail(path))
            for sample in tail.read_new():
                self._interval.add(sample)
        snapshot = self._interval.drain()
        now = self.clock.time()
        start, self._interval_start = self._interval_start, now
        return IntervalSnapshot(
            start=start, end=now, requests=snapshot.requests, failures=snapshot.failures,
            histogram=snapshot.histogram.encode(),
        )

    def samples(self) -> Iterator[Sample]:
        for path in self.sample_files():
            yield from read_samples(path)

    def summary(self, meta: dict, timings: dict) -> dict:
        builder = SummaryBuilder()
        for sample in self.samples():
            builder.add(sample)
        return builder.to_dict(timings=timings, **meta)


def publish(store: S3Store, destination: S3Location, artifacts_dir: Path, summary: dict) -> None:
    """The load tool's artifacts, then summary.json last: its presence says the results are complete."""
    for path in sorted(artifacts_dir.rglob("*")):
        if path.is_file():
            store.upload_file(path, destination.child(str(path.relative_to(artifacts_dir))))
    store.upload_bytes(json.dumps(summary, indent=1).encode(), destination.child(SUMMARY), "application/json")
    totals = summary.get("totals", {})
    log.info(
        "uploaded results to %s: %s requests, %s failures, %s user errors",
        destination, totals.get("requests"), totals.get("failures"), totals.get("user_errors"),
    )
