"""Post-run benchmark: load end -> summary.json uploaded, at 1M and 10M requests (10,000 rps, 5 labels).

The gated locust's stats lines are read while the run goes on; at its end only
the last seconds are left. Baseline in the same run: the per-request sample CSV
Salvo read before (1M requests; 10M would take minutes).
"""

from __future__ import annotations

import random
import tempfile
import time
from pathlib import Path

from salvo.common.clock import SystemClock
from salvo.common.s3 import S3Location, S3Store
from salvo.executor.results.aggregate import SummaryBuilder
from salvo.executor.results.collector import ResultsCollector, publish
from salvo.executor.tool.samples import SampleWriter, read_samples
from salvo.executor.tool.statsfile import SecondOfLabel, stats_path

RATE, LABELS = 10_000, 5


def stats_lines(seconds: int, rnd: random.Random) -> list[str]:
    lines = []
    for second in range(seconds):
        for label in range(LABELS):
            cell = SecondOfLabel()
            per_label = RATE // LABELS
            for _ in range(40):
                value, count = rnd.lognormvariate(3, 0.6), per_label // 40
                micros = int(value * 1000)
                cell.latencies[micros] = cell.latencies.get(micros, 0) + count
                cell.tally.requests += count
                cell.tally.latency_sum_ms += value * count
                cell.tally.codes["200"] = cell.tally.codes.get("200", 0) + count
            cell.first_start, cell.last_end = 1_800_000_000.0 + second, 1_800_000_001.0 + second
            lines.append(cell.line(1_800_000_000 + second, f"/api/{label}", 100))
    return lines


def salvo(requests: int, store: S3Store, destination: S3Location) -> float:
    artifacts = Path(tempfile.mkdtemp(prefix="salvo-postrun-"))
    lines = stats_lines(requests // RATE, random.Random(3))
    collector = ResultsCollector(artifacts, SystemClock(), locust_stats=True)
    with open(stats_path(artifacts, 1), "w") as out:
        out.write("\n".join(lines[: -2 * LABELS]) + "\n")
    collector.drain_interval()  # what the executor read while the load ran
    with open(stats_path(artifacts, 1), "a") as out:
        out.write("\n".join(lines[-2 * LABELS :]) + "\n")
    began = time.perf_counter()  # the load has ended
    summary = collector.summary(meta={"run_id": "bench", "executor_id": "e"}, timings={})
    publish(store, destination, artifacts, summary)
    assert summary["totals"]["requests"] == requests - requests % RATE
    return time.perf_counter() - began


def per_request_baseline(requests: int) -> float:
    artifacts = Path(tempfile.mkdtemp(prefix="salvo-postrun-csv-"))
    writer = SampleWriter(artifacts / "salvo-samples-1.csv")
    rnd = random.Random(4)
    for n in range(requests):
        writer.request(
            start=1_800_000_000 + n / RATE,
            elapsed_ms=rnd.lognormvariate(3, 0.6),
            label="/api/0",
            method="GET",
            code="200",
            success=True,
            nbytes=10,
            message="",
        )
    writer.close()
    began = time.perf_counter()
    builder = SummaryBuilder()
    for sample in read_samples(artifacts / "salvo-samples-1.csv"):
        builder.add(sample)
    builder.to_dict()
    return time.perf_counter() - began


def run(bucket: str) -> dict:
    store = S3Store(retry_seconds=30)
    out = {}
    for requests in (1_000_000, 10_000_000):
        out[f"salvo_{requests // 1_000_000}M_s"] = round(
            salvo(requests, store, S3Location(bucket, f"postrun/{requests}/")), 2
        )
    out["per_request_csv_1M_s"] = round(per_request_baseline(1_000_000), 2)
    return out


if __name__ == "__main__":
    import sys

    print(run(sys.argv[1]))
