"""Live stats benchmark: the controller's work for one second of 2,000 executors' IntervalStats.

Each message decoded, its fleet histogram merged (the live line), and, with
SALVO_METRICS_PORT set, its per-label data fed to the Prometheus metrics.
"""

from __future__ import annotations

import random
import time

from salvo.common.histogram import SERIES_DIGITS, LatencyHistogram
from salvo.common.protocol import IntervalStats, LabelInterval, decode_status, encode
from salvo.controller.metrics import LiveMetrics

EXECUTORS, DISTINCT, PER_LABEL = 2000, 100, 50  # 100 distinct messages, each sent by 20 executors


def _histogram(rnd: random.Random, digits: int, count: int) -> str:
    histogram = LatencyHistogram(digits=digits)
    for _ in range(count):
        histogram.record_ms(rnd.lognormvariate(3, 0.8))
    return histogram.encode()


def one_second(labels: int, metrics_on: bool) -> float:
    rnd = random.Random(7)
    distinct = [
        encode(
            IntervalStats(
                executor_id=f"e{n}",
                run_id="bench",
                interval_start=0,
                interval_end=1,
                users=10,
                requests=PER_LABEL * max(labels, 1),
                histogram=_histogram(rnd, 3, PER_LABEL * max(labels, 1)),
                labels={
                    f"/api/{i}": LabelInterval(requests=PER_LABEL, histogram=_histogram(rnd, SERIES_DIGITS, PER_LABEL))
                    for i in range(labels)
                }
                if metrics_on
                else {},
            )
        )
        for n in range(DISTINCT)
    ]
    frames = distinct * (EXECUTORS // DISTINCT)
    fleet, metrics = LatencyHistogram(), LiveMetrics("bench", interval_seconds=1.0) if metrics_on else None
    began = time.process_time()
    for frame in frames:
        stats = decode_status(frame)
        fleet.merge_encoded(stats.histogram)
        if metrics is not None:
            metrics.add(stats)
    if metrics is not None:
        metrics.interval(rps=0.0, failure_ratio=0.0, latency_ms=fleet.percentiles_ms([50, 95, 99]))
    return round(time.process_time() - began, 3)


def run() -> dict:
    return {
        "metrics_off_s": one_second(0, False),
        **{f"metrics_on_{labels}_labels_s": one_second(labels, True) for labels in (1, 10, 20)},
    }


if __name__ == "__main__":
    print(run())
