"""The controller's live line (and, optionally, the same figures in CloudWatch and at SALVO_METRICS_PORT)."""

from __future__ import annotations

import logging
import sys

from salvo.common.clock import Clock
from salvo.common.histogram import LatencyHistogram
from salvo.common.protocol import IntervalStats
from salvo.controller.metrics import LiveMetrics
from salvo.controller.settings import ControllerSettings

log = logging.getLogger(__name__)


class LiveView:
    def __init__(
        self,
        settings: ControllerSettings,
        run_id: str,
        start_at: float,
        clock: Clock,
        metrics: LiveMetrics | None = None,
        fleet_size: int = 0,
        regions: dict[str, str] | None = None,
    ):
        self.clock = clock
        self.metrics = metrics
        if metrics is not None:
            metrics.started(start_at, fleet_size, regions)
        self._executors = (fleet_size, 0)
        self.interval = settings.live_interval
        self.run_id = run_id
        self.start_at = start_at
        self.cloudwatch = (
            CloudWatchPublisher(settings.cloudwatch_namespace, run_id) if settings.cloudwatch_namespace else None
        )
        self._reset()
        self._next = self.clock.monotonic() + self.interval

    def _reset(self) -> None:
        self.requests = 0
        self.failures = 0
        self.histogram = LatencyHistogram()
        self.window_started = self.clock.monotonic()

    def add(self, stats: IntervalStats) -> None:
        self.requests += stats.requests
        self.failures += stats.failures
        self.histogram.merge_encoded(stats.histogram)
        if self.metrics is not None:
            self.metrics.add(stats)

    def tick(self, active: int, lost: int, force: bool = False) -> None:
        if self.metrics is not None and (active, lost) != self._executors:
            self.metrics.executors(active, lost)
        self._executors = (active, lost)
        if not force and self.clock.monotonic() < self._next:
            return
        self._next = self.clock.monotonic() + self.interval
        window = max(self.clock.monotonic() - self.window_started, 1e-6)
        latency = self.histogram.percentiles_ms([50, 95, 99])
        figures = {
            "rps": self.requests / window,
            "failure_rate": self.failures / self.requests if self.requests else 0.0,
            "p50": latency[50],
            "p95": latency[95],
            "p99": latency[99],
        }
        elapsed = max(0.0, self.clock.time() - self.start_at)
        print(
            f"[{elapsed:6.0f}s] executors {active} active, {lost} lost | {figures['rps']:8.1f} rps | "
            f"failures {figures['failure_rate'] * 100:5.2f}% | p50 {_ms(figures['p50'])} p95 {_ms(figures['p95'])} "
            f"p99 {_ms(figures['p99'])}",
            file=sys.stdout,
            flush=True,
        )
        if self.cloudwatch is not None:
            self.cloudwatch.put(figures, active, lost)
        if self.metrics is not None:
            self.metrics.interval(figures["rps"], figures["failure_rate"], latency)
        self._reset()

    def close(self) -> None:
        if self.requests:
            self.tick(*self._executors, force=True)


def _ms(value: float | None) -> str:
    return "     -" if value is None else f"{value:6.1f}ms"


class CloudWatchPublisher:
    """PutMetricData with dimension RunId, so alarms can watch a test like a service."""

    def __init__(self, namespace: str, run_id: str, client=None):
        import boto3

        self.namespace = namespace
        self.dimensions = [{"Name": "RunId", "Value": run_id}]
        self.client = client or boto3.client("cloudwatch")

    def put(self, figures: dict, active: int, lost: int) -> None:
        data = [
            ("RequestsPerSecond", figures["rps"], "Count/Second"),
            ("FailureRate", figures["failure_rate"] * 100, "Percent"),
            ("ActiveExecutors", active, "Count"),
            ("LostExecutors", lost, "Count"),
        ] + [
            (f"Latency{p.upper()}", figures[p], "Milliseconds") for p in ("p50", "p95", "p99") if figures[p] is not None
        ]
        try:
            self.client.put_metric_data(
                Namespace=self.namespace,
                MetricData=[
                    {"MetricName": n, "Dimensions": self.dimensions, "Value": float(v), "Unit": u} for n, v, u in data
                ],
            )
        except Exception as exc:  # live metrics must never stop a run
            log.warning("CloudWatch PutMetricData failed: %s", exc)
