"""The deployment files under deploy/, read as the tools that consume them would.

ECS templates are filled in by deploy/ecs/run.sh itself (`render`), so tests check what a
user registers; Kubernetes manifests are read as kubectl reads them (multi-document YAML).
The ECS shapes are checked against botocore's own service model, never against AWS; the
secrets ECS hands a task are resolved from what `salvo keygen --role R --format json` prints,
as Secrets Manager would hold it. The images' Dockerfiles are read for what the deployment
files must match (the user, the VOLUME paths).
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import re
import shlex
import subprocess
import tempfile
from pathlib import Path
from typing import Any

import botocore.session
import yaml
from botocore.model import Shape
from botocore.validate import ParamValidator

from salvo.cli import main as salvo_main
from salvo.common.environment import check_environment, setting_names
from salvo.common.settings import FILE_SUFFIX, CommonSettings, env_name, load, secret_fields
from salvo.controller.settings import ControllerSettings
from salvo.executor.settings import ExecutorSettings
from tests.support.executors import REPO
from tests.support.keys import controller_env, executor_env

DEPLOY = REPO / "deploy"
ECS = DEPLOY / "ecs"
K8S = DEPLOY / "k8s"
RUN_SCRIPT = ECS / "run.sh"
TASK_DEFINITIONS = ("executor-task-definition.json", "controller-task-definition.json")

# What a user fills in (see `deploy/ecs/run.sh --help`); plausible values of the right shapes.
PLACEHOLDERS = {
    "AWS_ACCOUNT_ID": "111122223333",
    "AWS_REGION": "eu-west-1",
    "IMAGE_TAG": "0.1.0",
    "BUCKET": "my-loadtests",
    "SCENARIO_KEY": "scenarios/checkout.zip",
    "RESULTS_PREFIX": "results/",
    "EXECUTOR_KEYS_SECRET_ARN": "arn:aws:secretsmanager:eu-west-1:111122223333:secret:salvo-executor-keys-AbCdEf",
    "CONTROLLER_KEYS_SECRET_ARN": "arn:aws:secretsmanager:eu-west-1:111122223333:secret:salvo-controller-keys-GhIjKl",
    "EXECUTOR_CIDRS": "10.0.16.0/20,10.0.32.0/20",
    "CLUSTER": "loadtests",
}

SALVO_VARIABLE = re.compile(r"\bSALVO_[A-Z0-9_]+\b")


def script_env(**extra: str) -> dict[str, str]:
    """A clean environment for run.sh: PATH and HOME only, plus the placeholders and `extra`."""
    return {"PATH": os.environ["PATH"], "HOME": os.environ.get("HOME", "/tmp"), **PLACEHOLDERS, **extra}


def render_ecs(out: Path, **overrides: str) -> dict[str, Any]:
    """Fill in every ECS template with run.sh render; {file name: parsed JSON}."""
    subprocess.run(
        ["bash", str(RUN_SCRIPT), "render", str(out)],
        env=script_env(**overrides),
        check=True,
        capture_output=True,
        text=True,
        timeout=30,
    )
    return {path.name: json.loads(path.read_text()) for path in sorted(out.glob("*.json"))}


def k8s_documents() -> dict[str, list[dict]]:
    """{file name: its YAML documents} for every manifest under deploy/k8s."""
    return {
        path.name: [doc for doc in yaml.safe_load_all(path.read_text()) if doc] for path in sorted(K8S.glob("*.yaml"))
    }


def k8s_resource(kind: str, name: str) -> dict:
    found = [
        doc
        for docs in k8s_documents().values()
        for doc in docs
        if doc["kind"] == kind and doc["metadata"]["name"] == name
    ]
    assert len(found) == 1, f"expected one {kind}/{name} in deploy/k8s, found {len(found)}"
    return found[0]


def known_variables(model: type[CommonSettings]) -> set[str]:
    """Every SALVO_* variable `model` reads, `_FILE` forms of its secrets included."""
    names = {env_name(field) for field in model.model_fields}
    return names | {env_name(field) + FILE_SUFFIX for field in secret_fields(model)}


ROLE_MODELS: dict[str, type[CommonSettings]] = {"executor": ExecutorSettings, "controller": ControllerSettings}


def start_settings(role: str, env: dict[str, str]) -> CommonSettings:
    """The settings `salvo executor|controller` starts with from `env` (ConfigError where it refuses):
    the same environment check first (no stray SALVO_* name; never the controller's secret on an executor)."""
    check_environment(env, setting_names(ROLE_MODELS.values()), executor=role == "executor")
    return load(ROLE_MODELS[role], env)


# --- key material, as the secret stores hold it ---------------------------------------------------

# Each side's secret (`salvo keygen --role` names the executors' block "executors").
KEYGEN_ROLES = {"executor": "executors", "controller": "controller"}
SECRET_ARNS = {
    "executor": PLACEHOLDERS["EXECUTOR_KEYS_SECRET_ARN"],
    "controller": PLACEHOLDERS["CONTROLLER_KEYS_SECRET_ARN"],
}


def keys_env_text() -> str:
    """A `salvo keygen` output (the test session's pair): what a user keeps as salvo-keys.env."""
    blocks = {"controller": controller_env(), "executors": executor_env()}
    return "\n".join(
        f"# {role}\n" + "".join(f"{name}={value}\n" for name, value in lines.items()) for role, lines in blocks.items()
    )


def keygen_role_json(role: str) -> str:
    """What `salvo keygen --from salvo-keys.env --role ROLE --format json` prints: one secret string."""
    with tempfile.TemporaryDirectory() as folder:
        source = Path(folder) / "salvo-keys.env"
        source.write_text(keys_env_text())
        out = io.StringIO()
        with contextlib.redirect_stdout(out):
            code = salvo_main(["keygen", "--from", str(source), "--role", KEYGEN_ROLES[role], "--format", "json"])
    assert code == 0, f"salvo keygen --role {KEYGEN_ROLES[role]} exited {code}"
    return out.getvalue()


def secrets_manager() -> dict[str, str]:
    """{secret ARN: secret string}: each role's secret made as run.sh --help says."""
    return {SECRET_ARNS[role]: keygen_role_json(role) for role in SECRET_ARNS}


def resolve_ecs_secrets(container: dict, store: dict[str, str]) -> dict[str, str]:
    """{variable: value} as ECS fills a container's `secrets` from Secrets Manager (ARN:JSON-KEY:STAGE:VERSION)."""
    values = {}
    for secret in container.get("secrets", []):
        arn, json_key, stage, version = secret["valueFrom"].rsplit(":", 3)
        assert (stage, version) == ("", ""), f"{secret['name']}: pinned to a version stage or id"
        values[secret["name"]] = json.loads(store[arn])[json_key]  # KeyError: not in that secret
    return values


def secret_arn(value_from: str) -> str:
    """The secret an ECS valueFrom names (without its JSON key, stage and version)."""
    return value_from.rsplit(":", 3)[0]


# --- the images ------------------------------------------------------------------------------------

IMAGES = REPO / "images"


def dockerfile_instructions(image: str, instruction: str) -> list[str]:
    """The arguments of each `INSTRUCTION` line of images/IMAGE/Dockerfile (continuations joined)."""
    text = re.sub(r"\\\n\s*", " ", (IMAGES / image / "Dockerfile").read_text())
    return [line.split(None, 1)[1].strip() for line in text.splitlines() if line.split(None, 1)[:1] == [instruction]]


def dockerfile_user(image: str) -> str:
    """The user the image ends with (its last USER)."""
    return dockerfile_instructions(image, "USER")[-1]


def dockerfile_volumes(image: str) -> set[str]:
    return {path for arguments in dockerfile_instructions(image, "VOLUME") for path in json.loads(arguments)}


def dockerfile_env(image: str) -> dict[str, str]:
    """ENV NAME=value ... pairs (the form the images use)."""
    return dict(
        word.split("=", 1) for arguments in dockerfile_instructions(image, "ENV") for word in shlex.split(arguments)
    )


# --- botocore's ECS model -----------------------------------------------------------------------

_ECS_MODEL = botocore.session.get_session().get_service_model("ecs")


def ecs_input_shape(operation: str) -> Shape:
    return _ECS_MODEL.operation_model(operation).input_shape


def ecs_problems(operation: str, params: dict) -> list[str]:
    """What botocore's model says is wrong with `params` as `operation`'s input ([] when valid).

    ParamValidator checks members, types, required fields and ranges; it does not check
    enums, so enum members are checked here against the same model.
    """
    shape = ecs_input_shape(operation)
    report = ParamValidator().validate(params, shape)
    problems = [report.generate_report()] if report.has_errors() else []
    return problems + _enum_problems(params, shape, operation)


def _enum_problems(value: Any, shape: Shape, path: str) -> list[str]:
    if shape.type_name == "structure" and isinstance(value, dict):
        return [
            problem
            for key, item in value.items()
            if key in shape.members
            for problem in _enum_problems(item, shape.members[key], f"{path}.{key}")
        ]
    if shape.type_name == "list" and isinstance(value, list):
        return [
            problem
            for index, item in enumerate(value)
            for problem in _enum_problems(item, shape.member, f"{path}[{index}]")
        ]
    if shape.type_name == "map" and isinstance(value, dict):
        return [
            problem for key, item in value.items() for problem in _enum_problems(item, shape.value, f"{path}.{key}")
        ]
    if shape.type_name == "string" and shape.enum and value not in shape.enum:
        return [f"{path}: {value!r} is not one of {shape.enum}"]
    return []
