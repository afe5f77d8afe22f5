"""An executor's `summary.json`: exact counts and mergeable histograms of one run.

Schema `salvo.summary/1` (the caller adds run_id, executor_id, version, tools, scenario,
exit_code, stop_reason and timings; the builder adds the rest):

    totals:  {requests, failures, user_errors, bytes, latency_sum_ms, histogram, codes{code: n}, errors{message: n},
              [intended_histogram]}
    labels:  {label: same as totals}
    series:  [{t: epoch second of request start, requests, failures, user_errors, histogram,
               [planned, sent, dropped]}]
    timings: {..caller's.., first_request, last_request}   (epoch seconds)
    [arrivals: {planned, sent, dropped}]

An open-model run (salvo.common.arrivals) adds `intended_histogram` (each request timed
from its intended send time: its service time plus its iteration's lateness; one per
request) and counts its arrivals: `arrivals` in total, and in the series by the second
they were planned for (a point may have arrivals and no request). Every arrival whose time
came was sent or dropped: planned = sent + dropped, in total and in every second.

`histogram` is HdrHistogram's compressed V2 encoding of request latencies in
microseconds. User errors are exceptions raised in user code outside any request
(one raised inside a `catch_response` block fails that request instead). They
count as failures, with their messages, but not as requests:
failures = failed requests + user errors.

Every count is exact and they agree: the labels' and the series' counts add up to
the totals, each histogram holds one latency per request, the error messages'
counts add up to the failures. Collections and strings are capped (the MAX_*
below; beyond them codes, messages and labels are folded into "(other)"); the
reader checks all of it (salvo.common.summary_schema).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from salvo.common.histogram import SERIES_DIGITS, LatencyHistogram

SCHEMA = "salvo.summary/1"
MAX_ERROR_MESSAGES = 100
MAX_MESSAGE_CHARS = 2_048
MAX_CODES = 200
MAX_CODE_CHARS = 64
MAX_LABELS = 10_000
MAX_LABEL_CHARS = 2_048
OTHER_ERRORS = "(other)"
OTHER_CODES = "(other)"
OTHER_LABELS = "(other labels)"


def label_key(label: str, labels: dict) -> str:
    """Where a label's counts go in `labels`: its own entry, cut to MAX_LABEL_CHARS, while there is room."""
    label = label[:MAX_LABEL_CHARS]
    return label if label in labels or len(labels) < MAX_LABELS else OTHER_LABELS


@dataclass
class Tally:
    """Counts and latency histogram of a set of samples; the unit of summaries and merges."""

    requests: int = 0
    failures: int = 0
    user_errors: int = 0
    bytes: int = 0
    latency_sum_ms: float | None = 0.0  # exact; None when a contributor did not say (older summaries)
    histogram: LatencyHistogram = field(default_factory=LatencyHistogram)
    codes: dict[str, int] = field(default_factory=dict)
    errors: dict[str, int] = field(default_factory=dict)
    intended: LatencyHistogram | None = None  # open model: latencies from the intended send time

    def record_request(
        self, elapsed_ms: float, *, code: str = "", success: bool = True, nbytes: int = 0, message: str = ""
    ) -> None:
        self.requests += 1
        self.bytes += nbytes
        self._add_latency_sum(elapsed_ms)
        self.histogram.record_ms(elapsed_ms)
        if code:
            self._count_codes(code, 1)
        if not success:
            self.failures += 1
            self._count_errors(message or f"failed ({code or 'no response'})", 1)

    @property
    def failed_requests(self) -> int:
        """Failed requests, user errors (which sent no request) left out."""
        return self.failures - self.user_errors

    def record_user_error(self, message: str) -> None:
        self.user_errors += 1
        self.failures += 1
        self._count_errors(message, 1)

    @classmethod
    def for_series(cls) -> Tally:
        """A per-second tally: its histogram keeps 2 significant digits (see salvo.common.histogram)."""
        return cls(histogram=LatencyHistogram(digits=SERIES_DIGITS))

    def merge_dict(self, data: dict) -> Tally:
        """Add a tally in its summary.json form without building it first (the executor's stats lines)."""
        return self.add_counts(
            int(data.get("requests", 0)),
            int(data.get("failures", 0)),
            int(data.get("user_errors", 0)),
            int(data.get("bytes", 0)),
            data.get("latency_sum_ms"),
            data.get("histogram"),
            {str(code): int(count) for code, count in (data.get("codes") or {}).items()},
            {str(message): int(count) for message, count in (data.get("errors") or {}).items()},
            data.get("intended_histogram"),
        )

    def add_counts(
        self,
        requests: int,
        failures: int,
        user_errors: int = 0,
        nbytes: int = 0,
        latency_sum_ms: float | None = 0.0,
        histogram: str | None = None,
        codes: dict[str, int] | None = None,
        errors: dict[str, int] | None = None,
        intended: str | None = None,
    ) -> Tally:
        """Add a tally's parts, its histogram still encoded (the merge's hot path: no histogram object built)."""
        if intended:
            self._intended().merge_encoded(intended)
        self.requests += requests
        self.failures += failures
        self.user_errors += user_errors
        self.bytes += nbytes
        self._add_latency_sum(latency_sum_ms)
        self.histogram.merge_encoded(histogram)
        for code, count in (codes or {}).items():
            self._count_codes(code, count)
        for message, count in (errors or {}).items():
            self._count_errors(message, count)
        return self

    def merge(self, other: Tally) -> Tally:
        self.requests += other.requests
        self.failures += other.failures
        self.user_errors += other.user_errors
        self.bytes += other.bytes
        self._add_latency_sum(other.latency_sum_ms)
        self.histogram.merge(other.histogram)
        if other.intended is not None:
            self._intended().merge(other.intended)
        for code, count in other.codes.items():
            self._count_codes(code, count)
        for message, count in other.errors.items():
            self._count_errors(message, count)
        return self

    def _intended(self) -> LatencyHistogram:
        if self.intended is None:
            self.intended = LatencyHistogram()
        return self.intended

    def _add_latency_sum(self, value) -> None:
        self.latency_sum_ms = (
            None if value is None or self.latency_sum_ms is None else self.latency_sum_ms + float(value)
        )

    @property
    def mean_ms(self) -> float | None:
        """The exact mean latency when every contributor summed it, else HDR's estimate."""
        if not self.requests:
            return None
        if self.latency_sum_ms is not None:
            return self.latency_sum_ms / self.requests
        return self.histogram.mean_ms

    def _count_codes(self, code: str, count: int) -> None:
        code = code[:MAX_CODE_CHARS]
        if code in self.codes or len(self.codes) < MAX_CODES:
            self.codes[code] = self.codes.get(code, 0) + count
        else:
            self.codes[OTHER_CODES] = self.codes.get(OTHER_CODES, 0) + count

    def _count_errors(self, message: str, count: int) -> None:
        message = message[:MAX_MESSAGE_CHARS]
        if message in self.errors or len(self.errors) < MAX_ERROR_MESSAGES:
            self.errors[message] = self.errors.get(message, 0) + count
        else:
            self.errors[OTHER_ERRORS] = self.errors.get(OTHER_ERRORS, 0) + count

    def to_dict(self) -> dict:
        data = {
            "requests": self.requests,
            "failures": self.failures,
            "user_errors": self.user_errors,
            "bytes": self.bytes,
            "latency_sum_ms": self.latency_sum_ms,
            "histogram": self.histogram.encode(),
            "codes": dict(self.codes),
            "errors": dict(self.errors),
        }
        if self.intended is not None:
            data["intended_histogram"] = self.intended.encode()
        return data

    @classmethod
    def from_dict(cls, data: dict) -> Tally:
        return cls(
            requests=int(data.get("requests", 0)),
            failures=int(data.get("failures", 0)),
            user_errors=int(data.get("user_errors", 0)),
            bytes=int(data.get("bytes", 0)),
            latency_sum_ms=None if data.get("latency_sum_ms") is None else float(data["latency_sum_ms"]),
            histogram=LatencyHistogram.decode(data.get("histogram")),
            codes={str(k): int(v) for k, v in (data.get("codes") or {}).items()},
            errors={str(k): int(v) for k, v in (data.get("errors") or {}).items()},
            intended=LatencyHistogram.decode(data["intended_histogram"]) if "intended_histogram" in data else None,
        )
