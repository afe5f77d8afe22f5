"""The stats file a gated locust process writes: one JSON line per second and label, never one per request.

`salvo-stats-<pid>.jsonl` in $SALVO_SAMPLES_DIR; each line is a tally in the
summary's own form (salvo.common.summary) plus where it belongs:

    {"t": 1800000000, "label": "/login", "users": 20, "first_start": ..., "last_end": ...,
     "requests": n, "failures": n, "user_errors": n, "bytes": n, "latency_sum_ms": x,
     "histogram": "<HDR, 3 digits>", "series_histogram": "<HDR, 2 digits>",
     "codes": {"200": n}, "errors": {"message": n}}

In an open-model run (salvo.executor.tool.locust_arrivals) a line also has "intended_histogram"
(HDR, 3 digits: each request timed from its intended send time), and each second of
planned arrivals has a line of its own: {"t": second, "arrivals": {"planned": n, "sent": n, "dropped": n}}.

A gated JMeter in an open-model run writes `salvo-arrivals-<pid>.jsonl` beside its kpi.jtl
(jmeter/salvo-gate Arrivals.java): the same arrivals lines, and per second and label the
latencies from the intended send time as HDR bucket counts, {"t": s, "label": l,
"intended": {"<microseconds>": n}}, which `arrival_record` turns into a stats line that
adds only an "intended_histogram" (its requests are counted from kpi.jtl).

`t` is the epoch second the requests started in; `first_start`/`last_end` are
the earliest start and latest end among them (start skew is read from these).
A line is written once its second is over (SETTLE_SECONDS later, and at exit);
a request ending later than that still counts for its start second, in a further
line for the same second and label, so readers add lines up rather than replace.
The writer side (inside locust) imports only this module, the summary format and hdrh.
"""

from __future__ import annotations

import json
from pathlib import Path

from salvo.common.histogram import SERIES_DIGITS, SIGNIFICANT_DIGITS, LatencyHistogram
from salvo.common.summary import Tally

STATS_GLOB = "salvo-stats-*.jsonl"
ARRIVALS_GLOB = "salvo-arrivals-*.jsonl"  # a gated JMeter's open-model arrivals and intended latencies


def stats_path(folder: Path, pid: int) -> Path:
    return folder / f"salvo-stats-{pid}.jsonl"


class SecondOfLabel:
    """What one label did in one second, recorded cheaply: latencies counted by their HDR bucket.

    A request costs a few dictionary operations; the histograms are built once per
    second from the distinct values (hundreds, not thousands)."""

    __slots__ = ("first_start", "intended_latencies", "last_end", "latencies", "tally")

    def __init__(self) -> None:
        self.tally = Tally()
        self.latencies: dict[int, int] = {}  # microseconds, already at the histogram's precision -> count
        self.first_start: float | None = None
        self.last_end: float | None = None
        self.intended_latencies: dict[int, int] | None = None  # open model: from the intended send time

    def intended(self, elapsed_ms: float) -> None:
        """The last request's latency from its intended send time (open model)."""
        if self.intended_latencies is None:
            self.intended_latencies = {}
        micros = _bucket(elapsed_ms)
        self.intended_latencies[micros] = self.intended_latencies.get(micros, 0) + 1

    def request(self, start: float, elapsed_ms: float, code: str, success: bool, nbytes: int, message: str) -> None:
        tally = self.tally
        tally.requests += 1
        tally.bytes += nbytes
        tally.latency_sum_ms += elapsed_ms
        micros = _bucket(elapsed_ms)
        self.latencies[micros] = self.latencies.get(micros, 0) + 1
        if code:
            tally._count_codes(code, 1)
        if not success:
            tally.failures += 1
            tally._count_errors(message or f"failed ({code or 'no response'})", 1)
        if self.first_start is None or start < self.first_start:
            self.first_start = start
        end = start + elapsed_ms / 1000.0
        if self.last_end is None or end > self.last_end:
            self.last_end = end

    def user_error(self, message: str) -> None:
        self.tally.record_user_error(message)

    def line(self, second: int, label: str, users: int) -> str:
        full = LatencyHistogram(digits=SIGNIFICANT_DIGITS)
        series = LatencyHistogram(digits=SERIES_DIGITS)
        for micros, count in self.latencies.items():
            full.record_ms(micros / 1000.0, count)
            series.record_ms(micros / 1000.0, count)
        self.tally.histogram = full
        record = {
            "t": second,
            "label": label,
            "users": users,
            "first_start": self.first_start,
            "last_end": self.last_end,
            **self.tally.to_dict(),
            "series_histogram": series.encode(),
        }
        if self.intended_latencies is not None:
            intended = LatencyHistogram(digits=SIGNIFICANT_DIGITS)
            for micros, count in self.intended_latencies.items():
                intended.record_ms(micros / 1000.0, count)
            record["intended_histogram"] = intended.encode()
        return json.dumps(record, separators=(",", ":"))


def _bucket(elapsed_ms: float) -> int:
    """Microseconds at the histogram's precision (a dictionary key per HDR bucket)."""
    micros = int(elapsed_ms * 1000.0 + 0.5) or 1
    shift = micros.bit_length() - 11  # 2,048 sub-buckets: what 3 significant digits keep
    if shift > 0:
        micros = (micros >> shift) << shift
    return micros


def read_lines(data: bytes) -> tuple[list[dict], bytes, int]:
    """Complete lines of a stats file's new bytes: (records, the incomplete rest, malformed lines)."""
    *complete, rest = data.split(b"\n")
    records, malformed = [], 0
    for raw in complete:
        if not raw.strip():
            continue
        try:
            record = json.loads(raw)
        except ValueError:
            malformed += 1
            continue
        if isinstance(record, dict) and "t" in record:
            records.append(record)
        else:
            malformed += 1
    return records, rest, malformed


def arrival_record(record: dict) -> dict:
    """A line of a JMeter arrivals file as a stats line: an arrivals line as it is, intended latencies as a
    histogram (ValueError for a line that is neither)."""
    if "arrivals" in record:  # rebuilt from its checked fields: nothing else of the line reaches the tallies
        counts = record["arrivals"]
        if not isinstance(counts, dict) or isinstance(record.get("t"), bool):
            raise ValueError("arrivals is not an object of counts")
        checked = {name: int(counts.get(name, 0)) for name in ("planned", "sent", "dropped")}
        if any(count < 0 for count in checked.values()):
            raise ValueError("a negative arrival count")
        return {"t": int(record["t"]), "arrivals": checked}
    buckets = record.get("intended")
    if not isinstance(buckets, dict) or not isinstance(record.get("label"), str):
        raise ValueError("neither arrivals nor intended latencies")
    intended = LatencyHistogram(digits=SIGNIFICANT_DIGITS)
    for micros, count in buckets.items():
        intended.record_ms(int(micros) / 1000.0, int(count))
    return {"t": record["t"], "label": record["label"], "intended_histogram": intended.encode()}
