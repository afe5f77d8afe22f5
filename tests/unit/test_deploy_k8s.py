"""deploy/k8s manifests: valid for a pinned Kubernetes version (kubernetes-validate, strict), and consistent."""

from __future__ import annotations

import copy

import kubernetes_validate
import pytest

from salvo.common.keys import generate_fleet_key
from salvo.common.settings import load
from tests.support.deploy import ROLE_MODELS, k8s_documents, k8s_resource, known_variables

KUBERNETES_VERSION = "1.34.0"
MANIFESTS = k8s_documents()


def validate(resource: dict) -> None:
    # strict: unknown fields (a typo such as `publishNotReadyAdresses`) are errors, not ignored
    kubernetes_validate.validate(resource, KUBERNETES_VERSION, strict=True)


@pytest.mark.parametrize("name", sorted(MANIFESTS))
def test_manifest_is_valid_for_the_pinned_kubernetes(name):
    assert MANIFESTS[name], f"{name} holds no resource"
    for resource in MANIFESTS[name]:
        validate(resource)


def _job(name: str) -> dict:
    return copy.deepcopy(k8s_resource("Job", name))


def _executor_container(job: dict) -> dict:
    return job["spec"]["template"]["spec"]["containers"][0]


# Mistakes a hand edit makes; the schemas have no enums (e.g. completionMode), so none is tried.
BREAKAGES = {
    "quoted boolean": ("Service", "salvo-executors", lambda svc: svc["spec"].__setitem__("publishNotReadyAddresses", "true")),
    "wrong type": ("Job", "salvo-executor", lambda job: job["spec"].__setitem__("completions", "five")),
    "required field missing": ("Job", "salvo-executor", lambda job: job["spec"]["template"]["spec"].pop("containers")),
    "misspelt field": ("Job", "salvo-executor", lambda job: _executor_container(job).__setitem__("readinesProbe", {})),
    "env without name": ("Job", "salvo-controller", lambda job: _executor_container(job)["env"][0].pop("name")),
}


@pytest.mark.parametrize("breakage", sorted(BREAKAGES))
def test_a_broken_copy_is_rejected(breakage):
    kind, name, mutate = BREAKAGES[breakage]
    resource = copy.deepcopy(k8s_resource(kind, name))
    validate(resource)
    mutate(resource)
    with pytest.raises(kubernetes_validate.ValidationError):
        validate(resource)


def test_executors_are_an_indexed_job_behind_a_headless_service():
    service = k8s_resource("Service", "salvo-executors")
    job = k8s_resource("Job", "salvo-executor")
    assert service["spec"]["clusterIP"] == "None"
    assert service["spec"]["publishNotReadyAddresses"] is True
    pod = job["spec"]["template"]
    assert service["spec"]["selector"].items() <= pod["metadata"]["labels"].items()
    assert pod["spec"]["subdomain"] == service["metadata"]["name"]
    assert job["spec"]["completionMode"] == "Indexed"
    assert job["spec"]["parallelism"] == job["spec"]["completions"]  # the whole fleet at once
    (container,) = pod["spec"]["containers"]
    named_ports = {port["name"]: port["containerPort"] for port in container["ports"]}
    for port in service["spec"]["ports"]:
        assert named_ports[port["targetPort"]] == port["port"]
    assert container["readinessProbe"]["exec"]["command"] == ["salvo-health"]
    assert "livenessProbe" not in container  # an executor waiting to be started is alive, not broken
    (executor_id,) = [item for item in container["env"] if item["name"] == "SALVO_EXECUTOR_ID"]
    assert executor_id["valueFrom"]["fieldRef"]["fieldPath"] == "metadata.name"


def test_controller_finds_and_waits_for_the_whole_fleet():
    env = _plain_env(_container(_job("salvo-controller")))
    executors = k8s_resource("Job", "salvo-executor")
    assert env["SALVO_EXECUTOR_DNS"] == k8s_resource("Service", "salvo-executors")["metadata"]["name"]
    assert int(env["SALVO_EXPECTED_EXECUTORS"]) == executors["spec"]["completions"]
    assert _job("salvo-controller")["spec"]["backoffLimit"] == 0


@pytest.mark.parametrize("job_name", ["salvo-executor", "salvo-controller"])
def test_pods_have_resources_and_the_fleet_key_from_the_secret(job_name):
    job = _job(job_name)
    container = _container(job)
    resources = container["resources"]
    assert set(resources["requests"]) == set(resources["limits"]) == {"cpu", "memory"}
    secret = k8s_resource("Secret", "salvo-fleet-key")
    (fleet_key,) = [item for item in container["env"] if item["name"] == "SALVO_FLEET_KEY"]
    reference = fleet_key["valueFrom"]["secretKeyRef"]
    assert reference["name"] == secret["metadata"]["name"] and reference["key"] in secret["stringData"]
    account = job["spec"]["template"]["spec"]["serviceAccountName"]
    assert k8s_resource("ServiceAccount", account)


@pytest.mark.parametrize(("job_name", "role"), [("salvo-executor", "executor"), ("salvo-controller", "controller")])
def test_environment_names_only_settings_of_its_role_and_loads(job_name, role):
    container = _container(_job(job_name))
    salvo_names = {item["name"] for item in container["env"] if item["name"].startswith("SALVO_")}
    assert salvo_names <= known_variables(ROLE_MODELS[role])
    env = _plain_env(container)
    env["SALVO_FLEET_KEY"] = generate_fleet_key()  # what the Secret holds once filled in
    if role == "executor":
        env["SALVO_EXECUTOR_ID"] = "salvo-executor-3-x7k2q"  # a pod name of an Indexed Job
    settings = load(ROLE_MODELS[role], env)
    assert settings.fleet_key is not None


def _container(job: dict) -> dict:
    (container,) = job["spec"]["template"]["spec"]["containers"]
    return container


def _plain_env(container: dict) -> dict[str, str]:
    return {item["name"]: item["value"] for item in container["env"] if "value" in item}
