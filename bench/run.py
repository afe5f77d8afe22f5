"""`make bench`: every benchmark, one table (measure, Salvo, baseline, ratio), and bench/results.json.

Baselines are measured in the same run: bare locust for the executor's overhead
and for the open model's arrival rate (its closed-loop maximum on the same core),
start-on-receipt (the spread of the start message's arrival, what Locust and
DLT v3 give) for the fan-out, the per-request sample file Salvo read before
for the post-run time.
"""

from __future__ import annotations

import json
import os
import platform
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "bench"))

import arrivals  # noqa: E402
import boto3  # noqa: E402
import fanout  # noqa: E402
import livestats  # noqa: E402
import merge  # noqa: E402
import overhead  # noqa: E402
import postrun  # noqa: E402
import scan  # noqa: E402

from tests.support.executors import free_port  # noqa: E402
from tests.support.s3 import CREDENTIALS, start_moto  # noqa: E402


def main() -> int:
    moto = start_moto()
    env = {**CREDENTIALS, "AWS_ENDPOINT_URL": moto.endpoint}
    os.environ.update(env)
    boto3.client("s3").create_bucket(Bucket="bench")
    rows, raw = (
        [],
        {
            "date": time.strftime("%Y-%m-%d"),
            "machine": f"{os.cpu_count()} cores, {platform.machine()}, Python {platform.python_version()}",
        },
    )
    try:
        raw["fanout"] = []
        for count in (300, 1000, 2000):
            for curve in (False, True):
                result = fanout.run(count, curve, free_port(), free_port(), "s3://bench/results/", dict(os.environ))
                raw["fanout"].append(result)
                name = f"fan-out {count}{' CURVE' if curve else ''}"
                rows.append((f"{name}: launch -> start published (s)", result["launch_to_start_published_s"], None))
                rows.append((f"{name}: started / late", f"{result['started']} / {result['late']}", None))
                rows.append(
                    (
                        f"{name}: start spread vs start-on-receipt (ms)",
                        result["salvo_start_spread_ms"],
                        result["receipt_spread_ms"],
                    )
                )
        raw["overhead"] = overhead.run(env, "bench")
        pairs = sorted(raw["overhead"]["pairs"], key=lambda pair: pair["ratio"])
        median = pairs[len(pairs) // 2]
        rows.append(
            (
                "executor overhead: requests in 15 s, 20 users, 1 core (median of 3 pairs)",
                median["salvo"],
                median["bare"],
            )
        )
        raw["arrivals"] = arrivals.run(env, "bench")
        rows.append(
            (
                "open model: highest rate kept (every second within 1 %), 1 core, vs bare locust closed loop (/s)",
                raw["arrivals"]["highest_kept_rate"],
                raw["arrivals"]["closed_loop_rps"],
            )
        )
        raw["postrun"] = postrun.run("bench")
        rows.append(
            (
                "post-run: load end -> summary uploaded, 1M requests (s)",
                raw["postrun"]["salvo_1M_s"],
                raw["postrun"]["per_request_csv_1M_s"],
            )
        )
        rows.append(("post-run: load end -> summary uploaded, 10M requests (s)", raw["postrun"]["salvo_10M_s"], None))
        raw["merge"] = merge.run()
        rows.append(("merge: 100 summaries x 1M requests (s)", raw["merge"]["seconds"], None))
        rows.append(("merge: peak memory (MB)", raw["merge"]["peak_mb"], None))
        raw["conclusion"] = merge.conclusion()
        held = raw["conclusion"]["held_executors"]
        rows.append(
            (
                "conclusion memory: 2,000 executors x 3,600 s series, merged as counted vs held (peak RSS MB)",
                raw["conclusion"]["streamed_peak_rss_mb"],
                raw["conclusion"]["held_projected_mb"],
            )
        )
        rows.append(
            (
                f"conclusion memory: {held} executors x 3,600 s, merged as counted vs held (peak RSS MB)",
                raw["conclusion"]["streamed_at_held_peak_rss_mb"],
                raw["conclusion"]["held_peak_rss_mb"],
            )
        )
        raw["livestats"] = livestats.run()
        for labels in (1, 10, 20):
            rows.append(
                (
                    f"live stats: CPU for 1 s of 2,000 executors, metrics on, {labels} labels (s)",
                    raw["livestats"][f"metrics_on_{labels}_labels_s"],
                    raw["livestats"]["metrics_off_s"],
                )
            )
        try:
            raw["scan"] = scan.run()
            for cidr in ("10.200.0.0/20", "10.200.0.0/16"):
                rows.append((f"scan of a silent {cidr[-3:]} at the defaults (s)", raw["scan"][cidr]["seconds"], None))
        except Exception as exc:  # needs root for ip netns
            raw["scan"] = {"error": str(exc)}
    finally:
        moto.stop()
    (REPO / "bench" / "results.json").write_text(json.dumps(raw, indent=1))
    print(f"\nSalvo benchmarks, {raw['date']}, {raw['machine']}\n")
    print(f"| {'measure':<72} | {'Salvo':>12} | {'baseline':>12} | {'ratio':>6} |")
    print(f"|{'-' * 74}|{'-' * 14}|{'-' * 14}|{'-' * 8}|")
    for name, ours, base in rows:
        ratio = (
            f"{ours / base:.2f}" if isinstance(ours, (int, float)) and isinstance(base, (int, float)) and base else ""
        )
        print(f"| {name:<72} | {ours!s:>12} | {'' if base is None else base!s:>12} | {ratio:>6} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
