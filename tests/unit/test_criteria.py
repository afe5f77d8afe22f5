"""SALVO_CRITERIA: parsed before any load, evaluated on merged numbers."""

from __future__ import annotations

import pytest

from salvo.controller.criteria import CriteriaSyntaxError, evaluate, parse


def test_parses_units_into_ms_and_fractions():
    parsed = parse("p95<500ms; p99<1s; error_rate<1%; rps>=100; avg<=250")
    assert [(c.metric, c.op, c.threshold) for c in parsed] == [
        ("p95", "<", 500),
        ("p99", "<", 1000),
        ("error_rate", "<", 0.01),
        ("rps", ">=", 100),
        ("avg", "<=", 250),
    ]


def test_label_prefix_allows_colons_and_spaces_in_the_label():
    (criterion,) = parse("label:GET http://api:8080/login:p95<300ms")
    assert criterion.label == "GET http://api:8080/login" and criterion.metric == "p95"


@pytest.mark.parametrize(
    "text",
    ["p95 less than 5", "p42<1s", "error_rate<5ms", "p95<10%", "rps>=100ms", "label:p95<1", "latency<1s", "p95<"],
)
def test_unparsable_criteria_name_the_culprit(text):
    with pytest.raises(CriteriaSyntaxError) as caught:
        parse(f"rps>1; {text}")
    assert repr(text) in str(caught.value) or text.split(":")[0] in str(caught.value)


def test_evaluation_pass_fail_and_missing_label():
    criteria = parse("p95<500ms; error_rate<1%; label:/slow:p99<100ms; label:/absent:p50<1")
    overall = {"p95": 420.0, "error_rate": 0.02}
    labels = {"/slow": {"p99": 150.0}}
    results = evaluate(criteria, overall, labels)
    assert [r.passed for r in results] == [True, False, False, False]
    assert "measured 2.00 %" in results[1].description
    assert "no data" in results[3].description


def test_empty_criteria():
    assert parse("") == () and parse(None) == () and parse(" ; ") == ()
