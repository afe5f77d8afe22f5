"""The `salvo` command as users run it: exit codes and one-line errors, never a traceback."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from tests.support.executors import REPO

pytestmark = pytest.mark.integration


def salvo(*args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    base = {k: v for k, v in os.environ.items() if not k.startswith("SALVO_")}
    return subprocess.run(
        [sys.executable, "-m", "salvo.cli", *args],
        env={**base, **(env or {})},
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_executor_with_bad_environment_exits_2_listing_every_problem():
    result = salvo(
        "executor", env={"SALVO_USERS": "lots", "SALVO_FLEET_KEY": "topsecret-value-0123456789", "SALVO_MODE": "x"}
    )
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert "Traceback" not in result.stderr
    assert any("SALVO_USERS='lots'" in line for line in lines)
    assert any("SALVO_SCENARIO_URI is required" in line for line in lines)
    assert any("SALVO_MODE='x'" in line for line in lines)
    assert "topsecret-value" not in result.stderr + result.stdout
    assert any("SALVO_FLEET_KEY='***'" in line and "at least 32 random bytes" in line for line in lines)


def test_config_lists_every_executor_variable():
    result = salvo("config", "executor")
    assert result.returncode == 0
    for name in ("SALVO_SCENARIO_URI", "SALVO_WAIT_TIMEOUT", "SALVO_KILL_SWITCH_TIMEOUT", "SALVO_FLEET_KEY"):
        assert name in result.stdout


def test_health_is_unhealthy_without_an_executor(tmp_path):
    result = salvo("health", env={"SALVO_WORK_DIR": str(tmp_path)})
    assert result.returncode == 1
    assert "no executor state" in result.stdout


def test_keygen_prints_a_fresh_block_per_role():
    first, second = salvo("keygen"), salvo("keygen")
    assert first.returncode == 0 and first.stdout != second.stdout
    blocks = first.stdout.strip().split("\n\n")
    assert [block.splitlines()[0] for block in blocks] == ["# controller", "# executors"]
    names = [[line.split("=", 1)[0] for line in block.splitlines()[1:]] for block in blocks]
    assert names == [
        ["SALVO_CONTROLLER_SECRET_KEY", "SALVO_EXECUTOR_PUBLIC_KEY"],
        ["SALVO_EXECUTOR_SECRET_KEY", "SALVO_CONTROLLER_PUBLIC_KEY"],
    ]
    only = salvo("keygen", "--role", "executors").stdout.splitlines()
    assert only[0] == "# executors" and len(only) == 3 and "CONTROLLER_SECRET" not in "".join(only)
    fleet_key = salvo("keygen", "--fleet-key").stdout.strip()
    assert len(fleet_key) >= 43 and "=" not in fleet_key


def test_the_light_health_check_agrees_and_imports_no_settings_model(tmp_path):
    from salvo.common.states import ExecutorState
    from salvo.executor.presence.statefile import StateFile

    probe = [
        sys.executable,
        "-c",
        "import sys, salvo.executor.presence.health as h; code = h.main(); "
        "print(sorted(m for m in ('pydantic', 'zmq', 'boto3') if m in sys.modules)); sys.exit(code)",
    ]
    env = {**os.environ, "SALVO_WORK_DIR": str(tmp_path)}
    missing = subprocess.run(probe, env=env, capture_output=True, text=True, timeout=30)
    assert missing.returncode == 1 and missing.stdout.splitlines() == [
        f"no executor state at {tmp_path / 'state.json'}",
        "[]",
    ]  # one line, nothing heavy imported
    StateFile(tmp_path / "state.json").write(ExecutorState.ARMED, executor_id="exec-7")  # this process: alive
    armed = subprocess.run(probe, env=env, capture_output=True, text=True, timeout=30)
    assert armed.returncode == 0 and armed.stdout.splitlines()[0] == "executor exec-7 is armed"
    assert salvo("health", env={"SALVO_WORK_DIR": str(tmp_path)}).stdout.strip() == "executor exec-7 is armed"
