"""The process environment as Salvo's security sees it: mistyped SALVO_* names, and what scenario code may inherit.

Two rules, both applied at the edges (cli.py when a side starts; every process Salvo
starts for a scenario or a pre-start command):

* a SALVO_* variable that is no setting of either side is a mistake (exit 2 naming the
  closest setting); one of the other side is accepted, since compose files and
  Kubernetes manifests share blocks — except the controller's secret on an executor;
* scenario code never inherits Salvo's key material (SALVO_*KEY*, and the SALVO_*_FILE
  variables that point at secrets).
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Mapping

from pydantic_settings import BaseSettings

from salvo.common.errors import ConfigError
from salvo.common.settings import ENV_PREFIX, FILE_SUFFIX, env_name, secret_fields

# Names Salvo sets itself for the processes it starts (scenario code reads them), and names the build,
# the rehearsal and Salvo's own test suite read: none is a setting, none is a typo.
SET_FOR_SCENARIOS = frozenset(
    {
        "SALVO_DATA_FILE",
        "SALVO_EXECUTOR_INDEX",
        "SALVO_FLEET_SIZE",
        "SALVO_GATE_SOCKET",
        "SALVO_SAMPLES_DIR",
        "SALVO_RAW_SAMPLES",
        "SALVO_FLEET_SLOT",
    }
)
BUILD_AND_REHEARSAL = frozenset(
    {
        "SALVO_TAG",
        "SALVO_TOOL",
        "SALVO_DEMO",
        "SALVO_EXECUTOR_IMAGE",
        "SALVO_REPORTS",
        "SALVO_REHEARSAL_SUBNET",
        "SALVO_VERSION",
        "SALVO_PULL_TIMEOUT",
    }
)
RESERVED_PREFIXES = ("SALVO_TEST_",)  # Salvo's own test suite (tests/)
CONTROLLER_SECRETS = ("SALVO_CONTROLLER_SECRET_KEY", "SALVO_CONTROLLER_SECRET_KEY" + FILE_SUFFIX)


def setting_names(models: Iterable[type[BaseSettings]]) -> set[str]:
    """Every variable the models read: each field's name, and `_FILE` for the secrets."""
    names: set[str] = set()
    for model in models:
        names.update(env_name(field) for field in model.model_fields)
        names.update(env_name(field) + FILE_SUFFIX for field in secret_fields(model))
    return names


def check_environment(environ: Mapping[str, str], known: set[str], *, executor: bool = False) -> None:
    """ConfigError (exit 2) naming each SALVO_* variable that is nobody's setting, with the closest one."""
    problems = []
    for name in sorted(environ):
        upper = name.upper()
        if (
            not upper.startswith(ENV_PREFIX)
            or upper in known
            or upper in SET_FOR_SCENARIOS
            or upper in BUILD_AND_REHEARSAL
            or upper.startswith(RESERVED_PREFIXES)
        ):
            continue
        close = difflib.get_close_matches(upper, sorted(known), n=1, cutoff=0.6)
        hint = f": did you mean {close[0]}?" if close else ": `salvo config executor|controller` lists them"
        problems.append(f"{name} is not a Salvo setting{hint}")
    if executor:
        for name in CONTROLLER_SECRETS:
            if environ.get(name):
                problems.append(
                    f"{name} is the controller's secret and must never reach an executor: remove it "
                    "from the executor's environment (executors hold SALVO_EXECUTOR_SECRET_KEY and "
                    "SALVO_CONTROLLER_PUBLIC_KEY)"
                )
    if problems:
        raise ConfigError(problems)


def is_key_material(name: str) -> bool:
    """SALVO_FLEET_KEY, SALVO_*_SECRET_KEY, SALVO_*_PUBLIC_KEY and every SALVO_*_FILE (secret files)."""
    upper = name.upper()
    if not upper.startswith(ENV_PREFIX) or upper in SET_FOR_SCENARIOS:
        return False
    return "KEY" in upper[len(ENV_PREFIX) :] or upper.endswith(FILE_SUFFIX)


def scenario_environment(environ: Mapping[str, str], extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """The environment for a process running scenario code (or a pre-start command): Salvo's keys removed."""
    env = {name: value for name, value in environ.items() if not is_key_material(name)}
    env.update(extra or {})
    return env
