"""The locust-side recorder writes half-way through each second, never across a second's end."""

from __future__ import annotations

import pytest

from salvo.executor.tool.locust_recorder import FLUSH_PHASE, until_flush


@pytest.mark.parametrize(
    ("now", "wait"),
    [(1_800_000_000.3, 0.2), (1_800_000_000.7, 0.8), (1_800_000_000.5, 1.0), (1_800_000_000.0, 0.5)],
)
def test_the_flush_waits_for_the_middle_of_a_second(now: float, wait: float) -> None:
    assert until_flush(now) == pytest.approx(wait, abs=1e-6)
    assert (now + until_flush(now)) % 1 == pytest.approx(FLUSH_PHASE, abs=1e-6)


def test_a_late_flush_does_not_creep_towards_the_second_s_end() -> None:
    """Each flush takes time; the next one still lands on the phase, so its stall never straddles a second."""
    now = 1_800_000_000.0
    for _ in range(100):
        now += until_flush(now)
        assert now % 1 == pytest.approx(FLUSH_PHASE, abs=1e-6)
        now += 0.03  # the flush itself
