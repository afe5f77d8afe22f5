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
        [sys.executable, "-m", "salvo.cli", *args], env={**base, **(env or {})}, cwd=REPO,
        capture_output=True, text=True, timeout=60,
    )


def test_executor_with_bad_environment_exits_2_listing_every_problem():
    result = salvo("executor", env={"SALVO_USERS": "lots", "SALVO_FLEET_KEY": "topsecret-value", "SALVO_MODE": "x"})
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert "Traceback" not in result.stderr
    assert any("SALVO_USERS='lots'" in line for line in lines)
    assert any("SALVO_SCENARIO_URI is required" in line for line in lines)
    assert any("SALVO_MODE='x'" in line for line in lines)
    assert "topsecret-value" not in result.stderr + result.stdout


def test_config_lists_every_executor_variable():
    result = salvo("config", "executor")
    assert result.returncode == 0
    for name in ("SALVO_SCENARIO_URI", "SALVO_WAIT_TIMEOUT", "SALVO_KILL_SWITCH_TIMEOUT", "SALVO_FLEET_KEY"):
        assert name in result.stdout


def test_health_is_unhealthy_without_an_executor(tmp_path):
    result = salvo("health", env={"SALVO_WORK_DIR": str(tmp_path)})
    assert result.returncode == 1
    assert "no executor state" in result.stdout


def test_keygen_prints_a_fresh_key():
    first, second = salvo("keygen"), salvo("keygen")
    assert first.returncode == 0 and len(first.stdout.strip()) >= 32
    assert first.stdout != second.stdout


def test_the_light_health_check_agrees_and_imports_no_settings_model(tmp_path):
    from salvo.executor.statefile import StateFile
    from salvo.common.states import ExecutorState

    probe = [sys.executable, "-c", "import sys, salvo.executor.health as h; code = h.main(); "
             "print(sorted(m for m in ('pydantic', 'zmq', 'boto3') if m in sys.modules)); sys.exit(code)"]
    env = {**os.environ, "SALVO_WORK_DIR": str(tmp_path)}
    missing = subprocess.run(probe, env=env, capture_output=True, text=True, timeout=30)
    assert missing.returncode == 1 and missing.stdout.splitlines() == [
        f"no executor state at {tmp_path / 'state.json'}", "[]"]  # one line, nothing heavy imported
    StateFile(tmp_path / "state.json").write(ExecutorState.ARMED, executor_id="exec-7")  # this process: alive
    armed = subprocess.run(probe, env=env, capture_output=True, text=True, timeout=30)
    assert armed.returncode == 0 and armed.stdout.splitlines()[0] == "executor exec-7 is armed"
    assert salvo("health", env={"SALVO_WORK_DIR": str(tmp_path)}).stdout.strip() == "executor exec-7 is armed"
