"""SALVO_<SECRET>_FILE: a secret read from a file (Docker/Kubernetes secrets), exclusive with the variable."""

from __future__ import annotations

import os

import pytest

from salvo.cli import main
from salvo.common.errors import ConfigError, ExitCode
from salvo.common.keys import generate_fleet_key
from salvo.common.settings import MAX_SECRET_FILE_BYTES, describe_variables, load, secret_fields
from salvo.controller.settings import ControllerSettings
from salvo.executor.settings import ExecutorSettings

VALID = {"SALVO_SCENARIO_URI": "s3://bucket/scenarios/test.yml", "SALVO_RESULTS_URI": "s3://bucket/results/"}


def test_the_fleet_key_is_read_from_its_file_without_the_trailing_newline(tmp_path):
    key = generate_fleet_key()
    secret = tmp_path / "fleet-key"
    secret.write_text(key + "\n")
    settings = load(ExecutorSettings, {**VALID, "SALVO_FLEET_KEY_FILE": str(secret)})
    assert settings.fleet_key.get_secret_value() == key


def test_a_windows_line_ending_is_stripped_too(tmp_path):
    key = generate_fleet_key()
    (tmp_path / "key").write_text(key + "\r\n", newline="")
    settings = load(
        ControllerSettings, {"SALVO_RESULTS_URI": "s3://bucket/results/", "SALVO_FLEET_KEY_FILE": str(tmp_path / "key")}
    )
    assert settings.fleet_key.get_secret_value() == key


def test_setting_both_the_secret_and_its_file_is_a_configuration_error(tmp_path):
    (tmp_path / "key").write_text(generate_fleet_key())
    with pytest.raises(ConfigError) as caught:
        load(
            ExecutorSettings,
            {**VALID, "SALVO_FLEET_KEY": generate_fleet_key(), "SALVO_FLEET_KEY_FILE": str(tmp_path / "key")},
        )
    assert caught.value.exit_code == ExitCode.CONFIG
    assert caught.value.problems == ["SALVO_FLEET_KEY and SALVO_FLEET_KEY_FILE are both set: set only one of them"]


def test_an_unreadable_secret_file_is_named(tmp_path):
    missing = tmp_path / "no-such-key"
    with pytest.raises(ConfigError) as caught:
        load(ExecutorSettings, {**VALID, "SALVO_FLEET_KEY_FILE": str(missing)})
    [problem] = caught.value.problems
    assert (
        problem.startswith(f"SALVO_FLEET_KEY_FILE={missing}: cannot read the secret file") and "No such file" in problem
    )


def test_an_invalid_secret_from_a_file_names_the_file_and_never_echoes_the_value(tmp_path):
    (tmp_path / "key").write_text("hunter2\n")
    with pytest.raises(ConfigError) as caught:
        load(ExecutorSettings, {**VALID, "SALVO_FLEET_KEY_FILE": str(tmp_path / "key")})
    [problem] = caught.value.problems
    assert problem.startswith(f"SALVO_FLEET_KEY_FILE={tmp_path / 'key'} holds an invalid value")
    assert "hunter2" not in problem


def test_an_empty_file_variable_counts_as_unset():
    settings = load(ExecutorSettings, {**VALID, "SALVO_FLEET_KEY_FILE": ""})
    assert settings.fleet_key is None


def test_every_secret_has_a_documented_file_variable():
    assert secret_fields(ExecutorSettings) == ["fleet_key", "executor_secret_key"]
    assert secret_fields(ControllerSettings) == ["fleet_key", "controller_secret_key"]
    for model in (ExecutorSettings, ControllerSettings):
        names = [name for name, _, _ in describe_variables(model)]
        for field in secret_fields(model):
            variable = "SALVO_" + field.upper()
            assert names[names.index(variable) + 1] == variable + "_FILE"


def test_the_cli_reports_both_set_as_one_line_and_exit_2(tmp_path, monkeypatch, capsys):
    (tmp_path / "key").write_text(generate_fleet_key())
    for name, value in {
        **VALID,
        "SALVO_FLEET_KEY": generate_fleet_key(),
        "SALVO_FLEET_KEY_FILE": str(tmp_path / "key"),
    }.items():
        monkeypatch.setenv(name, value)
    assert main(["executor"]) == ExitCode.CONFIG
    err = capsys.readouterr().err
    assert (
        err
        == "salvo: configuration error: SALVO_FLEET_KEY and SALVO_FLEET_KEY_FILE are both set: set only one of them\n"
    )


def test_a_secret_path_that_is_no_regular_file_is_refused_without_reading_it(tmp_path):
    """A FIFO would block the start until someone wrote to it; /dev/zero would be read until memory ran out."""
    fifo = tmp_path / "key-fifo"
    os.mkfifo(fifo, 0o600)
    for path in (fifo, tmp_path):
        with pytest.raises(ConfigError) as caught:
            load(ExecutorSettings, {**VALID, "SALVO_FLEET_KEY_FILE": str(path)})
        assert caught.value.problems == [f"SALVO_FLEET_KEY_FILE={path}: the secret file is not a regular file"]


def test_a_secret_file_larger_than_any_key_is_refused_unread(tmp_path):
    big = tmp_path / "app.log"
    big.write_bytes(generate_fleet_key().encode() + b"\n" * MAX_SECRET_FILE_BYTES)
    big.chmod(0o600)
    with pytest.raises(ConfigError) as caught:
        load(ExecutorSettings, {**VALID, "SALVO_FLEET_KEY_FILE": str(big)})
    assert caught.value.problems == [
        f"SALVO_FLEET_KEY_FILE={big}: the secret file is larger than {MAX_SECRET_FILE_BYTES} bytes: "
        "not a key (`salvo keygen` makes one)"
    ]
