"""deploy/ecs task definitions, as run.sh renders them, against botocore's ECS model and Fargate's rules."""

from __future__ import annotations

import copy
import json
import subprocess

import pytest

from salvo.common.errors import ConfigError
from salvo.common.keys import KeyMode
from salvo.common.settings import load
from salvo.controller.settings import ControllerSettings
from tests.support.deploy import (
    ECS,
    PLACEHOLDERS,
    ROLE_MODELS,
    RUN_SCRIPT,
    SECRET_ARNS,
    TASK_DEFINITIONS,
    dockerfile_env,
    dockerfile_user,
    dockerfile_volumes,
    ecs_problems,
    known_variables,
    render_ecs,
    resolve_ecs_secrets,
    script_env,
    secret_arn,
    secrets_manager,
    start_settings,
)
from tests.support.keys import controller_keys, executor_keys

# Fargate's task-level cpu (units) -> allowed memory (MiB), from the ECS developer guide.
FARGATE_SIZES = {
    256: {512, 1024, 2048},
    512: set(range(1024, 4096 + 1, 1024)),
    1024: set(range(2048, 8192 + 1, 1024)),
    2048: set(range(4096, 16384 + 1, 1024)),
    4096: set(range(8192, 30720 + 1, 1024)),
    8192: set(range(16384, 61440 + 1, 4096)),
    16384: set(range(32768, 122880 + 1, 8192)),
}


@pytest.fixture(scope="module")
def rendered(tmp_path_factory) -> dict:
    return render_ecs(tmp_path_factory.mktemp("ecs"))


@pytest.fixture(scope="module", params=TASK_DEFINITIONS)
def definition(request, rendered) -> dict:
    return rendered[request.param]


def test_every_template_is_rendered_without_a_placeholder_left(rendered):
    assert set(rendered) == {path.name for path in ECS.glob("*.json")}
    for name, document in rendered.items():
        assert "${" not in json.dumps(document), name


def test_task_definition_is_a_valid_register_task_definition_input(definition):
    assert ecs_problems("RegisterTaskDefinition", definition) == []


@pytest.mark.parametrize(
    "breakage",
    [
        ("networkMode", "awsvpcc"),  # not in the enum
        ("cpu", 1024),  # an integer where the model wants a string
        ("containerDefinitions", None),  # a required member missing
        ("healthcheck", {}),  # an unknown member
    ],
)
def test_the_check_rejects_a_broken_copy(rendered, breakage):
    broken = copy.deepcopy(rendered[TASK_DEFINITIONS[0]])
    key, value = breakage
    if value is None:
        del broken[key]
    else:
        broken[key] = value
    problems = ecs_problems("RegisterTaskDefinition", broken)
    assert problems and key in problems[0]


def test_task_definition_keeps_fargate_rules(definition):
    assert definition["networkMode"] == "awsvpc"
    assert definition["requiresCompatibilities"] == ["FARGATE"]
    assert int(definition["memory"]) in FARGATE_SIZES[int(definition["cpu"])]
    assert definition["executionRoleArn"], "awslogs and secrets on Fargate need an execution role"
    (container,) = definition["containerDefinitions"]
    assert container["essential"] is True
    assert 0 < container["stopTimeout"] <= 120  # Fargate's maximum
    log = container["logConfiguration"]
    assert log["logDriver"] == "awslogs"
    assert {"awslogs-group", "awslogs-region", "awslogs-stream-prefix"} <= set(log["options"])
    for mapping in container.get("portMappings", []):
        assert mapping.get("hostPort", mapping["containerPort"]) == mapping["containerPort"]  # awsvpc
    (nofile,) = [limit for limit in container["ulimits"] if limit["name"] == "nofile"]
    assert nofile["softLimit"] <= nofile["hardLimit"]


def _role(definition: dict) -> str:
    return definition["containerDefinitions"][0]["name"]


def _container_environment(definition: dict) -> dict[str, str]:
    """The container's variables at start: `environment`, and `secrets` as ECS resolves them from the two
    Secrets Manager secrets made with `salvo keygen --role R --format json` (see run.sh --help)."""
    (container,) = definition["containerDefinitions"]
    env = {item["name"]: item["value"] for item in container["environment"]}
    env.update(resolve_ecs_secrets(container, secrets_manager()))
    return env


def test_environment_names_only_settings_of_its_role_and_loads(definition):
    role = _role(definition)
    env = _container_environment(definition)
    assert set(env) <= known_variables(ROLE_MODELS[role])
    settings = start_settings(role, env)  # every value valid as filled in (ConfigError otherwise)
    assert settings.key_mode() is KeyMode.SPLIT  # production never uses the rehearsal's one shared key
    assert settings.link_keys() == (executor_keys() if role == "executor" else controller_keys())


SPLIT_KEYS = {
    "executor": ["SALVO_EXECUTOR_SECRET_KEY", "SALVO_CONTROLLER_PUBLIC_KEY"],
    "controller": ["SALVO_CONTROLLER_SECRET_KEY", "SALVO_EXECUTOR_PUBLIC_KEY"],
}


def test_each_side_takes_its_own_half_from_its_own_secret_by_json_key(definition):
    role = _role(definition)
    (container,) = definition["containerDefinitions"]
    assert [secret["name"] for secret in container["secrets"]] == SPLIT_KEYS[role]
    for secret in container["secrets"]:
        # ARN:JSON-KEY:VERSION-STAGE:VERSION-ID, the stage and id empty (AWSCURRENT): the key named as the variable
        assert secret["valueFrom"] == f"{SECRET_ARNS[role]}:{secret['name']}::"
    role_name = definition["executionRoleArn"].rsplit("/", 1)[1]
    assert role_name == f"salvo-{role}-execution"  # one execution role per side: see the IAM test


def test_the_executor_task_never_names_the_controllers_secret(rendered):
    """Not in its variables, not as a secret it is given, not through the execution role that starts it."""
    executor, controller = rendered["executor-task-definition.json"], rendered["controller-task-definition.json"]
    text = json.dumps(executor)
    assert "SALVO_CONTROLLER_SECRET_KEY" not in text
    assert PLACEHOLDERS["CONTROLLER_KEYS_SECRET_ARN"] not in text
    assert "CONTROLLER_KEYS_SECRET_ARN" not in (ECS / "executor-task-definition.json").read_text()
    assert executor["executionRoleArn"] != controller["executionRoleArn"]
    assert executor["taskRoleArn"] != controller["taskRoleArn"]
    (container,) = executor["containerDefinitions"]
    assert {secret_arn(s["valueFrom"]) for s in container["secrets"]} == {PLACEHOLDERS["EXECUTOR_KEYS_SECRET_ARN"]}
    # Were the controller's half given to it anyway, the executor would refuse to start.
    env = _container_environment(executor)
    env.update(resolve_ecs_secrets(controller["containerDefinitions"][0], secrets_manager()))
    with pytest.raises(ConfigError, match="SALVO_CONTROLLER_SECRET_KEY is the controller's secret"):
        start_settings("executor", env)


@pytest.mark.parametrize("image", ["executor", "controller"])
def test_read_only_root_with_writable_volumes_the_image_declares(rendered, image):
    """readonlyRootFilesystem: what the side writes (work folder, /tmp, HOME) is on task-scoped bind volumes.

    Fargate creates a bind volume root-owned 0755 unless the image declares the path a VOLUME (then it
    copies the image's ownership and mode): every mount point must be one, or uid 10001 could not write.
    """
    definition = rendered[f"{image}-task-definition.json"]
    (container,) = definition["containerDefinitions"]
    assert container["readonlyRootFilesystem"] is True
    assert container["linuxParameters"]["capabilities"]["drop"] == ["ALL"]
    assert "user" not in container and dockerfile_user(image) == "10001:10001"  # the image's non-root user
    volumes = [volume["name"] for volume in definition["volumes"]]
    assert all(set(volume) == {"name"} for volume in definition["volumes"])  # Fargate ephemeral storage
    mounts = {mount["containerPath"]: mount for mount in container["mountPoints"]}
    assert sorted(mount["sourceVolume"] for mount in mounts.values()) == sorted(volumes)  # each used once
    assert not any(mount.get("readOnly") for mount in mounts.values())
    image_env = dockerfile_env(image)
    settings = load(ROLE_MODELS[image], _container_environment(definition))
    assert set(mounts) == {str(settings.work_dir), "/tmp", image_env["HOME"]}
    assert str(settings.work_dir) == image_env["SALVO_WORK_DIR"]  # the task and the image agree on it
    assert set(mounts) <= dockerfile_volumes(image)


def test_executor_ports_and_health_check_match_the_image(rendered):
    definition = rendered["executor-task-definition.json"]
    (container,) = definition["containerDefinitions"]
    settings = load(ROLE_MODELS["executor"], _container_environment(definition))
    assert {m["containerPort"] for m in container["portMappings"]} == {settings.command_port, settings.status_port}
    check = container["healthCheck"]
    assert check["command"] == ["CMD", "salvo-health"]  # the light check (salvo.executor.presence.health)
    # ECS's ranges; the start period must cover arming (the tool reaching its gate).
    assert 5 <= check["interval"] <= 300 and 2 <= check["timeout"] <= 120 and 1 <= check["retries"] <= 10
    assert settings.arm_timeout <= check["startPeriod"] <= 300


def test_controller_nofile_is_sized_for_its_largest_fleet(rendered):
    """docs/performance.md, fleet size: 2 files per executor + 256, at SALVO_MAX_EXECUTORS."""
    definition = rendered["controller-task-definition.json"]
    (container,) = definition["containerDefinitions"]
    settings = load(ControllerSettings, _container_environment(definition))
    (nofile,) = [limit for limit in container["ulimits"] if limit["name"] == "nofile"]
    assert nofile["softLimit"] >= 2 * settings.max_executors + 256
    assert "healthCheck" not in container  # `salvo health` reports an executor's state


def test_arm64_renders_a_graviton_task(tmp_path):
    arm = render_ecs(tmp_path, CPU_ARCHITECTURE="ARM64")["executor-task-definition.json"]
    assert arm["runtimePlatform"]["cpuArchitecture"] == "ARM64"
    assert ecs_problems("RegisterTaskDefinition", arm) == []


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        ("RESULTS_PREFIX", "results", "must end in '/'"),
        ("AWS_ACCOUNT_ID", "12345", "12-digit"),
        ("BUCKET", 'a"b', "quotes"),
        ("CPU_ARCHITECTURE", "arm", "X86_64 or ARM64"),
        # The task definitions append ":JSON-KEY::": only a full secret ARN makes that a lookup of the right key.
        ("EXECUTOR_KEYS_SECRET_ARN", "salvo-executor-keys", "not the full ARN"),
        (
            "EXECUTOR_KEYS_SECRET_ARN",
            "arn:aws:secretsmanager:eu-west-1:111122223333:secret:salvo-executor-keys",
            "not the full ARN",
        ),  # a partial ARN (no random suffix)
        (
            "CONTROLLER_KEYS_SECRET_ARN",
            PLACEHOLDERS["CONTROLLER_KEYS_SECRET_ARN"] + ":SALVO_CONTROLLER_SECRET_KEY::",
            "not the full ARN",
        ),
        ("CONTROLLER_KEYS_SECRET_ARN", PLACEHOLDERS["EXECUTOR_KEYS_SECRET_ARN"], "are the same secret"),
    ],
)
def test_render_refuses_a_bad_placeholder_naming_it(tmp_path, name, value, message):
    result = subprocess.run(
        ["bash", str(RUN_SCRIPT), "render", str(tmp_path)],
        env=script_env(**{name: value}),
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert result.returncode == 2
    assert name in result.stderr and message in result.stderr
    assert not list(tmp_path.glob("*.json"))


@pytest.mark.parametrize("name", ["EXECUTOR_KEYS_SECRET_ARN", "CONTROLLER_KEYS_SECRET_ARN"])
def test_render_names_a_missing_placeholder(tmp_path, name):
    env = script_env()
    del env[name]
    result = subprocess.run(
        ["bash", str(RUN_SCRIPT), "render", str(tmp_path)], env=env, capture_output=True, text=True, timeout=30
    )
    assert result.returncode == 2
    assert f"{name} is not set" in result.stderr
