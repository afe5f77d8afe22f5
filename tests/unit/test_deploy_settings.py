"""Every SALVO_* variable deploy/ and compose.yaml name is a setting Salvo reads, so neither can drift."""

from __future__ import annotations

import yaml

from salvo.common.settings import CommonSettings
from salvo.controller.settings import ControllerSettings
from salvo.executor.settings import ExecutorSettings
from tests.support.deploy import DEPLOY, ROLE_MODELS, SALVO_VARIABLE, known_variables
from tests.support.executors import REPO

REAL_SETTINGS = set().union(*(known_variables(model) for model in (CommonSettings, *ROLE_MODELS.values())))


def test_every_salvo_variable_in_deploy_files_is_a_real_setting():
    named = {}
    for path in sorted(p for p in DEPLOY.rglob("*") if p.is_file()):
        for name in SALVO_VARIABLE.findall(path.read_text()):
            named.setdefault(name, []).append(str(path.relative_to(DEPLOY)))
    assert {
        "SALVO_EXECUTOR_SECRET_KEY",
        "SALVO_CONTROLLER_PUBLIC_KEY",
        "SALVO_CONTROLLER_SECRET_KEY",
        "SALVO_EXECUTOR_PUBLIC_KEY",
        "SALVO_EXECUTOR_DNS",
        "SALVO_EXPECTED_EXECUTORS",
    } <= set(named)  # the scan sees them
    unknown = {name: files for name, files in named.items() if name not in REAL_SETTINGS}
    assert unknown == {}, f"not settings of salvo (typo, or renamed?): {unknown}"


def test_deploy_files_use_the_split_keys_never_the_rehearsal_conveniences():
    """One shared fleet key lets any executor command the fleet, and insecure links are unauthenticated:
    both are for the rehearsal (compose.yaml) only, never in a production deployment."""
    for path in sorted(p for p in DEPLOY.rglob("*") if p.is_file()):
        names = set(SALVO_VARIABLE.findall(path.read_text()))
        assert not names & {"SALVO_FLEET_KEY", "SALVO_FLEET_KEY_FILE", "SALVO_INSECURE"}, path


def test_the_check_would_catch_a_misspelt_variable():
    assert SALVO_VARIABLE.findall('{"name": "SALVO_EXECUTORS_DNS"}') == ["SALVO_EXECUTORS_DNS"]
    assert "SALVO_EXECUTORS_DNS" not in REAL_SETTINGS


def _compose_services() -> dict:
    return yaml.safe_load((REPO / "compose.yaml").read_text())["services"]


def test_the_rehearsal_generates_its_key_at_every_up_and_holds_none_itself():
    """compose.yaml carries no key: setup makes one with `salvo keygen` at every `up` and both sides read its file."""
    services = _compose_services()
    for name, service in services.items():
        environment = service.get("environment") or {}
        inline = [k for k in environment if "KEY" in k.removeprefix("SALVO_") and not k.endswith("_FILE")]
        assert [k for k in inline if k.startswith("SALVO_")] == [], name
    key_file = services["executor"]["environment"]["SALVO_FLEET_KEY_FILE"]
    assert services["controller"]["environment"]["SALVO_FLEET_KEY_FILE"] == key_file
    folder = key_file.rsplit("/", 1)[0]
    for side in ("executor", "controller"):
        assert f"keys:{folder}:ro" in services[side]["volumes"], side
        assert {"SALVO_FLEET_KEY_FILE", "SALVO_RESULTS_URI"} <= set(services[side]["environment"])
    setup = " ".join(services["setup"]["command"])
    assert f"salvo keygen --fleet-key > {key_file}.new" in setup
    assert f"mv {key_file}.new {key_file}" in setup and f"keys:{folder}" in services["setup"]["volumes"]


def test_the_rehearsal_runs_salvos_images_with_read_only_root_filesystems():
    services = _compose_services()
    for name in ("setup", "executor", "controller"):
        assert services[name]["read_only"] is True and services[name]["tmpfs"], name


def test_the_rehearsals_variables_are_settings_of_their_side():
    """A typo in compose.yaml would stop the rehearsal with exit 2 only once Docker ran it."""
    services = _compose_services()
    for side, model in (("executor", ExecutorSettings), ("controller", ControllerSettings)):
        names = {k for k in services[side]["environment"] if k.startswith("SALVO_")}
        assert names and names <= REAL_SETTINGS, (side, names - REAL_SETTINGS)
        assert names <= known_variables(model) | known_variables(CommonSettings), side
