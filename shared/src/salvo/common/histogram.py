"""Mergeable latency histograms: HDR, microseconds, 3 significant digits.

Percentiles of merged histograms are exact up to HDR's precision (0.1 %), unlike
the average of per-machine percentiles that other tools report.
"""

from __future__ import annotations

from hdrh.histogram import HdrHistogram

LOWEST_US = 1
HIGHEST_US = 3_600_000_000  # one hour
SIGNIFICANT_DIGITS = 3


class LatencyHistogram:
    """Latencies recorded in microseconds; values past an hour are clamped and counted."""

    def __init__(self, hdr: HdrHistogram | None = None, clamped: int = 0):
        self._hdr = hdr or HdrHistogram(LOWEST_US, HIGHEST_US, SIGNIFICANT_DIGITS)
        self.clamped = clamped

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

    @property
    def count(self) -> int:
        return self._hdr.get_total_count()

    @property
    def is_empty(self) -> bool:
        return self.count == 0

    def percentile_ms(self, percentile: float) -> float | None:
        """The value at rank max(1, round(p/100 * count)); None when empty."""
        if self.is_empty:
            return None
        return self._hdr.get_value_at_percentile(percentile) / 1000

    def percentiles_ms(self, percentiles: list[float]) -> dict[float, float | None]:
        if self.is_empty:
            return {p: None for p in percentiles}
        values = self._hdr.get_percentile_to_value_dict(percentiles)
        return {p: values[p] / 1000 for p in percentiles}

    @property
    def min_ms(self) -> float | None:
        return None if self.is_empty else self._hdr.get_min_value() / 1000

    @property
    def max_ms(self) -> float | None:
        return None if self.is_empty else self._hdr.get_highest_equivalent_value(self._hdr.get_max_value()) / 1000

    @property
    def mean_ms(self) -> float | None:
        return None if self.is_empty else self._hdr.get_mean_value() / 1000

    def encode(self) -> str:
        """HdrHistogram's standard compressed V2 encoding (base64); '' when empty."""
        return "" if self.is_empty else self._hdr.encode().decode()

    @classmethod
    def decode(cls, text: str | None) -> "LatencyHistogram":
        if not text:
            return cls()
        return cls(HdrHistogram.decode(text.encode()))
