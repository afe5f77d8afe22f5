"""Merge benchmark: 100 summaries of 1M requests each (300 s at 3,333 rps, 5 labels), parsed whole, then merged."""

from __future__ import annotations

import json
import random
import time
import tracemalloc

from salvo.common.summary import Tally
from salvo.common.summary_schema import parse_summary
from salvo.controller.merge import merge_summaries

SECONDS, LABELS, EXECUTORS = 300, 5, 100
PER_SECOND = 3_334  # 300 s of it: 1M requests per executor


def summary(executor: int, rnd: random.Random) -> dict:
    totals, labels, series = Tally(), {f"/api/{n}": Tally() for n in range(LABELS)}, []
    for second in range(SECONDS):
        point = Tally.for_series()
        for tally in labels.values():
            one = Tally()
            for _ in range(40):  # distinct latencies a label sees in a second
                value = rnd.lognormvariate(3, 0.6)
                count = PER_SECOND // LABELS // 40
                one.histogram.record_ms(value, count)
                point.histogram.record_ms(value, count)
                one.requests += count
                one.latency_sum_ms += value * count
            tally.merge(one)
            totals.merge(one)
            point.requests += one.requests
        series.append(
            {
                "t": 1_800_000_000 + second,
                "requests": point.requests,
                "failures": 0,
                "user_errors": 0,
                "histogram": point.histogram.encode(),
            }
        )
    return {
        "schema": "salvo.summary/1",
        "run_id": "bench",
        "executor_id": f"e{executor}",
        "totals": totals.to_dict(),
        "labels": {k: v.to_dict() for k, v in labels.items()},
        "series": series,
        "timings": {
            "start_at": 1_800_000_000.0,
            "ended_at": 1_800_000_000.0 + SECONDS,
            "first_request": 1_800_000_000.0,
            "last_request": 1_800_000_000.0 + SECONDS,
        },
    }


def run() -> dict:
    rnd = random.Random(7)
    one = summary(0, rnd)
    files = [json.dumps(dict(one, executor_id=f"e{n}")).encode() for n in range(EXECUTORS)]  # 100 executors
    began = time.perf_counter()
    summaries = [parse_summary(data, "bench", f"e{n}") for n, data in enumerate(files)]  # what the controller does
    parsed = time.perf_counter() - began
    merged = merge_summaries(summaries)
    merged.overall(), merged.label_rows()
    seconds = time.perf_counter() - began
    tracemalloc.start()  # a second pass for memory: tracing allocations slows Python down several times
    merge_summaries(summaries).overall()
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    return {
        "summaries": EXECUTORS,
        "requests": merged.totals.requests,
        "seconds": round(seconds, 2),
        "parse_seconds": round(parsed, 2),
        "peak_mb": round(peak / 1e6, 1),
    }


if __name__ == "__main__":
    print(run())
