"""The shared open-model vectors (tests/vectors/arrivals.json), which the JMeter gate's RateProfileTest also runs:
Python and Java must split a rate, decode its GO line and place uniform arrivals identically."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from salvo.common.arrivals import ExecutorShare, Pattern, RateProfile, arrival_offsets
from salvo.executor.tool.gate import decode_go

VECTORS = json.loads((Path(__file__).parents[1] / "vectors" / "arrivals.json").read_text())


@pytest.mark.parametrize("case", VECTORS["splits"], ids=lambda case: f"{case['profile']}/{case['members']}")
def test_each_executors_share_is_the_vectors(case):
    profile = RateProfile.parse(case["profile"])
    assert profile.text() == case["canonical"]
    seconds = len(case["counts"][0])
    for index, expected in enumerate(case["counts"]):
        counts = ExecutorShare(profile, index, case["members"]).counts()
        assert [next(counts) for _ in range(seconds)] == expected
    fleet = [sum(column) for column in zip(*case["counts"], strict=True)]
    assert fleet == profile.fleet_counts(seconds)  # the shares add up to the fleet's count every second


@pytest.mark.parametrize("case", VECTORS["go_lines"], ids=lambda case: case["line"][-40:])
def test_go_lines_carry_the_open_model_the_vectors_name(case):
    model = decode_go(case["line"]).open_model
    assert model is not None
    assert (model.profile.text(), model.position, model.members) == (case["profile"], case["position"], case["members"])
    assert (model.pattern is Pattern.POISSON, model.max_users, model.max_lateness) == (
        case["poisson"],
        case["max_users"],
        case["max_lateness"],
    )
    counts = model.share().counts()
    assert [next(counts) for _ in case["counts"]] == case["counts"]


@pytest.mark.parametrize("case", VECTORS["uniform_offsets"], ids=str)
def test_uniform_offsets_are_the_vectors(case):
    assert arrival_offsets(case["count"], case["index"], case["size"], Pattern.UNIFORM) == case["offsets"]


@pytest.mark.parametrize("text", VECTORS["invalid_profiles"])
def test_invalid_profiles_are_refused(text):
    with pytest.raises(ValueError):
        RateProfile.parse(text)
