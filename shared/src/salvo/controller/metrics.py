"""The controller's live figures in Prometheus text format at http://SALVO_METRICS_BIND:SALVO_METRICS_PORT/metrics.

Fed from the live path (salvo.controller.live): counters grow with every
IntervalStats, the interval figures (rps, latency quantiles, users) are set at
each live line (SALVO_LIVE_INTERVAL), the executor gauges at every turn of the
watch loop, the run state is read at scrape time. Every series carries `run_id`.
Per-label data travels only when the controller asks for it (Start.live_labels),
so a run without this endpoint pays nothing for it. Executors that said their
region (Status.region) are also counted per region (salvo_region_*): their
interval histograms are merged once more, per region. The README's "Prometheus
metrics" section lists the metrics.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager

from prometheus_client import CollectorRegistry, Counter, Gauge, start_http_server
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from salvo.common.errors import ExitCode, SalvoError
from salvo.common.histogram import SERIES_DIGITS, LatencyHistogram
from salvo.common.protocol import MAX_LIVE_LABELS, IntervalStats
from salvo.controller.settings import ControllerSettings

log = logging.getLogger(__name__)

QUANTILES = (50, 95, 99)  # percentiles, exposed as quantile="0.5" etc.
EXECUTOR_STATES = ("active", "lost", "finished")
# Merging one label's histogram costs ~10 µs: 2,000 executors x 10 labels a second would take a fifth
# of the controller's time. Beyond this many merges a second, the interval's per-label quantiles come
# from the executors heard first (all labels of a message, or none); counters stay exact.
LABEL_MERGES_PER_SECOND = 4000


class MetricsPortUnavailable(SalvoError):
    """The controller cannot listen on SALVO_METRICS_PORT (taken, or a bad SALVO_METRICS_BIND).

    Choose a free port, or unset SALVO_METRICS_PORT. No load was started.
    """

    exit_code = ExitCode.CONFIG


class _RunState(Collector):
    """salvo_run_state{state=...}: 1 for the controller's current phase, 0 for the others, read when scraped."""

    def __init__(self, run_id: str, states: Sequence[str], current: Callable[[], str]):
        self.run_id, self.states, self.current = run_id, tuple(states), current

    def collect(self):
        family = GaugeMetricFamily(
            "salvo_run_state", "1 for the controller's current phase", labels=["run_id", "state"]
        )
        current = self.current()
        for state in self.states:
            family.add_metric([self.run_id, state], 1.0 if state == current else 0.0)
        yield family


class LiveMetrics:
    """One run's metrics in a registry of their own (never prometheus_client's global one)."""

    def __init__(
        self,
        run_id: str,
        states: Sequence[str] = (),
        current: Callable[[], str] | None = None,
        interval_seconds: float = 5.0,
    ):
        self.run_id = run_id
        self.merge_budget = max(1, int(LABEL_MERGES_PER_SECOND * interval_seconds))  # per live interval
        self.registry = CollectorRegistry()
        r, run = self.registry, ["run_id"]
        self._requests = Counter("salvo_requests", "requests completed by the fleet", run, registry=r).labels(run_id)
        self._failures = Counter("salvo_failures", "failed requests and user errors", run, registry=r).labels(run_id)
        self._label_requests = Counter(
            "salvo_label_requests", "requests completed, per label", run + ["label"], registry=r
        )
        self._label_failures = Counter("salvo_label_failures", "failures, per label", run + ["label"], registry=r)
        self._rps = Gauge(
            "salvo_requests_per_second", "fleet's requests per second over the last live interval", run, registry=r
        ).labels(run_id)
        self._failure_ratio = Gauge(
            "salvo_failure_ratio", "failures / requests over the last live interval", run, registry=r
        ).labels(run_id)
        self._latency = Gauge(
            "salvo_latency_seconds",
            "fleet-wide latency quantile over the last live interval",
            run + ["quantile"],
            registry=r,
        )
        self._label_latency = Gauge(
            "salvo_label_latency_seconds",
            "latency quantile per label over the last live interval",
            run + ["label", "quantile"],
            registry=r,
        )
        self._coverage = Gauge(
            "salvo_label_latency_coverage_ratio",
            "share of the last interval's executor messages the per-label quantiles were merged from (1: all)",
            run,
            registry=r,
        ).labels(run_id)
        self._region_requests = Counter(
            "salvo_region_requests", "requests completed, per executor region", run + ["region"], registry=r
        )
        self._region_failures = Counter(
            "salvo_region_failures", "failures, per executor region", run + ["region"], registry=r
        )
        self._region_latency = Gauge(
            "salvo_region_latency_seconds",
            "latency quantile per executor region over the last live interval",
            run + ["region", "quantile"],
            registry=r,
        )
        self._region_executors = Gauge(
            "salvo_region_executors", "started executors per region", run + ["region"], registry=r
        )
        self._arrivals = {
            name: Counter(f"salvo_arrivals_{name}", text, run, registry=r).labels(run_id)
            for name, text in (
                ("planned", "open model: arrivals whose planned time came"),
                ("sent", "open model: arrivals a user ran"),
                ("dropped", "open model: arrivals no user could take in time"),
            )
        }
        self._intended_latency = Gauge(
            "salvo_intended_latency_seconds",
            "open model: latency from the intended send time over the last live interval",
            run + ["quantile"],
            registry=r,
        )
        self._intended: LatencyHistogram | None = None  # merged over the live interval
        self._executors = Gauge("salvo_executors", "started executors by state", run + ["state"], registry=r)
        self._users = Gauge(
            "salvo_users", "simulated users across the fleet (last live interval)", run, registry=r
        ).labels(run_id)
        self._start = Gauge(
            "salvo_start_time_seconds", "the run's start_at, seconds since the epoch", run, registry=r
        ).labels(run_id)
        self._clock_offset = Gauge(
            "salvo_clock_offset_seconds",
            "an executor's clock minus the controller's, as measured before the start (and corrected)",
            run + ["executor"],
            registry=r,
        )
        self._clock_max_offset = Gauge(
            "salvo_clock_max_offset_seconds",
            "the largest measured offset of the fleet's clocks (absolute), corrected",
            run,
            registry=r,
        ).labels(run_id)
        self._clock_uncertainty = Gauge(
            "salvo_clock_max_uncertainty_seconds",
            "the largest uncertainty of the fleet's clock measurements",
            run,
            registry=r,
        ).labels(run_id)
        if current is not None:
            r.register(_RunState(run_id, states, current))
        self.fleet_size = 0
        self._labels: dict[str, LatencyHistogram] = {}  # this interval's, per label
        self._label_counters: dict[str, tuple] = {}  # label: (requests child, failures child)
        self._merges = self._merged_messages = self._label_messages = 0  # this interval's
        self._with_latency: set[str] = set()  # labels whose quantiles are exposed now
        self._users_by_executor: dict[str, int] = {}
        self._ignored_labels = False
        self._region_of: dict[str, str] = {}  # executor -> its region, from its Status
        self._region_counters: dict[str, tuple] = {}  # region: (requests child, failures child)
        self._region_histograms: dict[str, LatencyHistogram] = {}  # this interval's, per region

    def clocks(self, offsets: dict[str, tuple[float, float]]) -> None:
        """Each executor's measured (offset, uncertainty), seconds."""
        for executor_id, (offset, _) in offsets.items():
            self._clock_offset.labels(self.run_id, executor_id).set(offset)
        if offsets:
            self._clock_max_offset.set(max(abs(offset) for offset, _ in offsets.values()))
            self._clock_uncertainty.set(max(uncertainty for _, uncertainty in offsets.values()))

    def started(self, start_at: float, fleet_size: int, regions: dict[str, str] | None = None) -> None:
        """The run started: `regions` maps each started executor that named its region to it."""
        self.fleet_size = fleet_size
        self._start.set(start_at)
        self.executors(active=fleet_size, lost=0)
        self._region_of = dict(regions or {})
        for region in sorted(set(self._region_of.values())):
            self._region_counters[region] = (
                self._region_requests.labels(self.run_id, region),
                self._region_failures.labels(self.run_id, region),
            )
            self._region_executors.labels(self.run_id, region).set(
                sum(1 for r in self._region_of.values() if r == region)
            )

    def add(self, stats: IntervalStats) -> None:
        """One executor's interval: at 2,000 executors this runs 2,000 times a second, so it only adds."""
        self._requests.inc(stats.requests)
        self._failures.inc(stats.failures)
        if stats.planned or stats.intended_histogram:
            for name in ("planned", "sent", "dropped"):
                self._arrivals[name].inc(getattr(stats, name))
            if self._intended is None:
                self._intended = LatencyHistogram()
            self._intended.merge_encoded(stats.intended_histogram)
        users = self._users_by_executor
        users[stats.executor_id] = max(users.get(stats.executor_id, 0), stats.users)
        region = self._region_of.get(stats.executor_id)
        if region is not None:
            requests, failures = self._region_counters[region]
            requests.inc(stats.requests)
            failures.inc(stats.failures)
            if stats.histogram:
                histogram = self._region_histograms.get(region)
                if histogram is None:
                    histogram = self._region_histograms[region] = LatencyHistogram()
                histogram.merge_encoded(stats.histogram)
        if not stats.labels:
            return
        self._label_messages += 1
        merge = self._merges < self.merge_budget
        if merge:
            self._merges += len(stats.labels)
            self._merged_messages += 1
        for label, part in stats.labels.items():
            counters = self._label_counters.get(label)
            if counters is None:
                if len(self._label_counters) >= MAX_LIVE_LABELS:
                    self._ignore_label(label)
                    continue
                counters = self._label_counters[label] = (
                    self._label_requests.labels(self.run_id, label),
                    self._label_failures.labels(self.run_id, label),
                )
            counters[0].inc(part.requests)
            counters[1].inc(part.failures)
            if merge and part.histogram:
                histogram = self._labels.get(label)
                if histogram is None:
                    histogram = self._labels[label] = LatencyHistogram(digits=SERIES_DIGITS)
                histogram.merge_encoded(part.histogram)

    def _ignore_label(self, label: str) -> None:
        if not self._ignored_labels:
            log.warning(
                "metrics: more than %d labels; label %r and later ones are left out of the per-label "
                "metrics (the totals count them)",
                MAX_LIVE_LABELS,
                label,
            )
            self._ignored_labels = True

    def executors(self, active: int, lost: int) -> None:
        finished = max(0, self.fleet_size - active - lost)
        for state, count in zip(EXECUTOR_STATES, (active, lost, finished), strict=True):
            self._executors.labels(self.run_id, state).set(count)

    def interval(self, rps: float, failure_ratio: float, latency_ms: dict[float, float | None]) -> None:
        """The figures of the live interval just ended (the same the live line prints)."""
        self._rps.set(rps)
        self._failure_ratio.set(failure_ratio)
        for q in QUANTILES:
            self._latency.labels(self.run_id, _quantile(q)).set(_seconds(latency_ms.get(q)))
        if self._intended is not None:  # an open-model run: NaN for an interval without requests
            values = self._intended.percentiles_ms(list(QUANTILES))
            for q in QUANTILES:
                self._intended_latency.labels(self.run_id, _quantile(q)).set(_seconds(values.get(q)))
            self._intended = LatencyHistogram()
        for label in self._label_counters:
            histogram = self._labels.get(label)
            if histogram is None or histogram.is_empty:  # no request of this label in the interval: no quantiles
                if label in self._with_latency:
                    for q in QUANTILES:
                        self._label_latency.remove(self.run_id, label, _quantile(q))
                    self._with_latency.discard(label)
                continue
            values = histogram.percentiles_ms(list(QUANTILES))
            for q in QUANTILES:
                self._label_latency.labels(self.run_id, label, _quantile(q)).set(values[q] / 1000)
            self._with_latency.add(label)
        self._labels = {}
        for region in self._region_counters:
            histogram = self._region_histograms.get(region)
            values = (
                histogram.percentiles_ms(list(QUANTILES)) if histogram is not None and not histogram.is_empty else {}
            )
            for q in QUANTILES:  # NaN: no request from the region in this interval
                self._region_latency.labels(self.run_id, region, _quantile(q)).set(_seconds(values.get(q)))
        self._region_histograms = {}
        if self._label_messages:
            self._coverage.set(self._merged_messages / self._label_messages)
        self._merges = self._merged_messages = self._label_messages = 0
        self._users.set(sum(self._users_by_executor.values()))
        self._users_by_executor = {}


def _quantile(percentile: float) -> str:
    return f"{percentile / 100:g}"


def _seconds(value_ms: float | None) -> float:
    return math.nan if value_ms is None else value_ms / 1000


@contextmanager
def serving(
    settings: ControllerSettings, run_id: str, states: Sequence[str], current: Callable[[], str]
) -> Iterator[LiveMetrics | None]:
    """The endpoint for the controller's lifetime; None when SALVO_METRICS_PORT is unset."""
    if settings.metrics_port is None:
        yield None
        return
    metrics = LiveMetrics(run_id, states, current, settings.live_interval)
    bind, port = settings.metrics_bind, settings.metrics_port
    try:
        server, thread = start_http_server(port, addr=bind, registry=metrics.registry)
    except OSError as exc:
        raise MetricsPortUnavailable(
            f"SALVO_METRICS_PORT={port}: cannot listen on {bind}:{port} ({exc.strerror or exc}); "
            "choose a free port or unset it"
        ) from None
    log.info("Prometheus metrics at http://%s:%d/metrics", bind, port)
    try:
        yield metrics
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)
