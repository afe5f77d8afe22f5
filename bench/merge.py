"""Merge benchmark: 100 summaries of 1M requests each (300 s at 3,333 rps, 5 labels), parsed whole, then merged;
and the conclusion's memory on a long run (2,000 executors x 3,600 s), summaries merged as counted vs held until merged.
"""

from __future__ import annotations

import json
import random
import subprocess
import sys
import time
import tracemalloc
from pathlib import Path

from salvo.common.summary import Tally
from salvo.common.summary_schema import parse_summary
from salvo.controller.ledger import Ledger, Liveness, Member
from salvo.controller.merge import merge_summaries

SECONDS, LABELS, EXECUTORS = 300, 5, 100
PER_SECOND = 3_334  # 300 s of it: 1M requests per executor


def summary(executor: int, rnd: random.Random, seconds: int = SECONDS) -> dict:
    totals, labels, series = Tally(), {f"/api/{n}": Tally() for n in range(LABELS)}, []
    for second in range(seconds):
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
            "ended_at": 1_800_000_000.0 + seconds,
            "first_request": 1_800_000_000.0,
            "last_request": 1_800_000_000.0 + seconds,
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


def conclusion(executors: int = 2_000, seconds: int = 3_600, held: int = 200) -> dict:
    """Peak RSS of the conclusion's read-parse-merge, each way in a fresh process: merged as counted (the controller's
    way) at full scale; held until merged (the way before) at `held` executors, as 2,000 would not fit in memory
    here; and merged as counted at `held` too, for a like-for-like pair."""

    def measure(way: str, count: int) -> dict:
        out = subprocess.run(
            [sys.executable, __file__, "--conclusion", way, str(count), str(seconds)],
            check=True,
            capture_output=True,
            text=True,
        ).stdout
        return json.loads(out.splitlines()[-1])

    streamed, streamed_held, holding = measure("streamed", executors), measure("streamed", held), measure("held", held)
    return {
        "executors": executors,
        "seconds": seconds,
        "streamed_peak_rss_mb": streamed["peak_rss_mb"],
        "streamed_wall_s": streamed["wall_s"],
        "held_executors": held,
        "held_peak_rss_mb": holding["peak_rss_mb"],
        "streamed_at_held_peak_rss_mb": streamed_held["peak_rss_mb"],
        # what holding grows by per executor, times the full fleet: it grows linearly (one parsed summary each)
        "held_projected_mb": round(
            holding["before_mb"] + (holding["peak_rss_mb"] - holding["before_mb"]) * executors / held,
        ),
    }


def _peak_rss_mb() -> float:
    """This process's peak RSS. Not getrusage's ru_maxrss: Linux carries the forking parent's peak over the exec into
    it, and a `make bench` parent has run 2,000-executor fan-outs by then. VmHWM is this program's own."""
    status = Path("/proc/self/status").read_text()
    return int(next(line.split()[1] for line in status.splitlines() if line.startswith("VmHWM"))) / 1024


def _conclusion_child(way: str, executors: int, seconds: int) -> dict:
    """One way of concluding, in this process: its peak RSS (MB) over the read-parse-merge."""
    template = json.dumps(summary(0, random.Random(7), seconds)).encode()
    ids = [f"e{n:04d}" for n in range(executors)]
    before = _peak_rss_mb()

    def read(executor: str):  # what the controller's readers hand the parser: one executor's bytes
        return parse_summary(
            template.replace(b'"executor_id": "e0"', f'"executor_id": "{executor}"'.encode()), "bench", executor
        )

    began = time.perf_counter()
    if way == "streamed":
        ledger = Ledger()
        for executor in ids:
            ledger.add(Member(host=executor, executor_id=executor, last_seen=0.0, liveness=Liveness.ENDED))
        for executor in ids:
            ledger.count(executor, read(executor))
        merged = ledger.merged()
    else:
        held = [read(executor) for executor in ids]
        merged = merge_summaries(held)
    merged.overall(), merged.label_rows()
    assert merged.totals.requests == executors * json.loads(template)["totals"]["requests"]
    return {
        "way": way,
        "executors": executors,
        "before_mb": round(before, 1),
        "peak_rss_mb": round(_peak_rss_mb(), 1),
        "wall_s": round(time.perf_counter() - began, 1),
    }


if __name__ == "__main__":
    if sys.argv[1:2] == ["--conclusion"]:
        print(json.dumps(_conclusion_child(sys.argv[2], int(sys.argv[3]), int(sys.argv[4]))))
    else:
        print(run())
        print(conclusion())
