"""Hostile or careless configuration: no key material, weak keys, loose secret files, mistyped variables,
the controller's secret on an executor, a peer holding everything an executor holds, scenario code
looking for Salvo's keys. Each case asserts the exact refusal (exit code, one line, no traceback,
the secret never echoed) or that the attack changed nothing."""

from __future__ import annotations

import base64
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from xml.etree import ElementTree

import pytest

from salvo.common.environment import check_environment, scenario_environment, setting_names
from salvo.common.errors import ConfigError
from salvo.common.keys import ControllerKeys, KeyPair, generate_fleet_key, generate_keypair, keygen_blocks
from salvo.common.protocol import Dismiss, Start, Stop
from salvo.common.settings import load
from salvo.controller.link import ControllerLink
from salvo.controller.settings import ControllerSettings
from salvo.executor.settings import ExecutorSettings
from tests.support.executors import run_single, start_executor, wait_for
from tests.support.keys import controller_env, controller_keys, executor_env, executor_keys
from tests.unit.test_controller import make, members

SCAN = "127.0.2.30/32"  # nothing listens there
WEAK_BASE64 = base64.urlsafe_b64encode(bytes(32)).decode().rstrip("=")  # 32 zero bytes: right length, no entropy
EXECUTOR = {
    "SALVO_SCENARIO_URI": "s3://salvo-security/scenarios/test.py",
    "SALVO_RESULTS_URI": "s3://salvo-security/results/",
    "SALVO_BIND_HOST": "127.0.2.31",
}
CONTROLLER = {
    "SALVO_RESULTS_URI": "s3://salvo-security/results/",
    "SALVO_EXECUTOR_CIDRS": SCAN,
    "SALVO_DISCOVERY_TIMEOUT": "2s",
}
OTHER_PAIR = {role: dict(lines) for role, lines in keygen_blocks().items()}


def salvo(args: list[str], env: dict[str, str], tmp_path: Path) -> subprocess.CompletedProcess:
    base = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "PYTHONPATH": os.environ.get("PYTHONPATH", ""),
        "HOME": str(tmp_path),
        "LANG": "C.UTF-8",
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_REGION": "us-east-1",
        "AWS_ENDPOINT_URL": "http://127.0.0.1:9",
        "AWS_EC2_METADATA_DISABLED": "true",
        "SALVO_S3_RETRY_SECONDS": "1",
        "SALVO_WORK_DIR": str(tmp_path / "work"),
    }
    return subprocess.run(
        [sys.executable, "-m", "salvo.cli", *args],
        env={**base, **env},
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
    )


def assert_exit_2_one_line(result: subprocess.CompletedProcess, *words: str, secret: str | None = None) -> None:
    output = result.stdout + result.stderr
    assert result.returncode == 2, output[-3000:]
    assert "Traceback" not in output and "internal error" not in output, output[-3000:]
    errors = [line for line in result.stderr.splitlines() if line.startswith("salvo:")]
    assert len(errors) == 1 and all(word in errors[0] for word in words), errors
    if secret:
        assert secret not in output


# --- 1. authentication is not optional -----------------------------------------------------------

NO_KEYS = {
    "executor": (["executor"], EXECUTOR),
    "controller": (["controller"], CONTROLLER),
    "discover": (["discover"], {"SALVO_EXECUTOR_CIDRS": SCAN}),
    "stop": (["stop"], {"SALVO_EXECUTOR_CIDRS": SCAN}),
}


@pytest.mark.parametrize("verb", sorted(NO_KEYS))
def test_no_key_material_is_exit_2_saying_how_to_make_it(tmp_path, verb):
    args, env = NO_KEYS[verb]
    result = salvo(args, env, tmp_path)
    assert_exit_2_one_line(result, "no key material", "`salvo keygen`", "SALVO_INSECURE=true")
    assert not (tmp_path / "work" / "state.json").exists()  # refused before anything started


@pytest.mark.parametrize("verb", ["executor", "controller"])
def test_an_open_side_says_so_at_its_start(tmp_path, verb):
    # S3 is unreachable here, so each side stops soon after its start: the warning must come before that.
    args, env = NO_KEYS[verb]
    result = salvo(args, {**env, "SALVO_INSECURE": "true"}, tmp_path)
    warnings = [line for line in result.stderr.splitlines() if "control links are NOT authenticated" in line]
    assert result.returncode != 0 and len(warnings) == 1, result.stderr[-3000:]
    assert f"WARNING SALVO_INSECURE=true: the {verb}'s control links" in warnings[0]


CONTRADICTIONS = {
    "insecure-and-split-keys": (
        {**EXECUTOR, "SALVO_INSECURE": "true", **executor_env()},
        ["SALVO_INSECURE=true and key material are both set"],
    ),
    "insecure-and-fleet-key": (
        {**EXECUTOR, "SALVO_INSECURE": "true", "SALVO_FLEET_KEY": generate_fleet_key()},
        ["SALVO_INSECURE=true and key material are both set"],
    ),
    "fleet-key-and-split-keys": (
        {**EXECUTOR, "SALVO_FLEET_KEY": generate_fleet_key(), **executor_env()},
        ["SALVO_FLEET_KEY and SALVO_EXECUTOR_SECRET_KEY"],
    ),
    "secret-without-controller-public-key": (
        {**EXECUTOR, "SALVO_EXECUTOR_SECRET_KEY": executor_env()["SALVO_EXECUTOR_SECRET_KEY"]},
        ["SALVO_CONTROLLER_PUBLIC_KEY is not set"],
    ),
    "controller-secret-given-to-an-executor": (
        {**EXECUTOR, **executor_env(), "SALVO_CONTROLLER_SECRET_KEY": controller_env()["SALVO_CONTROLLER_SECRET_KEY"]},
        ["SALVO_CONTROLLER_SECRET_KEY is the controller's secret and must never reach an executor"],
    ),
}


@pytest.mark.parametrize("name", sorted(CONTRADICTIONS))
def test_contradictory_or_misplaced_key_material_is_exit_2(tmp_path, name):
    env, words = CONTRADICTIONS[name]
    result = salvo(["executor"], env, tmp_path)
    assert_exit_2_one_line(result, *words, secret=controller_env()["SALVO_CONTROLLER_SECRET_KEY"])


# --- 7. weak secrets refused, never echoed -----------------------------------------------------------

WEAK = {
    "fleet-key-16-characters": ("executor", "SALVO_FLEET_KEY", "aaaaaaaaaaaaaaaa", "at least 32 random bytes"),
    "fleet-key-long-but-repeated": ("executor", "SALVO_FLEET_KEY", "a" * 64, "too little entropy"),
    "fleet-key-hex-pattern": ("controller", "SALVO_FLEET_KEY", "0123456789abcdef" * 4, "too little entropy"),
    "fleet-key-a-passphrase": ("controller", "SALVO_FLEET_KEY", "correct horse battery staple!", "at least 32 random"),
    "executor-secret-all-zero": ("executor", "SALVO_EXECUTOR_SECRET_KEY", WEAK_BASE64, "too little entropy"),
    "executor-secret-truncated": (
        "executor",
        "SALVO_EXECUTOR_SECRET_KEY",
        executor_env()["SALVO_EXECUTOR_SECRET_KEY"][:30],
        "expected a CURVE key",
    ),
    "controller-secret-all-zero": ("controller", "SALVO_CONTROLLER_SECRET_KEY", WEAK_BASE64, "too little entropy"),
    "controller-public-garbage": (
        "executor",
        "SALVO_CONTROLLER_PUBLIC_KEY",
        "not-a-key-at-all",
        "expected a CURVE key",
    ),
}


@pytest.mark.parametrize("name", sorted(WEAK))
def test_a_weak_key_is_exit_2_naming_the_variable_never_echoing_it(tmp_path, name):
    side, variable, value, words = WEAK[name]
    env = dict(EXECUTOR if side == "executor" else CONTROLLER)
    pair = executor_env() if side == "executor" else controller_env()
    if variable != "SALVO_FLEET_KEY":
        env.update(pair)
    env[variable] = value
    result = salvo([side], env, tmp_path)
    assert_exit_2_one_line(result, f"{variable}=", words, secret=None if "PUBLIC" in variable else value)


@pytest.mark.parametrize("mode", [0o666, 0o620, 0o602, 0o660])
def test_a_secret_file_others_can_write_is_refused(tmp_path, mode):
    secret = tmp_path / "executor.key"
    secret.write_text(executor_env()["SALVO_EXECUTOR_SECRET_KEY"] + "\n")
    secret.chmod(mode)
    env = {
        **EXECUTOR,
        "SALVO_EXECUTOR_SECRET_KEY_FILE": str(secret),
        "SALVO_CONTROLLER_PUBLIC_KEY": executor_env()["SALVO_CONTROLLER_PUBLIC_KEY"],
    }
    result = salvo(["executor"], env, tmp_path)
    assert_exit_2_one_line(
        result,
        f"SALVO_EXECUTOR_SECRET_KEY_FILE={secret}",
        "writable by group or others",
        f"{mode:04o}",
        secret=executor_env()["SALVO_EXECUTOR_SECRET_KEY"],
    )


def test_a_private_secret_file_is_read(tmp_path, monkeypatch):
    secret = tmp_path / "controller.key"
    secret.write_text(controller_env()["SALVO_CONTROLLER_SECRET_KEY"] + "\n")
    secret.chmod(0o400)
    settings = load(
        ControllerSettings,
        {
            **CONTROLLER,
            "SALVO_CONTROLLER_SECRET_KEY_FILE": str(secret),
            "SALVO_EXECUTOR_PUBLIC_KEY": controller_env()["SALVO_EXECUTOR_PUBLIC_KEY"],
        },
    )
    assert settings.link_keys() == controller_keys()


# --- 8. a mistyped variable is not ignored --------------------------------------------------------------

TYPOS = {
    "SALVO_USER": "SALVO_USERS",
    "SALVO_FLEET_KYE": "SALVO_FLEET_KEY",
    "SALVO_SCENARIO_URL": "SALVO_SCENARIO_URI",
    "SALVO_EXECUTOR_SECRETKEY": "SALVO_EXECUTOR_SECRET_KEY",
    "SALVO_CRITERION": "SALVO_CRITERIA",
}


@pytest.mark.parametrize("typo", sorted(TYPOS))
def test_a_mistyped_variable_is_exit_2_with_the_closest_setting(tmp_path, typo):
    result = salvo(["executor"], {**EXECUTOR, "SALVO_INSECURE": "true", typo: "5"}, tmp_path)
    assert_exit_2_one_line(result, f"{typo} is not a Salvo setting", f"did you mean {TYPOS[typo]}?")


def test_an_unknown_variable_with_nothing_close_is_named(tmp_path):
    result = salvo(["controller"], {**CONTROLLER, "SALVO_INSECURE": "true", "SALVO_XYZZY_PLUGH": "1"}, tmp_path)
    assert_exit_2_one_line(result, "SALVO_XYZZY_PLUGH is not a Salvo setting")


def test_the_other_sides_settings_and_salvos_own_names_are_accepted():
    known = setting_names([ExecutorSettings, ControllerSettings])
    check_environment(
        {
            "SALVO_CRITERIA": "p95<1s",
            "SALVO_USERS": "5",
            "SALVO_DATA_FILE": "/x",
            "SALVO_TAG": "dev",
            "SALVO_TEST_REQUIRE_JMETER": "1",
            "SALVO_FLEET_KEY_FILE": "/k",
        },
        known,
        executor=True,
    )
    with pytest.raises(ConfigError):
        check_environment({"SALVO_CONTROLLER_SECRET_KEY_FILE": "/run/secrets/c"}, known, executor=True)


# --- 3. scenario code cannot read Salvo's secrets --------------------------------------------------------


def test_scenario_environment_drops_key_material_and_keeps_the_rest():
    environ = {
        "SALVO_FLEET_KEY": "x",
        "SALVO_FLEET_KEY_FILE": "/k",
        "SALVO_EXECUTOR_SECRET_KEY": "x",
        "SALVO_CONTROLLER_PUBLIC_KEY": "x",
        "SALVO_CONTROLLER_SECRET_KEY_FILE": "/c",
        "SALVO_EXECUTOR_ID": "e1",
        "SALVO_DATA_FILE": "/d.csv",
        "AWS_REGION": "eu-west-1",
        "HOME": "/h",
    }
    assert scenario_environment(environ, {"SALVO_GATE_SOCKET": "@g"}) == {
        "SALVO_EXECUTOR_ID": "e1",
        "SALVO_DATA_FILE": "/d.csv",
        "AWS_REGION": "eu-west-1",
        "HOME": "/h",
        "SALVO_GATE_SOCKET": "@g",
    }


def test_the_pre_start_command_sees_no_key_material(tmp_path, monkeypatch):
    # The operator's command runs tools of their own (curl, a reset script): they get none of the controller's keys,
    # and keep the operator's own variables, even one whose name says KEY.
    keys = {**controller_env(), "SALVO_CONTROLLER_SECRET_KEY_FILE": "/run/secrets/c", "SALVO_FLEET_KEY": "x"}
    for name, value in {**keys, "TARGET_API_KEY": "kept"}.items():
        monkeypatch.setenv(name, value)
    seen = tmp_path / "pre-start-env"
    controller, _ = make(members(1), tmp_path, criteria="none", pre_start_command=f"env > {seen}")
    controller.run()
    names = {line.partition("=")[0] for line in seen.read_text().splitlines()}
    assert "TARGET_API_KEY" in names and not names & set(keys)


PEEKING_LOCUSTFILE = b"""
import os
from locust import HttpUser, constant, task

LEAKED = sorted(name for name in os.environ if name.startswith("SALVO_") and ("KEY" in name or name.endswith("_FILE"))
                and name != "SALVO_DATA_FILE")
if LEAKED:  # the probe (arming) runs this too: a leak there makes arming fail, naming what leaked
    raise SystemExit("scenario code saw " + ",".join(LEAKED))


class Peek(HttpUser):
    wait_time = constant(0.2)

    @task
    def look(self):
        seen = [n for n in os.environ if n.startswith("SALVO_") and "KEY" in n]
        self.client.get("/leak" if seen else "/clean", headers={"X-Salvo-Executor": os.environ["SALVO_EXECUTOR_ID"]})
"""


def test_scenario_code_sees_no_key_material_while_arming_or_running(tmp_path, aws_env, s3_bucket, s3_client, target):
    s3_client.put_object(Bucket=s3_bucket, Key="scenarios/peek.py", Body=PEEKING_LOCUSTFILE)
    key_file = tmp_path / "executor.key"
    key_file.write_text(executor_env()["SALVO_EXECUTOR_SECRET_KEY"])
    key_file.chmod(0o600)
    executor = start_executor(
        tmp_path,
        aws_env,
        executor_id="peeker",
        host="127.0.2.33",
        scenario_uri=f"s3://{s3_bucket}/scenarios/peek.py",
        results_uri=f"s3://{s3_bucket}/results/",
        extra_env={
            "SALVO_EXECUTOR_SECRET_KEY_FILE": str(key_file),
            "SALVO_CONTROLLER_PUBLIC_KEY": executor_env()["SALVO_CONTROLLER_PUBLIC_KEY"],
            "SALVO_DURATION": "2s",
            "SALVO_TARGET_HOST": target.url,
        },
    )
    try:
        executor.wait_state("armed")
        assert run_single(executor, "peek", keys=controller_keys()) == 0, executor.log()[-3000:]
        paths = target.stats()["paths"]
        assert paths.get("/clean", 0) > 0 and "/leak" not in paths, paths
    finally:
        executor.kill()


# --- 2. two roles, two secrets: all an executor holds commands no other executor ------------------------


def _attackers() -> dict[str, ControllerKeys]:
    stolen = executor_keys()  # everything a compromised executor (or its scenario) could read
    return {
        "executor-pair-as-client": ControllerKeys(stolen.own, stolen.own.public),
        "fresh-pair": ControllerKeys(generate_keypair(), stolen.own.public),
        "claims-controller-public": ControllerKeys(
            KeyPair(public=stolen.controller_public, secret=stolen.own.secret), stolen.own.public
        ),
    }


@pytest.fixture
def armed_with_split_keys(tmp_path, aws_env, s3_bucket, s3_client, target):
    body = PEEKING_LOCUSTFILE
    s3_client.put_object(Bucket=s3_bucket, Key="scenarios/victim.py", Body=body)
    executor = start_executor(
        tmp_path,
        aws_env,
        executor_id="victim",
        host="127.0.2.34",
        scenario_uri=f"s3://{s3_bucket}/scenarios/victim.py",
        results_uri=f"s3://{s3_bucket}/results/",
        extra_env={**executor_env(), "SALVO_DURATION": "2s", "SALVO_TARGET_HOST": target.url},
    )
    executor.wait_state("armed")
    yield executor
    executor.kill()


@pytest.mark.parametrize("command", ["start", "stop", "dismiss"])
def test_a_peer_holding_all_an_executor_holds_cannot_command_another(armed_with_split_keys, target, command):
    executor = armed_with_split_keys
    for name, keys in _attackers().items():
        attacker = ControllerLink(keys, command_port=executor.command_port, status_port=executor.status_port)
        try:
            assert attacker.handshake(executor.host, timeout=1.5) is None, name  # not even a Status
            start_at = time.time() + 0.3
            message = {
                "start": Start(run_id=f"hijack-{name}", fleet=[executor.executor_id], start_at=start_at),
                "stop": Stop(reason="hijack"),
                "dismiss": Dismiss(reason="hijack"),
            }[command]
            for _ in range(3):
                attacker.publish(message)
                time.sleep(0.05)
            assert attacker.auth_failed(executor.host), name
        finally:
            attacker.close()
    executor.wait_log("authentication failed", timeout=10)
    time.sleep(max(0.0, start_at + 0.2 - time.time()))  # past the last start_at sent: an obeyed Start has fired
    assert executor.state() == "armed" and target.stats()["total"] == 0
    assert "hijack" not in executor.log()
    # the real controller still commands it
    assert run_single(executor, f"after-{command}", keys=controller_keys()) == 0
    assert target.stats()["total"] > 0


def test_other_fleets_controller_cannot_command_this_one(armed_with_split_keys, target):
    executor = armed_with_split_keys
    other = OTHER_PAIR["controller"]
    from salvo.common.keys import decode_curve_key, keypair_from_secret

    outsider = ControllerLink(
        ControllerKeys(
            keypair_from_secret(other["SALVO_CONTROLLER_SECRET_KEY"]),
            decode_curve_key(other["SALVO_EXECUTOR_PUBLIC_KEY"]),
        ),
        command_port=executor.command_port,
        status_port=executor.status_port,
    )
    try:
        assert outsider.handshake(executor.host, timeout=1.5) is None
        outsider.publish(Start(run_id="outsider", fleet=[executor.executor_id], start_at=time.time() + 0.3))
        wait_for(lambda: outsider.auth_failed(executor.host), 10, "the handshake failure")
    finally:
        outsider.close()
    assert executor.state() == "armed" and target.stats()["total"] == 0


def test_an_insecure_controller_cannot_command_a_keyed_executor(armed_with_split_keys, target):
    executor = armed_with_split_keys
    open_link = ControllerLink(None, command_port=executor.command_port, status_port=executor.status_port)
    try:
        assert open_link.handshake(executor.host, timeout=1.5) is None
        open_link.publish(Start(run_id="open", fleet=[executor.executor_id], start_at=time.time() + 0.3))
        # the handshake fails (mechanism mismatch): seen on the open link's side, however libzmq words it
        wait_for(lambda: open_link.auth_failed(executor.host), 10, "the handshake failure")
    finally:
        open_link.close()
    assert executor.state() == "armed" and target.stats()["total"] == 0


@pytest.mark.parametrize(
    ("env", "links", "line"),
    [
        ({"insecure": "true"}, "insecure", "control links: INSECURE (SALVO_INSECURE=true: not authenticated"),
        ({"fleet_key": generate_fleet_key()}, "fleet-key", "control links: authenticated and encrypted (fleet-key"),
    ],
    ids=["insecure", "fleet-key"],
)
def test_the_report_says_how_the_control_links_were_secured(tmp_path, capsys, env, links, line):
    # An open run must be visible wherever its result is read: report.json, report.html, junit.xml, the console.
    controller, _ = make(members(2), tmp_path, criteria="none", **env)
    controller.run()
    folder = tmp_path / "report"
    data = json.loads((folder / "report.json").read_text())
    assert data["security"] == {"links": links, "insecure": links == "insecure"}
    junit = ElementTree.fromstring((folder / "junit.xml").read_text())
    assert junit.find("properties/property[@name='salvo.links']").get("value") == links
    assert line in junit.find("testcase[@name='verdict']/system-out").text
    assert line in capsys.readouterr().out
    banner = 'id="insecure"' in (folder / "report.html").read_text()
    assert banner is (links == "insecure")
