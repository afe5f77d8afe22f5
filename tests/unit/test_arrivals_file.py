"""A JMeter gate's arrivals file line becomes a stats record from its checked fields only; a damaged one is refused."""

from __future__ import annotations

import pytest

from salvo.executor.tool.statsfile import arrival_record


def test_an_arrivals_line_keeps_only_its_counts():
    line = {"t": 12, "arrivals": {"planned": 5, "sent": 4, "dropped": 1, "extra": 9}, "requests": 1000}
    assert arrival_record(line) == {"t": 12, "arrivals": {"planned": 5, "sent": 4, "dropped": 1}}


@pytest.mark.parametrize(
    "line",
    [
        {"t": 1, "arrivals": [5, 4, 1]},
        {"t": 1, "arrivals": {"planned": -1}},
        {"t": 1, "arrivals": {"planned": "many"}},
        {"t": True, "arrivals": {"planned": 1}},
        {"arrivals": {"planned": 1}},
        {"t": 1, "label": "/", "intended": {"x": 1}},
        {"t": 1, "intended": {"1000": 1}},
    ],
)
def test_a_damaged_line_is_refused(line):
    with pytest.raises((ValueError, TypeError, KeyError)):
        arrival_record(line)
