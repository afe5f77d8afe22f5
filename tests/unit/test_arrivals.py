"""Open-model arrivals: the rate profile's grammar, its exact split across the fleet per second, arrival times."""

from __future__ import annotations

import itertools
from fractions import Fraction

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from salvo.common.arrivals import (
    BATCH_SECONDS,
    MAX_STAGES,
    ExecutorShare,
    Pattern,
    RateProfile,
    arrival_offsets,
    seeded_rng,
    split_second,
    wake_offset,
)


def test_a_constant_rate_holds_until_the_run_ends():
    profile = RateProfile.parse("300")
    assert profile.seconds is None
    assert profile.fleet_counts(5) == [300] * 5
    assert profile.fleet_arrivals(100_000) == 300


def test_steps_follow_each_other_and_end_at_zero():
    profile = RateProfile.parse("100:2s, 400:1m, 0:10s")
    assert profile.text() == "100:2s,400:60s,0:10s"
    assert profile.seconds == 72
    counts = profile.fleet_counts(75)
    assert counts[:2] == [100, 100] and counts[2:62] == [400] * 60 and counts[62:] == [0] * 13


def test_a_ramp_is_exact_over_time():
    profile = RateProfile.parse("0..100:10s,100")
    counts = profile.fleet_counts(12)
    assert sum(counts[:10]) == 500  # the ramp's area: (0 + 100) / 2 * 10
    assert counts[:10] == sorted(counts[:10])
    assert counts[10:] == [100, 100]
    assert profile.rate_at(5) == 50.0


def test_fractional_rates_lose_nothing():
    profile = RateProfile.parse("0.3:100s")
    assert sum(profile.fleet_counts(100)) == 30
    assert set(profile.fleet_counts(100)) == {0, 1}


def test_durations_take_units_and_text_round_trips():
    profile = RateProfile.parse("2.5:1500ms,7..9:0.5m")
    assert profile.seconds == Fraction(3, 2) + 30
    assert RateProfile.parse(profile.text()) == profile


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("", "got nothing"),
        ("fast", "expected RATE"),
        ("-5", "expected RATE"),
        ("100,200:5s", "only the last stage"),
        ("100..200", "a ramp needs a duration"),
        ("100:0s", "a duration from 1 ms"),
        ("100:8d", "a duration from 1 ms"),
        ("20000000", "exceeds"),
        (",".join(["1:1s"] * (MAX_STAGES + 1)), f"at most {MAX_STAGES}"),
        ("1" * 500, "characters"),
        ("1e3", "expected RATE"),
        ("nan", "expected RATE"),
    ],
)
def test_bad_profiles_are_refused_with_a_reason(text, reason):
    with pytest.raises(ValueError, match=reason):
        RateProfile.parse(text)


def test_split_second_gives_the_remainder_from_the_first_index_on():
    assert split_second(10, 3, 0) == [4, 3, 3]
    assert split_second(10, 3, 2) == [3, 3, 4]
    assert split_second(11, 3, 2) == [4, 3, 4]


@settings(deadline=None, max_examples=60)
@given(
    rates=st.lists(st.integers(0, 5000), min_size=1, max_size=5),
    size=st.integers(1, 40),
    seconds=st.integers(1, 30),
)
def test_every_second_sums_exactly_and_shares_stay_fair(rates, size, seconds):
    profile = RateProfile.parse(",".join(f"{rate}:{1 + i}s" for i, rate in enumerate(rates)) + f",{rates[0]}")
    fleet = profile.fleet_counts(seconds)
    shares = [list(itertools.islice(ExecutorShare(profile, i, size).counts(), seconds)) for i in range(size)]
    for k in range(seconds):
        column = [share[k] for share in shares]
        assert sum(column) == fleet[k]  # exact in every second, not only on average
        assert all(abs(part - fleet[k] / size) < 1 for part in column)  # within one of rate/n
    totals = [sum(share) for share in shares]
    assert max(totals) - min(totals) <= 1  # the remainder goes round: nobody is ahead over time


def test_a_remainder_of_one_goes_round_the_fleet():
    profile = RateProfile.parse("1")
    shares = [list(itertools.islice(ExecutorShare(profile, i, 3).counts(), 6)) for i in range(3)]
    assert shares == [[1, 0, 0, 1, 0, 0], [0, 1, 0, 0, 1, 0], [0, 0, 1, 0, 0, 1]]


def test_uniform_offsets_interleave_across_the_fleet():
    fleet = sorted(offset for index in range(3) for offset in arrival_offsets(100, index, 3, Pattern.UNIFORM))
    gaps = [b - a for a, b in itertools.pairwise(fleet)]
    assert len(fleet) == 300 and all(abs(gap - 1 / 300) < 1e-9 for gap in gaps)
    assert fleet[0] >= 0 and fleet[-1] < 1


def test_poisson_offsets_are_seeded_per_run_and_executor():
    first = arrival_offsets(50, 1, 3, Pattern.POISSON, seeded_rng("run-1", 1))
    again = arrival_offsets(50, 1, 3, Pattern.POISSON, seeded_rng("run-1", 1))
    other = arrival_offsets(50, 2, 3, Pattern.POISSON, seeded_rng("run-1", 2))
    assert first == again != other
    assert first == sorted(first) and all(0 <= t < 1 for t in first) and len(first) == 50


def test_sparse_arrivals_are_sent_at_their_own_time():
    count = int(1 / BATCH_SECONDS)  # one arrival per batch: nothing to batch
    for pattern, rng in ((Pattern.UNIFORM, None), (Pattern.POISSON, seeded_rng("run-1", 0))):
        offsets = arrival_offsets(count, 0, 1, pattern, rng)
        assert [wake_offset(offset, count) for offset in offsets] == offsets


@pytest.mark.parametrize("pattern", [Pattern.UNIFORM, Pattern.POISSON])
def test_dense_arrivals_wake_on_the_batch_grid_and_never_leave_their_second(pattern):
    count = 3000
    offsets = arrival_offsets(count, 1, 3, pattern, seeded_rng("run-1", 1))
    pairs = [(offset, wake_offset(offset, count)) for offset in offsets]
    wakes = [wake for _, wake in pairs]
    assert all(offset <= wake < offset + BATCH_SECONDS and wake < 1 for offset, wake in pairs)
    tail = [offset for offset, wake in pairs if wake == offset]
    assert all(offset > 1 - BATCH_SECONDS for offset in tail)  # only the last ones, sent before the second ends
    grid = {round(wake / BATCH_SECONDS, 6) for wake in wakes if wake not in tail}
    assert all(point == int(point) for point in grid)
    assert len(grid) < count / 4  # a wake-up serves several arrivals: what the batching is for
