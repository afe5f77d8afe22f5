"""Settings: every bad value is reported together, naming variable, value and expectation."""

from __future__ import annotations

import os
import sys

import pytest

from salvo.common.defaults import ANY_ADDRESS, COMMAND_PORT, STATUS_PORT
from salvo.common.errors import ConfigError, ExitCode
from salvo.common.s3location import S3Location
from salvo.common.settings import describe_variables, load, parse_duration
from salvo.executor.settings import ExecutorSettings

ENV_WRITES = {"os.putenv", "os.unsetenv"}
VALID = {"SALVO_SCENARIO_URI": "s3://bucket/scenarios/test.yml", "SALVO_RESULTS_URI": "s3://bucket/results/"}


def problems(**env: str) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        load(ExecutorSettings, {**VALID, **env})
    assert caught.value.exit_code == ExitCode.CONFIG
    return caught.value.problems


@pytest.mark.parametrize(
    ("variable", "value", "expected"),
    [
        ("SALVO_USERS", "many", "SALVO_USERS='many' is invalid"),
        ("SALVO_USERS", "0", "greater than or equal to 1"),
        ("SALVO_DURATION", "5 fortnights", "expected a duration"),
        ("SALVO_WAIT_TIMEOUT", "-3", "expected a duration"),
        ("SALVO_COMMAND_PORT", "70000", "TCP port from 1 to 65535"),
        ("SALVO_STATUS_PORT", "http", "valid integer"),
        ("SALVO_LOG_FORMAT", "xml", "'text' or 'json'"),
        ("SALVO_LOG_LEVEL", "chatty", "'DEBUG', 'INFO', 'WARNING' or 'ERROR'"),
        ("SALVO_MODE", "forever", "'oneshot' or 'service'"),
        ("SALVO_SCENARIO_URI", "https://example.invalid/x.yml", "S3 URI"),
        ("SALVO_SCENARIO_URI", "s3://bucket/", "S3 object URI"),
        ("SALVO_SCENARIO_URI", "s3://Bucket/x.yml", "bad bucket name 'Bucket' in S3 URI"),
        ("SALVO_DATA_URI", "s3://ab/rows.csv", "bad bucket name 'ab'"),
        ("SALVO_SCENARIO_URI", "s3://bucket/x.py\nforged log line", "control character in its key"),
        ("SALVO_RESULTS_URI", "s3://bucket/res\x1bults/", "control character in its key"),
        ("SALVO_RESULTS_URI", "s3://bucket/results", "ending in '/'"),
        ("SALVO_RESULTS_URI", "s3://bucket", "ending in '/'"),
        ("SALVO_TARGET_HOST", "localhost:8080", "base URL"),
        ("SALVO_EXECUTOR_ID", "has spaces", "letters, digits"),
        ("SALVO_SPAWN_RATE", "-1", "greater than 0"),
        ("SALVO_SPAWN_RATE", "inf", "finite number"),
        ("SALVO_SPAWN_RATE", "nan", "finite number"),
        ("SALVO_SPAWN_RATE", "1e300", "less than or equal to 1000000"),
        ("SALVO_USERS", "1000000000000", "less than or equal to 1000000"),
        ("SALVO_KILL_SWITCH_TIMEOUT", "0", "greater than 0"),
    ],
)
def test_bad_value_names_variable_value_and_expectation(variable, value, expected):
    found = problems(**{variable: value})
    assert len(found) == 1, found
    assert found[0].startswith(f"{variable}=") and expected in found[0], found[0]


def test_missing_required_variables_are_all_reported():
    with pytest.raises(ConfigError) as caught:
        load(ExecutorSettings, {})
    assert sorted(p.split()[0] for p in caught.value.problems) == ["SALVO_RESULTS_URI", "SALVO_SCENARIO_URI"]
    assert all("is required" in p for p in caught.value.problems)


def test_several_bad_values_reported_together_one_line_each():
    found = problems(SALVO_USERS="x", SALVO_DURATION="y", SALVO_MODE="z")
    assert len(found) == 3 and all("\n" not in p for p in found)


def test_spawn_rate_and_ramp_up_are_exclusive():
    assert any("SALVO_SPAWN_RATE and SALVO_RAMP_UP" in p for p in problems(SALVO_SPAWN_RATE="2", SALVO_RAMP_UP="10s"))


def test_secret_value_never_echoed():
    # an empty-looking but invalid secret must not appear in the message (validation via other field)
    found = problems(SALVO_FLEET_KEY="hunter2-very-secret", SALVO_USERS="bad")
    assert not any("hunter2" in p for p in found)


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("90", 90), ("90s", 90), ("250ms", 0.25), ("5m", 300), ("1h30m", 5400), ("1.5s", 1.5), (12, 12)],
)
def test_parse_duration(text, seconds):
    assert parse_duration(text) == pytest.approx(seconds)


def test_loading_a_mapping_reads_it_alone_and_never_writes_the_process_environment(monkeypatch):
    monkeypatch.setenv("SALVO_USERS", "7")  # the process's own: not part of the mapping, so not read
    writes: list[tuple] = []
    watching = [True]
    # os.environ's writes raise these audit events; a hook cannot be removed, so it stops recording
    sys.addaudithook(lambda event, args: writes.append((event, args)) if watching[0] and event in ENV_WRITES else None)
    try:
        settings = load(ExecutorSettings, dict(VALID, SALVO_DURATION="2m"))
        found = problems(SALVO_USERS="many")
    finally:
        watching[0] = False
    assert writes == []
    assert settings.users == 1 and settings.duration == 120
    assert found == [
        "SALVO_USERS='many' is invalid: Input should be a valid integer, unable to parse string as an integer "
        "(locustfile: concurrent users)"
    ]
    assert os.environ["SALVO_USERS"] == "7"


def test_s3_uris_arrive_parsed_and_print_as_given():
    settings = load(ExecutorSettings, dict(VALID, SALVO_DATA_URI="s3://data.bucket/rows/users.csv"))
    assert settings.scenario_uri == S3Location("bucket", "scenarios/test.yml")
    assert settings.results_uri == S3Location("bucket", "results/")
    assert settings.data_uri == S3Location("data.bucket", "rows/users.csv")
    assert str(settings.results_uri) == VALID["SALVO_RESULTS_URI"]
    assert settings.model_dump(mode="json")["scenario_uri"] == VALID["SALVO_SCENARIO_URI"]


def test_defaults_and_types():
    settings = load(ExecutorSettings, dict(VALID, SALVO_DURATION="2m", SALVO_LOG_LEVEL="debug"))
    assert settings.duration == 120 and settings.log_level.value == "DEBUG"
    assert (settings.command_port, settings.status_port) == (COMMAND_PORT, STATUS_PORT) == (50000, 50001)
    assert settings.wait_timeout == 3600 and settings.kill_switch_timeout == 30
    assert settings.mode.value == "oneshot" and settings.bind_host == ANY_ADDRESS


def test_every_variable_is_described():
    rows = describe_variables(ExecutorSettings)
    names = {name for name, _, _ in rows}
    assert {"SALVO_SCENARIO_URI", "SALVO_RESULTS_URI", "SALVO_FLEET_KEY", "SALVO_WAIT_TIMEOUT"} <= names
    assert all(meaning for _, _, meaning in rows)
