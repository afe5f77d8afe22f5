"""Key material for tests: one `salvo keygen` pair per test session, as each side's variables and link keys."""

from __future__ import annotations

from functools import cache

from salvo.common.keys import ControllerKeys, ExecutorKeys, decode_curve_key, keygen_blocks, keypair_from_secret

INSECURE = {"SALVO_INSECURE": "true"}


@cache
def _blocks() -> dict[str, dict[str, str]]:
    return {role: dict(lines) for role, lines in keygen_blocks().items()}


def controller_env() -> dict[str, str]:
    """SALVO_CONTROLLER_SECRET_KEY and SALVO_EXECUTOR_PUBLIC_KEY."""
    return dict(_blocks()["controller"])


def executor_env() -> dict[str, str]:
    """SALVO_EXECUTOR_SECRET_KEY and SALVO_CONTROLLER_PUBLIC_KEY: all an executor holds."""
    return dict(_blocks()["executors"])


def controller_keys() -> ControllerKeys:
    env = controller_env()
    return ControllerKeys(
        keypair_from_secret(env["SALVO_CONTROLLER_SECRET_KEY"]), decode_curve_key(env["SALVO_EXECUTOR_PUBLIC_KEY"])
    )


def executor_keys() -> ExecutorKeys:
    env = executor_env()
    return ExecutorKeys(
        keypair_from_secret(env["SALVO_EXECUTOR_SECRET_KEY"]), decode_curve_key(env["SALVO_CONTROLLER_PUBLIC_KEY"])
    )


def has_key_material(env: dict[str, str]) -> bool:
    return any(name.startswith("SALVO_") and ("KEY" in name or name == "SALVO_INSECURE") for name in env)
