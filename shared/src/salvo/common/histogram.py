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
import sys
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
_SHAPES: dict[int, tuple[int, int]] = {}  # significant digits -> (counts_len, word_size) of salvo's histograms
_EXTERNAL = struct.Struct(">II")  # compression cookie, length of the zlib stream after it
_PAYLOAD = struct.Struct(">IIIIQQ")  # encoding cookie, varint length, offset, significant figures, lowest, highest


class UndecodableHistogram(ValueError):
    """An encoded histogram that is not HdrHistogram's compressed V2 form of salvo's shape.

    It came from a peer (a summary.json or a live message): the peer's output is damaged or forged;
    its results are left out. Check that executor's version and logs."""


class LatencyHistogram:
    """Latencies recorded in microseconds; values past an hour are clamped and counted."""

    def __init__(self, hdr: HdrHistogram | None = None, clamped: int = 0, digits: int = SIGNIFICANT_DIGITS):
        self._hdr = hdr or HdrHistogram(LOWEST_US, HIGHEST_US, digits)
        self.clamped = clamped

    @property
    def digits(self) -> int:
        return self._hdr.significant_figures

    def record_ms(self, value_ms: float, count: int = 1) -> None:
        micros = max(LOWEST_US, round(value_ms * 1000))
        if micros > HIGHEST_US:
            micros = HIGHEST_US
            self.clamped += count
        self._hdr.record_value(micros, count)

    def merge(self, other: LatencyHistogram) -> LatencyHistogram:
        if other.count:
            self._hdr.add(other._hdr)
        self.clamped += other.clamped
        return self

    def reset(self) -> LatencyHistogram:
        """Empty again, to be reused: an HdrHistogram is a reference cycle (its encoder), so one made and dropped
        per executor waits for the garbage collector, and in numbers (salvo.controller.merge)."""
        hdr = self._hdr
        ctypes.memset(ctypes.addressof(hdr.counts), 0, ctypes.sizeof(hdr.counts))
        hdr.total_count = 0
        hdr.min_value = sys.maxsize
        hdr.max_value = 0
        self.clamped = 0
        return self

    def merge_encoded(self, text: str | None) -> LatencyHistogram:
        """Add an encoded histogram of the same precision straight into this one's counts.

        hdrh would build a histogram object per decode (~50 µs, mostly set-up); merging the
        per-second series of a large fleet decodes tens of thousands of them."""
        if not text:
            return self
        hdr = self._hdr
        try:
            data = zlib.decompress(base64.b64decode(text)[codec.ext_header_size :])
            digits, lowest, highest = _HEADER.unpack_from(data, 12)
        except (ValueError, zlib.error, struct.error):
            data = None
        if data is None or (digits, lowest, highest) != (
            hdr.significant_figures,
            hdr.lowest_trackable_value,
            hdr.highest_trackable_value,
        ):
            hdr.add(HdrHistogram.decode(text.encode()))  # another precision, or odd: hdrh's general path
            return self
        scratch = self._scratch()
        found = codec.decode(data, codec.payload_header_size, ctypes.addressof(scratch), hdr.counts_len, hdr.word_size)
        if found["total"]:
            codec.add_array(ctypes.addressof(hdr.counts), ctypes.addressof(scratch), hdr.counts_len, hdr.word_size)
            hdr.total_count += found["total"]
            hdr.min_value = min(hdr.min_value, hdr.get_value_from_index(found["min_nonzero_index"]))
            hdr.max_value = max(hdr.max_value, hdr.get_value_from_index(found["max_nonzero_index"]))
            ctypes.memset(scratch, 0, ctypes.sizeof(scratch))
        return self

    @classmethod
    def encoded_count(cls, text: str, digits: int = SIGNIFICANT_DIGITS) -> int:
        """The number of values in an encoded histogram of salvo's shape at `digits`, checked by decoding
        it in full (bounded: no allocation follows the text's claims); UndecodableHistogram otherwise.

        A histogram that passes merges on merge_encoded's fast path; '' is the empty histogram."""
        if not text:
            return 0
        if not isinstance(text, str) or not text.isascii():
            raise UndecodableHistogram("not base64 text")
        try:
            raw = base64.b64decode(text, validate=True)
        except ValueError:
            raise UndecodableHistogram("not base64 text") from None
        if digits not in _SHAPES:
            hdr = cls(digits=digits)._hdr
            _SHAPES[digits] = (hdr.counts_len, hdr.word_size)
        counts_len, word_size = _SHAPES[digits]
        if len(raw) < _EXTERNAL.size:
            raise UndecodableHistogram("too short for a histogram")
        cookie, length = _EXTERNAL.unpack_from(raw)
        if cookie & ~0xF0 != codec.V2_COMPRESSION_COOKIE_BASE or length != len(raw) - _EXTERNAL.size:
            raise UndecodableHistogram("not an HdrHistogram V2 compressed encoding")
        limit = codec.payload_header_size + counts_len * 9  # a varint takes 9 bytes at most
        try:
            inflater = zlib.decompressobj()
            data = inflater.decompress(raw[_EXTERNAL.size :], limit + 1)
        except zlib.error:
            raise UndecodableHistogram("its compressed data is damaged") from None
        if len(data) > limit or inflater.unconsumed_tail:
            raise UndecodableHistogram("its data is larger than any histogram of its shape")
        if len(data) < codec.payload_header_size:
            raise UndecodableHistogram("its data is truncated")
        cookie, varints, _, found_digits, lowest, highest = _PAYLOAD.unpack_from(data)
        if cookie & ~0xF0 != codec.V2_ENCODING_COOKIE_BASE or codec.get_word_size_in_bytes_from_cookie(cookie) != 9:
            raise UndecodableHistogram("not an HdrHistogram V2 encoding")
        if (found_digits, lowest, highest) != (digits, LOWEST_US, HIGHEST_US):
            raise UndecodableHistogram(
                f"its shape is {found_digits} digits, {lowest}-{highest} us; expected {digits} digits, "
                f"{LOWEST_US}-{HIGHEST_US} us"
            )
        if varints != len(data) - codec.payload_header_size:
            raise UndecodableHistogram("its length does not match its data")
        key = (counts_len, word_size)
        if key not in _SCRATCH:
            _SCRATCH[key] = (codec.payload_counter_ctype[word_size] * counts_len)()
        scratch = _SCRATCH[key]
        try:
            found = codec.decode(data, codec.payload_header_size, ctypes.addressof(scratch), counts_len, word_size)
        except (ValueError, OverflowError, IndexError):  # hdrh: IndexError when the counts overrun the array
            ctypes.memset(scratch, 0, ctypes.sizeof(scratch))
            raise UndecodableHistogram("its counts do not decode") from None
        if found["total"]:  # clear only what the decode wrote
            low, high = found["min_nonzero_index"], found["max_nonzero_index"]
            ctypes.memset(ctypes.addressof(scratch) + low * word_size, 0, (high - low + 1) * word_size)
        if found["total"] < 0:
            raise UndecodableHistogram("its counts are negative")
        return found["total"]

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
        """(indices of the non-empty buckets, running totals up to each): scanned at C speed.

        Only the buckets from the smallest value's to the largest's are scanned when they hold every count (a
        fleet's per-executor figures ask this once per executor, and most of the array lies outside); the whole
        array otherwise."""
        counts, hdr = self._counts(), self._hdr
        if hdr.total_count and 0 < hdr.min_value <= hdr.max_value:
            low, high = hdr._counts_index_for(hdr.min_value), hdr._counts_index_for(hdr.max_value)
            if 0 <= low <= high < len(counts):
                window = counts[low : high + 1]
                indices = [low + i for i in itertools.compress(range(len(window)), window)]
                cumulative = list(itertools.accumulate(counts[i] for i in indices))
                if cumulative and cumulative[-1] == hdr.total_count:
                    return indices, cumulative
        indices = list(itertools.compress(range(len(counts)), counts))
        return indices, list(itertools.accumulate(counts[i] for i in indices))

    def percentile_ms(self, percentile: float) -> float | None:
        """The value at rank max(1, round(p/100 * count)); None when empty."""
        return self.percentiles_ms([percentile])[percentile]

    def percentiles_ms(self, percentiles: list[float]) -> dict[float, float | None]:
        if self.is_empty:
            return dict.fromkeys(percentiles)
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
    def stdev_ms(self) -> float | None:
        """HDR's standard deviation (bucket values); None when empty."""
        return None if self.is_empty else self._hdr.get_stddev() / 1000

    @property
    def mean_ms(self) -> float | None:
        """HDR's mean (median-equivalent value of each recorded bucket), read only where counts are."""
        if self.is_empty:
            return None
        hdr, counts = self._hdr, self._counts()
        total = sum(
            counts[index]
            * hdr._hdr_median_equiv_value(hdr.get_highest_equivalent_value(hdr.get_value_from_index(index)))
            for index in self._recorded()[0]
        )
        return total / hdr.get_total_count() / 1000

    def encode(self) -> str:
        """HdrHistogram's standard compressed V2 encoding (base64); '' when empty."""
        return "" if self.is_empty else self._hdr.encode().decode()

    @classmethod
    def decode(cls, text: str | None, digits: int = SIGNIFICANT_DIGITS) -> LatencyHistogram:
        if not text:
            return cls(digits=digits)
        return cls(HdrHistogram.decode(text.encode()))
