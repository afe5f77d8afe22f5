"""Every SALVO_* variable a deployment file names is a setting Salvo reads, so deploy/ cannot drift."""

from __future__ import annotations

from salvo.common.settings import CommonSettings
from tests.support.deploy import DEPLOY, ROLE_MODELS, SALVO_VARIABLE, known_variables

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
