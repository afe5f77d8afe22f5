"""Mergeable latency histograms: HDR, microseconds, 3 significant digits (2 for the per-second series).

Percentiles of merged histograms are exact up to HDR's precision (0.1 %), unlike
the average of per-machine percentiles that other tools report. Percentiles are
read from the counts array with C-speed scans (the hdrh package walks it in
Python, a millisecond or more per question); they give the values hdrh gives.
"""

from __future__ import annotations

import base64
import bisect
import ctypes
import itertools
import struct
import zlib

from hdrh import codec
from hdrh.histogram import HdrHistogram

LOWEST_US = 1
HIGHEST_US = 3_600_000_000  # one hour
SIGNIFICANT_DIGITS = 3
SERIES_DIGITS = 2  # per-second charts: 1 % is plenty, and merging thousands of them must be fast
_HEADER = struct.Struct(">IQQ")  # significant figures, lowest and highest trackable value, 12 bytes into the payload
_FORMATS = {2: "H", 4: "I", 8: "Q"}  # hdrh counter word sizes as memoryview formats
_SCRATCH: dict[tuple[int, int], ctypes.Array] = {}  # one decode buffer per shape (the merge is single-threaded)


class LatencyHistogram:
    """Latencies recorded in microseconds; values past an hour are clamped and counted."""

    def __init__(self, hdr: HdrHistogram | None = None, clamped: int = 0, digits: int = SIGNIFICANT_DIGITS):
        self._hdr = hdr or HdrHistogram(LOWEST_US, HIGHEST_US, digits)
        self.clamped = clamped

    @property
    def digits(self) -> int:
        return self._hdr.significant_figures

    def record_ms(self, value_ms: float, count: int = 1) -> None:
        micros = max(LOWEST_US, int(round(value_ms * 1000)))
        if micros > HIGHEST_US:
            micros = HIGHEST_US
            self.clamped += count
        self._hdr.record_value(micros, count)

    def merge(self, other: "LatencyHistogram") -> "LatencyHistogram":
        if other.count:
            self._hdr.add(other._hdr)
        self.clamped += other.clamped
        return self

    def merge_encoded(self, text: str | None) -> "LatencyHistogram":
        """Add an encoded histogram of the same precision straight into this one's counts.

        hdrh would build a histogram object per decode (~50 µs, mostly set-up); merging the
        per-second series of a large fleet decodes tens of thousands of them."""
        if not text:
            return self
        hdr = self._hdr
        try:
            data = zlib.decompress(base64.b64decode(text)[codec.ext_header_size:])
            digits, lowest, highest = _HEADER.unpack_from(data, 12)
        except (ValueError, zlib.error, struct.error):
            data = None
        if data is None or (digits, lowest, highest) != (
                hdr.significant_figures, hdr.lowest_trackable_value, hdr.highest_trackable_value):
            hdr.add(HdrHistogram.decode(text.encode()))  # another precision, or odd: hdrh's general path
            return self
        scratch = self._scratch()
        found = codec.decode(data, codec.payload_header_size, ctypes.addressof(scratch), hdr.counts_len,
                             hdr.word_size)
        if found["total"]:
            codec.add_array(ctypes.addressof(hdr.counts), ctypes.addressof(scratch), hdr.counts_len, hdr.word_size)
            hdr.total_count += found["total"]
            hdr.min_value = min(hdr.min_value, hdr.get_value_from_index(found["min_nonzero_index"]))
            hdr.max_value = max(hdr.max_value, hdr.get_value_from_index(found["max_nonzero_index"]))
            ctypes.memset(scratch, 0, ctypes.sizeof(scratch))
        return self

    def _scratch(self):
        key = (self._hdr.counts_len, self._hdr.word_size)
        if key not in _SCRATCH:
            _SCRATCH[key] = (codec.payload_counter_ctype[self._hdr.word_size] * self._hdr.counts_len)()
        return _SCRATCH[key]

    @property
    def count(self) -> int:
        return self._hdr.get_total_count()

    @property
    def is_empty(self) -> bool:
        return self.count == 0

    def _counts(self) -> memoryview:
        hdr = self._hdr
        length = min(hdr.counts_len, hdr.encoder.payload.counts_len)
        return memoryview(hdr.counts).cast("B").cast(_FORMATS[hdr.word_size])[:length]

    def _recorded(self) -> tuple[list[int], list[int]]:
        """(indices of the non-empty buckets, running totals up to each): scanned at C speed."""
        counts = self._counts()
        indices = list(itertools.compress(range(len(counts)), counts))
        return indices, list(itertools.accumulate(counts[i] for i in indices))

    def percentile_ms(self, percentile: float) -> float | None:
        """The value at rank max(1, round(p/100 * count)); None when empty."""
        return self.percentiles_ms([percentile])[percentile]

    def percentiles_ms(self, percentiles: list[float]) -> dict[float, float | None]:
        if self.is_empty:
            return {p: None for p in percentiles}
        hdr = self._hdr
        indices, cumulative = self._recorded()
        values = {}
        for p in percentiles:
            rank = bisect.bisect_left(cumulative, hdr.get_target_count_at_percentile(p))
            value = hdr.get_value_from_index(indices[min(rank, len(indices) - 1)])
            equivalent = hdr.get_highest_equivalent_value if p else hdr.get_lowest_equivalent_value
            values[p] = equivalent(value) / 1000
        return values

    @property
    def min_ms(self) -> float | None:
        return None if self.is_empty else self._hdr.get_min_value() / 1000

    @property
    def max_ms(self) -> float | None:
        return None if self.is_empty else self._hdr.get_highest_equivalent_value(self._hdr.get_max_value()) / 1000

    @property
    def mean_ms(self) -> float | None:
        """HDR's mean (median-equivalent value of each recorded bucket), read only where counts are."""
        if self.is_empty:
            return None
        hdr, counts = self._hdr, self._counts()
        total = sum(
            counts[index] * hdr._hdr_median_equiv_value(hdr.get_highest_equivalent_value(hdr.get_value_from_index(index)))
            for index in itertools.compress(range(len(counts)), counts)
        )
        return total / hdr.get_total_count() / 1000

    def encode(self) -> str:
        """HdrHistogram's standard compressed V2 encoding (base64); '' when empty."""
        return "" if self.is_empty else self._hdr.encode().decode()

    @classmethod
    def decode(cls, text: str | None, digits: int = SIGNIFICANT_DIGITS) -> "LatencyHistogram":
        if not text:
            return cls(digits=digits)
        return cls(HdrHistogram.decode(text.encode()))
