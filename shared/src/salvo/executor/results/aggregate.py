"""One executor's run in the summary format, per label and per second, built as its results arrive.

From a gated locust's stats lines (salvo.executor.tool.statsfile: already counted per
second and label) or, for other bzt executors, from per-request samples.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from salvo.common.histogram import LatencyHistogram
from salvo.common.summary import SCHEMA, Tally, label_key
from salvo.executor.tool.samples import Sample, SampleKind


def add_sample(tally: Tally, sample: Sample) -> None:
    if sample.kind is SampleKind.USER_ERROR:
        tally.record_user_error(sample.message)
    else:
        tally.record_request(
            sample.elapsed_ms, code=sample.code, success=sample.success, nbytes=sample.bytes, message=sample.message
        )


class SummaryBuilder:
    def __init__(self) -> None:
        self.totals = Tally()
        self.labels: dict[str, Tally] = {}
        self.seconds: dict[int, Tally] = {}
        self.first_request: float | None = None
        self.last_request: float | None = None
        self.arrivals: dict[int, list[int]] = {}  # open model: second -> [planned, sent, dropped]

    def add_record(self, record: dict) -> None:
        """A stats line: one second of one label, histograms included (or an open model's arrivals of a second)."""
        if "arrivals" in record:
            self._add_arrivals(int(record["t"]), record["arrivals"])
            return
        self.totals.merge_dict(record)
        label = label_key(str(record.get("label", "")), self.labels)
        if label not in self.labels:
            self.labels[label] = Tally()
        self.labels[label].merge_dict(record)
        second = int(record["t"])
        if second not in self.seconds:
            self.seconds[second] = Tally.for_series()
        self.seconds[second].merge_dict(
            {**record, "histogram": record.get("series_histogram"), "intended_histogram": None}
        )
        first, last = record.get("first_start"), record.get("last_end")
        if first is not None and (self.first_request is None or first < self.first_request):
            self.first_request = float(first)
        if last is not None and (self.last_request is None or last > self.last_request):
            self.last_request = float(last)

    def _add_arrivals(self, second: int, counts: dict) -> None:
        cell = self.arrivals.setdefault(second, [0, 0, 0])
        for i, name in enumerate(("planned", "sent", "dropped")):
            cell[i] += int(counts.get(name, 0))

    def add(self, sample: Sample) -> None:
        add_sample(self.totals, sample)
        add_sample(self.labels.setdefault(label_key(sample.label, self.labels), Tally()), sample)
        add_sample(self.seconds.setdefault(int(sample.start), Tally.for_series()), sample)
        if sample.kind is SampleKind.REQUEST:
            if self.first_request is None or sample.start < self.first_request:
                self.first_request = sample.start
            if self.last_request is None or sample.end > self.last_request:
                self.last_request = sample.end

    def to_dict(self, timings: dict | None = None, **meta) -> dict:
        series = []
        for second in sorted(set(self.seconds) | set(self.arrivals)):
            tally = self.seconds.get(second) or Tally.for_series()
            point = {
                "t": second,
                "requests": tally.requests,
                "failures": tally.failures,
                "user_errors": tally.user_errors,
                "histogram": tally.histogram.encode(),
            }
            if second in self.arrivals:
                point.update(zip(("planned", "sent", "dropped"), self.arrivals[second], strict=True))
            series.append(point)
        arrivals = {}
        if self.arrivals:
            arrivals["arrivals"] = {
                name: sum(cell[i] for cell in self.arrivals.values())
                for i, name in enumerate(("planned", "sent", "dropped"))
            }
        return {
            "schema": SCHEMA,
            **meta,
            "timings": {**(timings or {}), "first_request": self.first_request, "last_request": self.last_request},
            "totals": self.totals.to_dict(),
            "labels": {label: tally.to_dict() for label, tally in sorted(self.labels.items())},
            "series": series,
            **arrivals,
        }


@dataclass
class IntervalSnapshot:
    requests: int
    failures: int
    user_errors: int
    histogram: LatencyHistogram
    users: int = 0
    labels: dict[str, Tally] = field(default_factory=dict)  # per-second precision; empty unless asked for
    arrivals: tuple[int, int, int] = (0, 0, 0)  # open model: planned, sent, dropped (seconds settled since)
    intended: LatencyHistogram | None = None  # open model: latencies from the intended send time


class IntervalAccumulator:
    """Results since the last drain: what an executor streams to the controller each interval."""

    def __init__(self, per_label: bool = False) -> None:
        self.per_label = per_label
        self._tally = Tally()
        self._labels: dict[str, Tally] = {}
        self._users = 0
        self._arrivals = [0, 0, 0]

    def add(self, sample: Sample) -> None:
        add_sample(self._tally, sample)
        self._users = max(self._users, sample.users)
        if self.per_label:
            add_sample(self._label(sample.label), sample)

    def add_record(self, record: dict) -> None:
        if "arrivals" in record:
            for i, name in enumerate(("planned", "sent", "dropped")):
                self._arrivals[i] += int(record["arrivals"].get(name, 0))
            return
        self._tally.merge_dict(record)
        self._users = max(self._users, int(record.get("users") or 0))
        if self.per_label:
            self._label(str(record.get("label", ""))).merge_dict(
                {
                    "requests": record.get("requests", 0),
                    "failures": record.get("failures", 0),
                    "histogram": record.get("series_histogram"),
                }
            )

    def _label(self, label: str) -> Tally:
        if label not in self._labels:
            self._labels[label] = Tally.for_series()
        return self._labels[label]

    def drain(self) -> IntervalSnapshot:
        tally, self._tally = self._tally, Tally()
        users, self._users = self._users, 0
        labels, self._labels = self._labels, {}
        arrivals, self._arrivals = self._arrivals, [0, 0, 0]
        return IntervalSnapshot(
            tally.requests,
            tally.failures,
            tally.user_errors,
            tally.histogram,
            users,
            labels,
            tuple(arrivals),
            tally.intended,
        )
