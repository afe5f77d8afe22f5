"""An executor's `summary.json`: exact counts and mergeable histograms of one run.

Schema `salvo.summary/1` (the caller adds run_id, executor_id, version, scenario,
exit_code, stop_reason and timings; the builder adds the rest):

    totals:  {requests, failures, user_errors, bytes, histogram, codes{code: n}, errors{message: n}}
    labels:  {label: same as totals}
    series:  [{t: epoch second of request start, requests, failures, user_errors, histogram}]
    timings: {..caller's.., first_request, last_request}   (epoch seconds)

`histogram` is HdrHistogram's compressed V2 encoding of request latencies in
microseconds. User errors are exceptions raised in user code outside any request
(one raised inside a `catch_response` block fails that request instead). They
count as failures, with their messages, but not as requests:
failures = failed requests + user errors.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from salvo.common.histogram import LatencyHistogram

SCHEMA = "salvo.summary/1"
MAX_ERROR_MESSAGES = 100
OTHER_ERRORS = "(other)"


@dataclass
class Tally:
    """Counts and latency histogram of a set of samples; the unit of summaries and merges."""

    requests: int = 0
    failures: int = 0
    user_errors: int = 0
    bytes: int = 0
    histogram: LatencyHistogram = field(default_factory=LatencyHistogram)
    codes: dict[str, int] = field(default_factory=dict)
    errors: dict[str, int] = field(default_factory=dict)

    def record_request(self, elapsed_ms: float, *, code: str = "", success: bool = True, nbytes: int = 0,
                       message: str = "") -> None:
        self.requests += 1
        self.bytes += nbytes
        self.histogram.record_ms(elapsed_ms)
        if code:
            self.codes[code] = self.codes.get(code, 0) + 1
        if not success:
            self.failures += 1
            self._count_errors(message or f"failed ({code or 'no response'})", 1)

    def record_user_error(self, message: str) -> None:
        self.user_errors += 1
        self.failures += 1
        self._count_errors(message, 1)

    def merge(self, other: "Tally") -> "Tally":
        self.requests += other.requests
        self.failures += other.failures
        self.user_errors += other.user_errors
        self.bytes += other.bytes
        self.histogram.merge(other.histogram)
        for code, count in other.codes.items():
            self.codes[code] = self.codes.get(code, 0) + count
        for message, count in other.errors.items():
            self._count_errors(message, count)
        return self

    def _count_errors(self, message: str, count: int) -> None:
        if message in self.errors or len(self.errors) < MAX_ERROR_MESSAGES:
            self.errors[message] = self.errors.get(message, 0) + count
        else:
            self.errors[OTHER_ERRORS] = self.errors.get(OTHER_ERRORS, 0) + count

    def to_dict(self) -> dict:
        return {
            "requests": self.requests,
            "failures": self.failures,
            "user_errors": self.user_errors,
            "bytes": self.bytes,
            "histogram": self.histogram.encode(),
            "codes": dict(self.codes),
            "errors": dict(self.errors),
        }

    @classmethod
    def from_dict(cls, data: dict) -> "Tally":
        return cls(
            requests=int(data.get("requests", 0)),
            failures=int(data.get("failures", 0)),
            user_errors=int(data.get("user_errors", 0)),
            bytes=int(data.get("bytes", 0)),
            histogram=LatencyHistogram.decode(data.get("histogram")),
            codes={str(k): int(v) for k, v in (data.get("codes") or {}).items()},
            errors={str(k): int(v) for k, v in (data.get("errors") or {}).items()},
        )
