"""deploy/k8s manifests: valid for a pinned Kubernetes version (kubernetes-validate, strict), and consistent."""

from __future__ import annotations

import copy
import json

import kubernetes_validate
import pytest

from salvo.common.defaults import COMMAND_PORT, STATUS_PORT
from salvo.common.errors import ConfigError
from salvo.common.keys import KeyMode
from tests.support.deploy import (
    K8S,
    ROLE_MODELS,
    dockerfile_env,
    dockerfile_user,
    dockerfile_volumes,
    k8s_documents,
    k8s_resource,
    known_variables,
    start_settings,
)
from tests.support.keys import controller_env, controller_keys, executor_env, executor_keys

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
    "quoted boolean": (
        "Service",
        "salvo-executors",
        lambda svc: svc["spec"].__setitem__("publishNotReadyAddresses", "true"),
    ),
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
    assert named_ports == {"command": COMMAND_PORT, "status": STATUS_PORT}  # the settings' defaults
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


# Each Job, its role, the Secret holding its half of `salvo keygen`, and what that half is.
SIDES = {
    "salvo-executor": ("executor", "salvo-executor-keys", executor_env),
    "salvo-controller": ("controller", "salvo-controller-keys", controller_env),
}
JOBS = sorted(SIDES)


@pytest.mark.parametrize("job_name", JOBS)
def test_pods_have_resources_and_their_own_half_of_the_keys(job_name):
    _role, secret_name, keygen_half = SIDES[job_name]
    job = _job(job_name)
    container = _container(job)
    resources = container["resources"]
    assert set(resources["requests"]) == set(resources["limits"]) == {"cpu", "memory"}
    assert _secret_references(job) == {secret_name}
    assert container["envFrom"] == [{"secretRef": {"name": secret_name}}]  # required: a pod without it won't start
    secret = k8s_resource("Secret", secret_name)
    # The Secret's keys are the variables of this side's block of `salvo keygen` (kubectl --from-env-file).
    assert set(secret["stringData"]) == set(keygen_half())
    account = job["spec"]["template"]["spec"]["serviceAccountName"]
    assert k8s_resource("ServiceAccount", account)


@pytest.mark.parametrize("job_name", JOBS)
def test_an_unfilled_secret_is_refused_not_run_with(job_name):
    """The placeholders are not keys: a Secret applied as shipped stops the side at start (exit 2)."""
    role, secret_name, _ = SIDES[job_name]
    env = {**_plain_env(_container(_job(job_name))), **k8s_resource("Secret", secret_name)["stringData"]}
    with pytest.raises(ConfigError):
        start_settings(role, env)


def test_no_executor_manifest_references_the_controllers_secret():
    """Whoever holds the controller's secret key commands the fleet, and executors run scenario code."""
    controller_only = ("salvo-controller-keys", "SALVO_CONTROLLER_SECRET_KEY", "controller-keys-secret.yaml")
    # The executors' Job, Service, ServiceAccount and Secret: everything named for the executors.
    executor_side = [
        resource
        for resources in MANIFESTS.values()
        for resource in resources
        if resource["metadata"]["name"].startswith("salvo-executor")
    ]
    assert {resource["kind"] for resource in executor_side} == {"Job", "Service", "ServiceAccount", "Secret"}
    for resource in executor_side:
        text = json.dumps(resource)
        assert not any(word in text for word in controller_only), (resource["kind"], resource["metadata"]["name"])
    # and the executors' Job's text itself, comments included
    assert not any(word in (K8S / "executors-job.yaml").read_text() for word in controller_only)
    # The controller needs nothing of the executors' Secret either.
    assert _secret_references(_job("salvo-controller")) == {"salvo-controller-keys"}


def test_secret_halves_are_apart():
    """No Secret holds a secret key with its peer's: each carries one side's block only."""
    executor_keys_secret = k8s_resource("Secret", "salvo-executor-keys")["stringData"]
    controller_keys_secret = k8s_resource("Secret", "salvo-controller-keys")["stringData"]
    assert "SALVO_CONTROLLER_SECRET_KEY" not in executor_keys_secret
    assert "SALVO_EXECUTOR_SECRET_KEY" not in controller_keys_secret
    assert not any("fleet" in name.lower() for name in MANIFESTS)  # the rehearsal's one key is not deployed


RESTRICTED_POD = {
    "runAsNonRoot": True,
    "runAsUser": 10001,
    "runAsGroup": 10001,
    "fsGroup": 10001,
    "seccompProfile": {"type": "RuntimeDefault"},
}
RESTRICTED_CONTAINER = {
    "runAsNonRoot": True,
    "readOnlyRootFilesystem": True,
    "allowPrivilegeEscalation": False,
    "capabilities": {"drop": ["ALL"]},
}


@pytest.mark.parametrize("job_name", JOBS)
def test_pods_run_restricted_as_the_images_user(job_name):
    role = SIDES[job_name][0]
    pod = _job(job_name)["spec"]["template"]["spec"]
    assert pod["securityContext"] == RESTRICTED_POD
    assert _container(_job(job_name))["securityContext"] == RESTRICTED_CONTAINER
    # The kubelet verifies runAsNonRoot against the image's user only when it is numeric.
    user, group = dockerfile_user(role).split(":")
    assert (int(user), int(group)) == (pod["securityContext"]["runAsUser"], pod["securityContext"]["runAsGroup"])
    # Nothing the restricted Pod Security Standard forbids.
    assert not any(key in pod for key in ("hostNetwork", "hostPID", "hostIPC"))
    assert all(set(volume) == {"name", "emptyDir"} for volume in pod["volumes"])


@pytest.mark.parametrize("job_name", JOBS)
def test_read_only_root_with_empty_dirs_where_the_side_writes(job_name):
    role = SIDES[job_name][0]
    job = _job(job_name)
    container = _container(job)
    volumes = {volume["name"] for volume in job["spec"]["template"]["spec"]["volumes"]}
    mounts = {mount["mountPath"]: mount for mount in container["volumeMounts"]}
    assert sorted(mount["name"] for mount in mounts.values()) == sorted(volumes)  # each volume mounted once
    assert not any(mount.get("readOnly") for mount in mounts.values())
    settings = start_settings(role, _filled_env(job_name))
    image_env = dockerfile_env(role)
    assert set(mounts) == {str(settings.work_dir), "/tmp", image_env["HOME"]}
    assert str(settings.work_dir) == image_env["SALVO_WORK_DIR"]
    assert set(mounts) <= dockerfile_volumes(role)  # the same paths the image (and ECS) make writable


@pytest.mark.parametrize("job_name", JOBS)
def test_environment_names_only_settings_of_its_role_and_loads(job_name):
    role = SIDES[job_name][0]
    container = _container(_job(job_name))
    salvo_names = {item["name"] for item in container["env"] if item["name"].startswith("SALVO_")}
    salvo_names |= set(k8s_resource("Secret", SIDES[job_name][1])["stringData"])  # what envFrom adds
    assert salvo_names <= known_variables(ROLE_MODELS[role])
    settings = start_settings(role, _filled_env(job_name))  # ConfigError if any value is invalid
    assert settings.key_mode() is KeyMode.SPLIT
    assert settings.link_keys() == (executor_keys() if role == "executor" else controller_keys())


def test_an_executor_given_the_controllers_half_refuses_to_start():
    env = {**_filled_env("salvo-executor"), **controller_env()}
    with pytest.raises(ConfigError, match="SALVO_CONTROLLER_SECRET_KEY is the controller's secret"):
        start_settings("executor", env)


def _filled_env(job_name: str) -> dict[str, str]:
    """The container's variables once its Secret is made with `salvo keygen --role` (the test session's pair)."""
    role, _, keygen_half = SIDES[job_name]
    env = {**_plain_env(_container(_job(job_name))), **keygen_half()}
    if role == "executor":
        env["SALVO_EXECUTOR_ID"] = "salvo-executor-3-x7k2q"  # a pod name of an Indexed Job
    return env


def _secret_references(job: dict) -> set[str]:
    """Every Secret the pod reads: envFrom, env valueFrom and secret/projected volumes."""
    pod = job["spec"]["template"]["spec"]
    names = set()
    for container in pod.get("initContainers", []) + pod["containers"]:
        names |= {source["secretRef"]["name"] for source in container.get("envFrom", []) if "secretRef" in source}
        names |= {
            item["valueFrom"]["secretKeyRef"]["name"]
            for item in container.get("env", [])
            if "secretKeyRef" in item.get("valueFrom", {})
        }
    for volume in pod.get("volumes", []):
        if "secret" in volume:
            names.add(volume["secret"]["secretName"])
        for source in volume.get("projected", {}).get("sources", []):
            if "secret" in source:
                names.add(source["secret"]["name"])
    return names


def _container(job: dict) -> dict:
    (container,) = job["spec"]["template"]["spec"]["containers"]
    return container


def _plain_env(container: dict) -> dict[str, str]:
    return {item["name"]: item["value"] for item in container["env"] if "value" in item}
