"""Every command field is bounded when decoded; a start within the bounds is one an armed executor can take."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from salvo.cli import build_parser
from salvo.common.clock import SystemClock
from salvo.common.errors import ProtocolError
from salvo.common.identifiers import IDENTIFIER_RULE, check_identifier
from salvo.common.protocol import ExecutorState, Start, decode_command, decode_status, encode
from salvo.common.settings import load
from salvo.controller.controller import new_run_id
from salvo.executor.presence.identity import _sanitise
from salvo.executor.run.executor import start_refusal
from salvo.executor.run.fleetplace import place_in
from salvo.executor.settings import ExecutorSettings
from salvo.executor.tool.gate import check_go
from tests.support.hostile import encoded, garbage_frames, hostile_others, hostile_starts, valid_starts

EXECUTOR = "exec-1"
NOW = 1_800_000_000.0
TOLERANCE, MAX_DELAY = 0.05, 3600.0
MANY = settings(
    max_examples=600, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large]
)
SETTINGS = load(
    ExecutorSettings,
    {"SALVO_SCENARIO_URI": "s3://bucket/scenarios/test.py", "SALVO_RESULTS_URI": "s3://bucket/results/"},
)


def refusal(start: Start) -> str:
    return start_refusal(start, EXECUTOR, set(), ExecutorState.ARMED, NOW, TOLERANCE, MAX_DELAY)


@MANY
@given(st.one_of(st.binary(max_size=500), garbage_frames()))
def test_any_bytes_decode_or_raise_protocol_error_only(frame):
    for decode in (decode_command, decode_status):
        try:
            decode(frame)
        except ProtocolError as exc:
            assert str(exc).startswith("undecodable frame (")  # noqa: PT017 -- a refusal is allowed, not required


@MANY
@given(hostile_starts(EXECUTOR, NOW))
def test_every_hostile_start_is_undecodable_or_refused(value):
    try:
        start = decode_command(encoded(value))
    except ProtocolError:
        return
    assert isinstance(start, Start)
    assert refusal(start), start


@MANY
@given(hostile_others())
def test_every_hostile_stop_heartbeat_dismiss_and_hello_is_undecodable(link_and_value):
    link, value = link_and_value
    with pytest.raises(ProtocolError):
        (decode_command if link == "command" else decode_status)(encoded(value))


@settings(MANY, max_examples=200)
@given(valid_starts(EXECUTOR, NOW, TOLERANCE, MAX_DELAY))
def test_a_start_within_the_bounds_is_obeyed_and_its_go_line_reads_back(start):
    assert decode_command(encode(start)) == start
    assert refusal(start) == ""
    for concurrencies in ([None], [7], [1_000_000]):
        check_go(place_in(start, EXECUTOR, SETTINGS, concurrencies).go(start.start_at))


@pytest.mark.parametrize(
    ("start_at", "reason"),
    [
        (NOW - 0.051, "start_at passed 51 ms ago (tolerance 50 ms): starting now would be out of sync"),
        (NOW + 3600.5, "start_at is 3600 s ahead, more than SALVO_MAX_START_DELAY=3600s allows"),
        (NOW + 365 * 86400, "start_at is 31536000 s ahead, more than SALVO_MAX_START_DELAY=3600s allows"),
        (NOW - 0.05, ""),
        (NOW + 3600, ""),
    ],
)
def test_start_at_must_fall_between_the_tolerance_and_the_max_delay(start_at, reason):
    assert refusal(Start(run_id="r", fleet=[EXECUTOR], start_at=start_at)) == reason


@MANY
@given(st.text())
def test_a_default_executor_id_always_follows_the_id_rule(name):
    assert check_identifier(_sanitise(name))


def test_a_generated_run_id_follows_the_id_rule():
    assert check_identifier(new_run_id(SystemClock()))


def test_salvo_stop_refuses_a_run_id_outside_the_rule(capsys):
    with pytest.raises(SystemExit) as exited:
        build_parser().parse_args(["stop", "--run-id", "../../x y"])
    assert exited.value.code == 2
    assert IDENTIFIER_RULE in capsys.readouterr().err
