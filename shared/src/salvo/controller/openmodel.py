"""An open-model run's rate against its plan: what the verdict line says of a shortfall, and when it fails.

The plan is the arrivals the executors' schedules planned (each its exact share of
SALVO_FLEET_RATE, or its own SALVO_RATE); achieved are those sent. A shortfall
beyond SALVO_RATE_TOLERANCE fails the run; without it, one beyond NOTE_SHORTFALL
is only said (the run was not the load that was asked for).
"""

from __future__ import annotations

from dataclasses import dataclass

from salvo.controller.merge import ArrivalTotals

NOTE_SHORTFALL = 0.01  # without SALVO_RATE_TOLERANCE: a shortfall beyond 1 % is said in the verdict line


@dataclass(frozen=True)
class RateCheck:
    planned: int
    sent: int
    dropped: int
    worst: tuple[int, int, int] | None  # (second, planned, sent) of the second furthest below its plan
    tolerance: float | None  # a fraction (SALVO_RATE_TOLERANCE / 100), None when unset

    @classmethod
    def of(cls, arrivals: ArrivalTotals | None, tolerance_percent: float | None) -> RateCheck | None:
        if arrivals is None:
            return None
        worst = None
        for second, (planned, sent, _) in sorted(arrivals.seconds.items()):
            if planned and (worst is None or sent / planned < worst[2] / worst[1]):
                worst = (second, planned, sent)
        tolerance = None if tolerance_percent is None else tolerance_percent / 100
        return cls(arrivals.planned, arrivals.sent, arrivals.dropped, worst, tolerance)

    @property
    def shortfall(self) -> float:
        """The fraction of the planned arrivals not sent."""
        return 1 - self.sent / self.planned if self.planned else 0.0

    @property
    def failing(self) -> bool:
        return self.tolerance is not None and self.shortfall > self.tolerance

    def note(self) -> str | None:
        """The verdict line's words on the rate, when it fell short (of the tolerance, or of 1 % without one)."""
        limit = self.tolerance if self.tolerance is not None else NOTE_SHORTFALL
        if self.shortfall <= limit:
            return None
        worst = ""
        if self.worst is not None:
            second, planned, sent = self.worst
            worst = f"; worst second {second}: {sent} of {planned}"
        allowed = f" (SALVO_RATE_TOLERANCE={self.tolerance * 100:g}%)" if self.tolerance is not None else ""
        return (
            f"achieved rate short of plan: {self.sent} of {self.planned} planned arrivals sent, "
            f"{self.shortfall * 100:.2f} % short{allowed}, {self.dropped} dropped{worst}"
        )
