"""What a run produced, read from the load tool's files: live intervals and the final summary.

Gated (locust) runs are read from Salvo's own sample files, written inside locust
with every request and every user-code exception; other bzt executors from their
kpi*.jtl files.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

from salvo.executor.samples import Sample, SampleTail, read_samples
from salvo.executor.aggregate import IntervalAccumulator, SummaryBuilder

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
    def __init__(self, artifacts_dir: Path):
        self.artifacts_dir = artifacts_dir
        self._tails: dict[Path, SampleTail] = {}
        self._interval = IntervalAccumulator()
        self._interval_start = time.time()

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
        now = time.time()
        start, self._interval_start = self._interval_start, now
        return IntervalSnapshot(
            start=start,
            end=now,
            requests=snapshot.requests,
            failures=snapshot.failures,
            histogram=snapshot.histogram.encode(),
        )

    def samples(self) -> Iterator[Sample]:
        for path in self.sample_files():
            yield from read_samples(path)

    def summary(self, schema_meta: dict, timings: dict) -> dict:
        builder = SummaryBuilder()
        for sample in self.samples():
            builder.add(sample)
        return builder.to_dict(timings=timings, **schema_meta)
