"""deploy/ecs task definitions, as run.sh renders them, against botocore's ECS model and Fargate's rules."""

from __future__ import annotations

import copy
import json
import subprocess

import pytest

from salvo.common.keys import generate_fleet_key
from salvo.common.settings import load
from salvo.controller.settings import ControllerSettings
from tests.support.deploy import (
    ECS, PLACEHOLDERS, ROLE_MODELS, RUN_SCRIPT, TASK_DEFINITIONS, ecs_problems, known_variables, render_ecs,
    script_env,
)

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


@pytest.mark.parametrize("breakage", [
    ("networkMode", "awsvpcc"),        # not in the enum
    ("cpu", 1024),                     # an integer where the model wants a string
    ("containerDefinitions", None),    # a required member missing
    ("healthcheck", {}),               # an unknown member
])
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
    assert [secret["name"] for secret in container["secrets"]] == ["SALVO_FLEET_KEY"]
    assert container["secrets"][0]["valueFrom"] == PLACEHOLDERS["FLEET_KEY_SECRET_ARN"]
    for mapping in container.get("portMappings", []):
        assert mapping.get("hostPort", mapping["containerPort"]) == mapping["containerPort"]  # awsvpc
    (nofile,) = [limit for limit in container["ulimits"] if limit["name"] == "nofile"]
    assert nofile["softLimit"] <= nofile["hardLimit"]


def _role(definition: dict) -> str:
    return definition["containerDefinitions"][0]["name"]


def _container_environment(definition: dict) -> dict[str, str]:
    (container,) = definition["containerDefinitions"]
    env = {item["name"]: item["value"] for item in container["environment"]}
    fleet_key = generate_fleet_key()  # what Secrets Manager hands over at start
    env.update({secret["name"]: fleet_key for secret in container["secrets"]})
    return env


def test_environment_names_only_settings_of_its_role_and_loads(definition):
    model = ROLE_MODELS[_role(definition)]
    env = _container_environment(definition)
    assert set(env) <= known_variables(model)
    settings = load(model, env)  # every value valid as filled in (ConfigError otherwise)
    assert settings.fleet_key is not None


def test_executor_ports_and_health_check_match_the_image(rendered):
    definition = rendered["executor-task-definition.json"]
    (container,) = definition["containerDefinitions"]
    settings = load(ROLE_MODELS["executor"], _container_environment(definition))
    assert {m["containerPort"] for m in container["portMappings"]} == {settings.command_port, settings.status_port}
    check = container["healthCheck"]
    assert check["command"] == ["CMD", "salvo-health"]  # the light check (salvo.executor.health)
    # ECS's ranges; the start period must cover arming (the tool reaching its gate).
    assert 5 <= check["interval"] <= 300 and 2 <= check["timeout"] <= 120 and 1 <= check["retries"] <= 10
    assert settings.arm_timeout <= check["startPeriod"] <= 300


def test_controller_nofile_is_sized_for_its_largest_fleet(rendered):
    """README, fleet size: 2 files per executor + 256, at SALVO_MAX_EXECUTORS."""
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


@pytest.mark.parametrize(("name", "value", "message"), [
    ("RESULTS_PREFIX", "results", "must end in '/'"),
    ("AWS_ACCOUNT_ID", "12345", "12-digit"),
    ("BUCKET", 'a"b', "quotes"),
    ("CPU_ARCHITECTURE", "arm", "X86_64 or ARM64"),
])
def test_render_refuses_a_bad_placeholder_naming_it(tmp_path, name, value, message):
    result = subprocess.run(["bash", str(RUN_SCRIPT), "render", str(tmp_path)], env=script_env(**{name: value}),
                            capture_output=True, text=True, timeout=30)
    assert result.returncode == 2
    assert name in result.stderr and message in result.stderr
    assert not list(tmp_path.glob("*.json"))


def test_render_names_a_missing_placeholder(tmp_path):
    env = script_env()
    del env["FLEET_KEY_SECRET_ARN"]
    result = subprocess.run(["bash", str(RUN_SCRIPT), "render", str(tmp_path)], env=env,
                            capture_output=True, text=True, timeout=30)
    assert result.returncode == 2
    assert "FLEET_KEY_SECRET_ARN is not set" in result.stderr
