"""A realistic run's Report, built through the real code paths: executor summaries, ledger, merge, criteria, verdict.

Used by the report tests and by scripts/report-screenshot.py (docs/report.png).
"""

from __future__ import annotations

import json
import math
import random
from dataclasses import dataclass

from salvo import __version__
from salvo.common.summary_schema import parse_summary
from salvo.controller.compare import compare
from salvo.controller.criteria import evaluate, parse
from salvo.controller.figures import RunFigures
from salvo.controller.ledger import Ledger, Liveness, Member
from salvo.controller.regression import parse as parse_regression
from salvo.controller.report import Report
from salvo.controller.settings import LostExecutorPolicy
from salvo.controller.verdict import judge
from salvo.executor.results.aggregate import SummaryBuilder
from salvo.executor.tool.samples import Sample, SampleKind

START_AT = 1_800_000_000.0
RUN_ID = "checkout-2026-11-28"
SCENARIO = {
    "uri": "s3://salvo-demo/scenarios/checkout.zip",
    "sha256": "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08",
}
LABELS = {"GET /": 18.0, "GET /api/items": 42.0, "POST /api/cart": 65.0, "POST /login": 120.0}
CRITERIA = "p95<250ms; error_rate<1%; label:POST /login:p99<600ms; rps>=100"


@dataclass(frozen=True)
class Shape:
    executors: int = 5
    seconds: int = 90
    rps_per_executor: float = 40.0
    users_per_executor: int = 50
    lost: int = 1  # the last executors go silent midway (their results are then missing)
    regions: tuple[str, ...] = ()  # executor i runs in regions[i % len(regions)]; none: no region said


def executor_summary(executor_id: str, index: int, shape: Shape, rng: random.Random) -> dict:
    """One executor's summary.json as salvo.executor writes it: samples through SummaryBuilder, meta and timings."""
    builder = SummaryBuilder()
    release = START_AT + rng.uniform(0.0008, 0.004)
    ramp = 15.0
    rps = shape.rps_per_executor * (1 - 0.07 * index)  # executors differ: slower hosts, other zones
    for second in range(shape.seconds):
        load = min(1.0, (second + 1) / ramp) * (1 + 0.05 * math.sin(second / 4 + index))
        slow = 3.5 if 50 <= second < 56 else 1.0  # an incident: latency climbs for a few seconds
        for n in range(max(1, int(rps * load))):
            label = rng.choice(list(LABELS))
            start = release + second + n / (rps * load + 1)
            elapsed = LABELS[label] * slow * math.exp(rng.gauss(0, 0.35))
            if rng.random() < 0.0015:
                elapsed = rng.uniform(1500, 4000)  # a stray outlier: the log scale keeps the rest readable
            code, success, message = "200", True, ""
            if slow > 1 and rng.random() < 0.05:
                code, success, message = "503", False, "503 Service Unavailable"
            elif rng.random() < 0.002:
                code, success, message = "", False, "ConnectionResetError(104, 'Connection reset by peer')"
            elif label == "POST /login" and rng.random() < 0.004:
                code, success, message = "401", False, "401 Unauthorized"
            builder.add(
                Sample(
                    start=start,
                    elapsed_ms=elapsed,
                    label=label,
                    method=label.split()[0],
                    code=code,
                    success=success,
                    message=message,
                    bytes=rng.randint(400, 9000),
                )
            )
        if rng.random() < 0.01:
            builder.add(
                Sample(
                    start=release + second + 0.5,
                    elapsed_ms=0,
                    label="checkout flow",
                    success=False,
                    message="KeyError: 'cart_id'",
                    kind=SampleKind.USER_ERROR,
                )
            )
    return builder.to_dict(
        timings={
            "armed_at": START_AT - 20,
            "start_at": START_AT,
            "gate_released": [release],
            "launched_at": START_AT - 12,
            "ended_at": release + shape.seconds + 0.3,
        },
        run_id=RUN_ID,
        executor_id=executor_id,
        version=__version__,
        tools={"locust": "2.47.0", "bzt": "1.17.2"},
        scenario=SCENARIO,
        gated=True,
        exit_code=0,
        stop_reason="run time reached",
        region=shape.regions[index % len(shape.regions)] if shape.regions else None,
        share={
            "index": index,
            "size": shape.executors,
            "mode": "fleet",
            "users": shape.users_per_executor,
            "spawn_rate": 5.0,
            "rows": 2000,
        },
    )


def realistic_report(shape: Shape = Shape(), *, with_baseline: bool = False, seed: int = 11) -> Report:
    rng = random.Random(seed)
    ledger = Ledger()
    fleet = [f"executor-{n:02d}" for n in range(shape.executors)]
    summaries = {}
    for index, executor_id in enumerate(fleet):
        member = Member(
            host=f"10.0.{index // 250}.{10 + index % 250}",
            executor_id=executor_id,
            last_seen=0.0,
            liveness=Liveness.ENDED,
            acked=True,
        )
        ledger.add(member)
        if index >= shape.executors - shape.lost:
            member.liveness = Liveness.LOST
        else:
            summaries[executor_id] = executor_summary(executor_id, index, shape, rng)
    for executor_id, summary in summaries.items():
        ledger.count(executor_id, parse_summary(json.dumps(summary).encode(), RUN_ID, executor_id))
    ledger.settle({})
    merged = ledger.merged()
    results = evaluate(parse(CRITERIA), merged.overall(), merged.label_rows())
    comparison = None
    if with_baseline:
        base = RunFigures(
            "checkout-2026-11-21",
            _scaled(merged.overall(), 0.8),
            {label: _scaled(row, 0.8) for label, row in merged.label_rows().items()},
            start_at=START_AT - 7 * 86400,
            fleet_size=shape.executors,
            verdict="pass",
        )
        new = RunFigures(RUN_ID, merged.overall(), merged.label_rows(), start_at=START_AT)
        comparison = compare(
            base, new, parse_regression("p95+10%; error_rate+0.5pp"), "s3://salvo-demo/results/checkout-2026-11-21/"
        )
    verdict = judge(
        ledger,
        merged.totals.requests,
        results,
        LostExecutorPolicy.CONTINUE,
        regressions=comparison.results if comparison else (),
    )
    users = shape.executors * shape.users_per_executor
    return Report(
        run_id=RUN_ID,
        merged=merged,
        ledger=ledger,
        verdict=verdict,
        criteria=results,
        start_at=START_AT,
        fleet=fleet,
        baseline=comparison,
        fleet_load={
            "mode": "fleet",
            "users": users,
            "spawn_rate": 25.0,
            "executors": shape.executors,
            "data_rows": 10000,
        },
    )


def _scaled(row: dict, latency_factor: float) -> dict:
    """A plausible earlier run: the same load, faster, fewer errors."""
    out = dict(row)
    for key, value in row.items():
        if key.startswith("p") or key in ("avg", "min", "max"):
            out[key] = None if value is None else value * latency_factor
    out["error_rate"] = (row.get("error_rate") or 0) / 2
    return out
