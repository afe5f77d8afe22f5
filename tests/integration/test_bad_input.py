"""Bad input to every `salvo` verb: the documented exit code, one line naming the culprit, never a traceback.

Exit 2 is a configuration error (a variable, a CLI argument, a path), exit 3 a
scenario that cannot be armed. Most cases exit before any network use, so they
run as subprocesses with a minimal environment in which S3 can only be a closed
port on 127.0.0.1 and every scan is limited to 127.0.2.x: a case that failed to
refuse its input still sends nothing off this host. SALVO_LOG_LEVEL=DEBUG is set
so that an unexpected exception would print its traceback (and fail the case).

Cases already covered elsewhere are not repeated here: tests/unit/test_settings.py
(one value per executor variable type, in process), tests/integration/test_cli.py,
the configuration errors in test_controller.py and the unarmable scenarios in
test_executor_failures.py.
"""

from __future__ import annotations

import io
import os
import stat
import struct
import subprocess
import sys
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tests.support.bundles import zip_bytes
from tests.support.cluster import base_environment
from tests.support.executors import REPO, free_port

pytestmark = pytest.mark.integration

SECRET_KEY = "sh0rt-k3y"  # 9 characters: far below the 32 random bytes a fleet key needs
NOWHERE_S3 = "http://127.0.0.1:9"  # discard port: closed, so any S3 call fails at once, locally
SCAN = "127.0.2.30/32"  # nothing listens there on these ports

LOCUSTFILE = b"""
from locust import HttpUser, constant, task

class Visitor(HttpUser):
    wait_time = constant(1)

    @task
    def index(self):
        self.client.get("/")
"""


def minimal_environment(tmp_path: Path, extra: dict[str, str]) -> dict[str, str]:
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "PYTHONPATH": os.environ.get("PYTHONPATH", ""),
        "HOME": str(tmp_path),
        "LANG": "C.UTF-8",
        "PYTHONUNBUFFERED": "1",
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_REGION": "us-east-1",
        "AWS_ENDPOINT_URL": NOWHERE_S3,
        "AWS_EC2_METADATA_DISABLED": "true",
        "SALVO_LOG_LEVEL": "DEBUG",
        "SALVO_S3_RETRY_SECONDS": "1",
        "SALVO_WORK_DIR": str(tmp_path / "work"),
    }
    env.update(extra)
    return {k: v for k, v in env.items() if v is not None}


def salvo(args: list[str], env: dict[str, str], cwd: Path, timeout: float = 60) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "salvo.cli", *args], env=env, cwd=cwd, capture_output=True, text=True, timeout=timeout
    )


def assert_refused(result: subprocess.CompletedProcess, code: int, culprit: list[str], secret: str | None = None):
    output = result.stdout + result.stderr
    assert result.returncode == code, f"exit {result.returncode}, expected {code}:\n{output[-3000:]}"
    assert "Traceback" not in output and "internal error" not in output, output[-3000:]
    naming = [line for line in output.splitlines() if all(word in line for word in culprit)]
    assert naming, f"no line names {culprit}:\n{output[-3000:]}"
    if secret:
        assert secret not in output


# --- the environment: `salvo executor`, `salvo controller` and the bastion verbs ------------------

EXECUTOR = {
    "SALVO_INSECURE": "true",  # these cases are about other settings (key material: tests/security)
    "SALVO_SCENARIO_URI": "s3://salvo-bad-input/scenarios/test.py",
    "SALVO_RESULTS_URI": "s3://salvo-bad-input/results/",
    "SALVO_BIND_HOST": "127.0.2.31",
}
CONTROLLER = {
    "SALVO_INSECURE": "true",
    "SALVO_RESULTS_URI": "s3://salvo-bad-input/results/",
    "SALVO_EXECUTOR_CIDRS": SCAN,
    "SALVO_DISCOVERY_TIMEOUT": "2s",
}
BASTION = {"SALVO_INSECURE": "true", "SALVO_EXECUTOR_CIDRS": SCAN, "SALVO_PROBE_TIMEOUT": "0.2"}


@dataclass
class Case:
    args: list[str]
    env: dict[str, str]
    culprit: list[str]
    code: int = 2
    secret: str | None = None
    base: dict[str, str] = field(default_factory=dict)


def executor(culprit: list[str], **env) -> Case:
    return Case(["executor"], env, culprit, base=EXECUTOR)


def controller(culprit: list[str], **env) -> Case:
    return Case(["controller"], env, culprit, base=CONTROLLER)


ENVIRONMENT_CASES = {
    # durations
    "executor-arm-timeout-words": executor(
        ["SALVO_ARM_TIMEOUT='soon'", "expected a duration"], SALVO_ARM_TIMEOUT="soon"
    ),
    "executor-start-tolerance-negative": executor(
        ["SALVO_START_TOLERANCE='-50ms'", "expected a duration"], SALVO_START_TOLERANCE="-50ms"
    ),
    "executor-stats-interval-zero": executor(["SALVO_STATS_INTERVAL='0'", "greater than 0"], SALVO_STATS_INTERVAL="0"),
    "controller-settle-unknown-unit": controller(
        ["SALVO_SETTLE_SECONDS='10 sec'", "expected a duration"], SALVO_SETTLE_SECONDS="10 sec"
    ),
    "controller-liveness-too-long": controller(
        ["SALVO_LIVENESS_TIMEOUT='10s'", "less than or equal to 5"], SALVO_LIVENESS_TIMEOUT="10s"
    ),
    "controller-start-lead-below-50ms": controller(
        ["SALVO_START_LEAD='10'", "greater than or equal to 50"], SALVO_START_LEAD="10"
    ),
    # numbers and ports
    "executor-command-port-zero": executor(["SALVO_COMMAND_PORT='0'", "TCP port"], SALVO_COMMAND_PORT="0"),
    "controller-status-port-too-high": controller(["SALVO_STATUS_PORT='65536'", "TCP port"], SALVO_STATUS_PORT="65536"),
    "executor-bundle-max-bytes-with-unit": executor(["SALVO_BUNDLE_MAX_BYTES='512MB'"], SALVO_BUNDLE_MAX_BYTES="512MB"),
    "controller-scan-concurrency-zero": controller(
        ["SALVO_SCAN_CONCURRENCY='0'", "greater than 0"], SALVO_SCAN_CONCURRENCY="0"
    ),
    "controller-min-above-expected": controller(
        ["SALVO_MIN_EXECUTORS is larger than SALVO_EXPECTED_EXECUTORS"],
        SALVO_MIN_EXECUTORS="5",
        SALVO_EXPECTED_EXECUTORS="3",
    ),
    # S3 URIs and identifiers
    "executor-scenario-bucket-too-short": executor(
        ["SALVO_SCENARIO_URI='s3://ab/x.py'", "S3 URI"], SALVO_SCENARIO_URI="s3://ab/x.py"
    ),
    "executor-results-uri-upper-case-scheme": executor(
        ["SALVO_RESULTS_URI='S3://bucket/results/'", "S3 URI"], SALVO_RESULTS_URI="S3://bucket/results/"
    ),
    "controller-results-uri-not-a-prefix": controller(
        ["SALVO_RESULTS_URI='s3://bucket/results/report.json'", "ending in '/'"],
        SALVO_RESULTS_URI="s3://bucket/results/report.json",
    ),
    "controller-run-id-path": controller(["SALVO_RUN_ID='../etc'", "letters, digits"], SALVO_RUN_ID="../etc"),
    "executor-id-too-long": executor(["SALVO_EXECUTOR_ID=", "at most 128"], SALVO_EXECUTOR_ID="x" * 129),
    "executor-target-host-ftp": executor(
        ["SALVO_TARGET_HOST='ftp://target'", "base URL"], SALVO_TARGET_HOST="ftp://target"
    ),
    # enums
    "controller-lost-policy": controller(
        ["SALVO_LOST_EXECUTOR_POLICY='ignore'", "'continue' or 'fail'"], SALVO_LOST_EXECUTOR_POLICY="ignore"
    ),
    "controller-run-id-reuse": controller(
        ["SALVO_RUN_ID_REUSE='append'", "'refuse' or 'overwrite'"], SALVO_RUN_ID_REUSE="append"
    ),
    "controller-log-format": controller(["SALVO_LOG_FORMAT='yaml'", "'text' or 'json'"], SALVO_LOG_FORMAT="yaml"),
    # address ranges
    "controller-cidr-prefix-33": controller(
        ["SALVO_EXECUTOR_CIDRS", "'10.0.0.0/33'"], SALVO_EXECUTOR_CIDRS="10.0.0.0/33"
    ),
    "controller-range-backwards": controller(
        ["SALVO_EXECUTOR_CIDRS", "ends before it starts"], SALVO_EXECUTOR_CIDRS="10.0.1.50-10.0.1.10"
    ),
    "controller-cidr-ipv6": controller(["SALVO_EXECUTOR_CIDRS", "'::1/128'"], SALVO_EXECUTOR_CIDRS="::1/128"),
    "controller-scan-over-own-limit": controller(
        ["SALVO_EXECUTOR_CIDRS", "more than the limit of 8"],
        SALVO_EXECUTOR_CIDRS="127.0.2.0/24",
        SALVO_MAX_SCAN_ADDRESSES="8",
    ),
    "controller-ip-network-without-hosts": controller(
        ["SALVO_IP_NETWORK and SALVO_IP_HOSTS go together"], SALVO_EXECUTOR_CIDRS=None, SALVO_IP_NETWORK="127.0.2"
    ),
    "controller-ip-hosts-not-numbers": controller(
        ["SALVO_IP_NETWORK/SALVO_IP_HOSTS", "127.0.2.x-127.0.2.7"],
        SALVO_EXECUTOR_CIDRS=None,
        SALVO_IP_NETWORK="127.0.2",
        SALVO_IP_HOSTS="5,x-7",
    ),
    # criteria
    "criteria-latency-in-percent": controller(
        ["SALVO_CRITERIA='p95<5%'", "a latency takes ms or s, not %"], SALVO_CRITERIA="p95<5%"
    ),
    "criteria-rate-in-ms": controller(
        ["SALVO_CRITERIA=", "error_rate<5ms", "a rate takes % or a fraction"],
        SALVO_CRITERIA="p95<500ms; error_rate<5ms",
    ),
    "criteria-unknown-percentile": controller(
        ["SALVO_CRITERIA='p42<100ms'", "unknown metric 'p42'"], SALVO_CRITERIA="p42<100ms"
    ),
    "criteria-label-without-name": controller(
        ["SALVO_CRITERIA='label:p95<300ms'", "label:NAME:METRIC"], SALVO_CRITERIA="label:p95<300ms"
    ),
    "criteria-count-with-unit": controller(["SALVO_CRITERIA='rps>=10%'", "plain number"], SALVO_CRITERIA="rps>=10%"),
    # secrets and combinations
    "executor-fleet-key-short": Case(
        ["executor"],
        {"SALVO_FLEET_KEY": SECRET_KEY, "SALVO_INSECURE": None},
        ["SALVO_FLEET_KEY='***'", "at least 32 random bytes"],
        secret=SECRET_KEY,
        base=EXECUTOR,
    ),
    "controller-fleet-key-short": Case(
        ["controller"],
        {"SALVO_FLEET_KEY": SECRET_KEY, "SALVO_INSECURE": None},
        ["SALVO_FLEET_KEY='***'", "at least 32 random bytes"],
        secret=SECRET_KEY,
        base=CONTROLLER,
    ),
    "executor-spawn-rate-and-ramp-up": executor(
        ["SALVO_SPAWN_RATE and SALVO_RAMP_UP are alternatives"], SALVO_SPAWN_RATE="5", SALVO_RAMP_UP="10s"
    ),
    "executor-ramp-up-words": executor(["SALVO_RAMP_UP='slowly'", "expected a duration"], SALVO_RAMP_UP="slowly"),
    # the bastion verbs read the controller's scan settings
    "discover-fleet-key-short": Case(
        ["discover"],
        {"SALVO_FLEET_KEY": SECRET_KEY, "SALVO_INSECURE": None},
        ["SALVO_FLEET_KEY='***'", "at least 32 random bytes"],
        secret=SECRET_KEY,
        base=BASTION,
    ),
    "discover-address-out-of-range": Case(
        ["discover"], {"SALVO_EXECUTOR_CIDRS": "127.0.2.300"}, ["SALVO_EXECUTOR_CIDRS", "'127.0.2.300'"], base=BASTION
    ),
    "stop-status-port-words": Case(
        ["stop"], {"SALVO_STATUS_PORT": "status"}, ["SALVO_STATUS_PORT='status'", "valid integer"], base=BASTION
    ),
    "stop-probe-timeout-zero": Case(
        ["stop", "--run-id", "some-run"],
        {"SALVO_PROBE_TIMEOUT": "0"},
        ["SALVO_PROBE_TIMEOUT='0'", "greater than 0"],
        base=BASTION,
    ),
    "health-command-port-negative": Case(
        ["health"], {"SALVO_COMMAND_PORT": "-1"}, ["SALVO_COMMAND_PORT='-1'", "TCP port"]
    ),
}


@pytest.mark.parametrize("name", sorted(ENVIRONMENT_CASES))
def test_bad_environment_exits_2_naming_the_variable(tmp_path, name):
    case = ENVIRONMENT_CASES[name]
    result = salvo(case.args, minimal_environment(tmp_path, {**case.base, **case.env}), tmp_path)
    assert_refused(result, case.code, case.culprit, case.secret)
    assert not (tmp_path / "work" / "state.json").exists()  # refused before anything started


def test_work_dir_that_is_a_file_exits_2_naming_it(tmp_path):
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("a file where the work dir should be")
    result = salvo(["executor"], minimal_environment(tmp_path, {**EXECUTOR, "SALVO_WORK_DIR": str(blocker)}), tmp_path)
    assert_refused(result, 2, [f"SALVO_WORK_DIR={blocker}", "cannot be used"])


# --- command-line arguments -----------------------------------------------------------------------

ARGUMENT_CASES = {
    "no-verb": ([], ["the following arguments are required: VERB"]),
    "unknown-verb": (["frobnicate"], ["invalid choice: 'frobnicate'"]),
    "config-unknown-role": (["config", "scheduler"], ["invalid choice: 'scheduler'"]),
    "report-without-uri": (["report"], ["the following arguments are required: uri"]),
    "upload-without-destination": (["upload", "scenario.py"], ["the following arguments are required: uri"]),
    "keygen-unknown-option": (["keygen", "--bits", "128"], ["unrecognized arguments: --bits 128"]),
    "stop-run-id-without-value": (["stop", "--run-id"], ["--run-id: expected one argument"]),
    "report-uri-not-s3": (
        ["report", "https://bucket/results/run-1/"],
        ["not an S3 URI", "https://bucket/results/run-1/"],
    ),
    "report-bucket-upper-case": (["report", "s3://Results/run-1/"], ["bad bucket name 'Results'"]),
    "report-criteria-latency-in-percent": (
        ["report", "s3://bucket/results/run-1/", "--criteria", "p95<5%"],
        ["'p95<5%'", "a latency takes ms or s, not %"],
    ),
    "compare-without-new": (["compare", "s3://bucket/results/run-1/"], ["the following arguments are required: new"]),
    "compare-base-not-a-report": (
        ["compare", "good.py", "s3://bucket/results/run-1/"],
        ["BASE good.py", "is not a Salvo report.json: not valid JSON"],
    ),
    "runs-uri-not-s3": (["runs", "results/"], ["not an S3 URI", "'results/'"]),
    "runs-limit-zero": (["runs", "s3://bucket/results/", "--limit", "0"], ["--limit 0: expected at least 1"]),
    "upload-missing-file": (["upload", "absent.py", "s3://bucket/scenarios/"], ["absent.py: no such file"]),
    "upload-destination-not-s3": (["upload", "good.py", "bucket/scenarios/"], ["not an S3 URI", "bucket/scenarios/"]),
    "upload-suffix-changed": (["upload", "good.py", "s3://bucket/scenarios/good.yml"], ["good.yml", "suffix (.py)"]),
}


@pytest.mark.parametrize("name", sorted(ARGUMENT_CASES))
def test_bad_arguments_exit_2_naming_them(tmp_path, name):
    args, culprit = ARGUMENT_CASES[name]
    (tmp_path / "good.py").write_bytes(LOCUSTFILE)
    result = salvo(args, minimal_environment(tmp_path, BASTION), tmp_path)
    assert_refused(result, 2, culprit)


# --- scenarios `salvo upload` refuses (the executor's own checks, exit 3) ---------------------------


def zip_with_link() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as bundle:
        bundle.writestr("locustfile.py", LOCUSTFILE)
        link = zipfile.ZipInfo("data/users.csv")
        link.external_attr = (stat.S_IFLNK | 0o777) << 16
        bundle.writestr(link, "/etc/passwd")
    return buffer.getvalue()


def honest_bomb(path: Path) -> None:
    """520 MiB of zeros (over the 512 MiB default), about 0.5 MB zipped, sizes declared truthfully."""
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as bundle:
        bundle.writestr("locustfile.py", LOCUSTFILE)
        with bundle.open("zeros.bin", "w", force_zip64=True) as out:
            chunk = b"\0" * (1 << 20)
            for _ in range(520):
                out.write(chunk)


def lying_bomb() -> bytes:
    """A member whose headers say 10 bytes but which inflates to 64 MiB."""
    raw = bytearray(zip_bytes({"locustfile.py": LOCUSTFILE, "zeros.bin": b"\0" * (64 << 20)}))
    for signature, name_length_at, name_at, size_at in ((b"PK\x03\x04", 26, 30, 22), (b"PK\x01\x02", 28, 46, 24)):
        at = raw.find(signature)
        while at >= 0:
            length = struct.unpack_from("<H", raw, at + name_length_at)[0]
            if raw[at + name_at : at + name_at + length] == b"zeros.bin":
                struct.pack_into("<I", raw, at + size_at, 10)
            at = raw.find(signature, at + 4)
    return bytes(raw)


JMETER_CONFIG = b'{"execution": [{"executor": "jmeter", "concurrency": 1, "scenario": {"script": "test.jmx"}}]}'


def jmeter_bundle(plan: bytes) -> bytes:
    """A DLT-style bundle around `plan` (the upload machine needs no JMeter: the plan is checked all the same)."""
    return zip_bytes({"test.json": JMETER_CONFIG, "test.jmx": plan})


UPLOAD_CASES = {
    "zip-absolute-path": (
        "abs.zip",
        lambda: zip_bytes({"locustfile.py": LOCUSTFILE, "/etc/cron.d/job": b"x"}),
        ["abs.zip", "'/etc/cron.d/job'", "absolute path"],
    ),
    "zip-traversal-deep": (
        "deep.zip",
        lambda: zip_bytes({"locustfile.py": LOCUSTFILE, "data/../../../x.py": b"x"}),
        ["deep.zip", "data/../../../x.py", "path traversal"],
    ),
    "zip-symbolic-link": ("link.zip", zip_with_link, ["link.zip", "'data/users.csv'", "symbolic link"]),
    "zip-bomb-declared": ("bomb.zip", honest_bomb, ["bomb.zip", "more than SALVO_BUNDLE_MAX_BYTES"]),
    "zip-bomb-lying-headers": ("liar.zip", lying_bomb, ["liar.zip", "'zeros.bin'", "lies about its size"]),
    "zip-too-many-files": (
        "many.zip",
        lambda: zip_bytes({"locustfile.py": LOCUSTFILE, **{f"d/{n}": b"" for n in range(10001)}}),
        ["many.zip", "10002 entries, over SALVO_BUNDLE_MAX_FILES=10000"],
    ),
    "zip-not-a-zip": ("fake.zip", lambda: b"PK but not a zip at all", ["fake.zip", "not a readable zip"]),
    "zip-two-entries": (
        "two.zip",
        lambda: zip_bytes({"a/locustfile.py": LOCUSTFILE, "b/locustfile.py": LOCUSTFILE}),
        ["two.zip", "several locustfile.py", "SALVO_SCENARIO_ENTRY"],
    ),
    "yaml-list-at-top": ("list.yml", lambda: b"- executor: locust\n- scenario: x\n", ["list.yml", "must be a mapping"]),
    "yaml-not-utf8": (
        "latin.yml",
        lambda: b"execution:\n- executor: locust\n  scenario: caf\xe9\n",
        ["latin.yml", "not UTF-8"],
    ),
    "yaml-no-execution": (
        "noexec.yml",
        lambda: b"modules:\n  console:\n    disable: true\n",
        ["noexec.yml", "no execution:"],
    ),
    "yaml-unknown-bzt-executor": (
        "unknown.yml",
        lambda: b"execution:\n- executor: frobnicator\n  scenario: s\n"
        b"scenarios:\n  s:\n    requests: [http://127.0.0.1/]\n",
        ["unknown.yml", "unknown bzt executor 'frobnicator'"],
    ),
    "yaml-script-missing": (
        "missing.yml",
        lambda: b"execution:\n- executor: locust\n  scenario: s\nscenarios:\n  s:\n    script: not_there.py\n",
        ["missing.yml", "not_there.py does not exist"],
    ),
    "json-unclosed": (
        "test.json",
        lambda: b'{"execution": [{"executor": "locust", "scenario": ',
        ["test.json", "invalid JSON"],
    ),
    "locustfile-import-error": (
        "imports.py",
        lambda: b"import salvo_no_such_module\n",
        ["imports.py", "ModuleNotFoundError", "salvo_no_such_module"],
    ),
    "locustfile-syntax-error": (
        "syntax.py",
        lambda: b"from locust import HttpUser\ndef broken(:\n",
        ["syntax.py", "SyntaxError", "line 2"],
    ),
    "locustfile-exits-on-import": ("exits.py", lambda: b"import sys\nsys.exit(5)\n", ["exits.py", "sys.exit(5)"]),
    "locustfile-only-abstract-user": (
        "abstract.py",
        lambda: b"from locust import User, task\nclass Base(User):\n"
        b"    abstract = True\n    @task\n    def t(self): pass\n",
        ["abstract.py", "defines no locust User class"],
    ),
    "locustfile-user-without-tasks": (
        "taskless.py",
        lambda: b"from locust import HttpUser\nclass Idle(HttpUser):\n    pass\n",
        ["taskless.py", "User class Idle has no tasks"],
    ),
    "locustfile-named-locust": ("locust.py", lambda: LOCUSTFILE, ["locust.py", "may not be named locust.py"]),
    "unsupported-suffix": ("notes.txt", lambda: b"GET /\n", ["notes.txt", "unsupported scenario type .txt"]),
    "jmx-doctype-entities": (
        "entities.zip",
        lambda: jmeter_bundle(
            b'<?xml version="1.0"?><!DOCTYPE p [<!ENTITY a "aaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;">]>'
            b"<jmeterTestPlan>&b;</jmeterTestPlan>"
        ),
        ["test.json", "test.jmx", "has a DOCTYPE declaration"],
    ),
    "jmx-not-xml": (
        "broken.zip",
        lambda: jmeter_bundle(b"<jmeterTestPlan><hashTree></jmeterTestPlan>"),
        ["test.json", "test.jmx", "not a readable JMeter plan", "mismatched tag", "line 1"],
    ),
    "jmx-missing": (
        "noplan.zip",
        lambda: zip_bytes({"test.json": JMETER_CONFIG}),
        ["test.json", "JMeter plan test.jmx does not exist"],
    ),
}


@pytest.mark.parametrize("name", sorted(UPLOAD_CASES))
def test_upload_refuses_a_bad_scenario_with_exit_3(tmp_path, name):
    filename, make, culprit = UPLOAD_CASES[name]
    path = tmp_path / filename
    if make is honest_bomb:
        honest_bomb(path)
    else:
        path.write_bytes(make())
    # nothing reaches S3: the checks refuse first (and S3 here is a closed local port)
    result = salvo(
        ["upload", str(path), "s3://salvo-bad-input/scenarios/"], minimal_environment(tmp_path, {}), tmp_path
    )
    assert_refused(result, 3, culprit)


def test_upload_notes_a_tool_this_machine_lacks_and_uploads_for_the_image_that_has_it(
    tmp_path, aws_env, s3_bucket, s3_client
):
    path = tmp_path / "jmeter.yml"  # a bastion (controller image) has no JMeter; salvo-executor-jmeter has
    path.write_bytes(
        b"execution:\n- executor: jmeter\n  scenario: s\nscenarios:\n  s:\n    requests: [http://127.0.0.1/]\n"
    )
    env = minimal_environment(tmp_path, {**aws_env, "PATH": "/usr/bin:/bin"})  # no jmeter on this PATH
    result = salvo(["upload", str(path), f"s3://{s3_bucket}/scenarios/"], env, tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert (
        "note: bzt executor 'jmeter' needs command jmeter" in result.stderr and "salvo-executor-jmeter" in result.stderr
    )
    assert s3_client.get_object(Bucket=s3_bucket, Key="scenarios/jmeter.yml")["Body"].read() == path.read_bytes()


@pytest.mark.parametrize(
    ("entry", "culprit"),
    [
        ("../../etc/passwd", ["SALVO_SCENARIO_ENTRY='../../etc/passwd'", "points outside the bundle"]),
        ("missing.py", ["SALVO_SCENARIO_ENTRY='missing.py'", "is not a file in the bundle"]),
    ],
    ids=["entry-outside", "entry-missing"],
)
def test_upload_refuses_a_bad_bundle_entry_with_exit_3(tmp_path, entry, culprit):
    bundle = tmp_path / "bundle.zip"
    bundle.write_bytes(zip_bytes({"locustfile.py": LOCUSTFILE, "data/users.csv": b"id\n1\n"}))
    result = salvo(
        ["upload", str(bundle), "s3://salvo-bad-input/scenarios/", "--entry", entry],
        minimal_environment(tmp_path, {}),
        tmp_path,
    )
    assert_refused(result, 3, culprit)


# --- what only a running executor finds out (real moto S3; exits before `armed`) ---------------------

EXECUTOR_SCENARIO_CASES = {
    "unknown-bzt-executor": (
        "scenarios/unknown.yml",
        b"execution:\n- executor: frobnicator\n  scenario: s\nscenarios:\n  s:\n    requests: [http://127.0.0.1/]\n",
        ["unknown.yml", "unknown bzt executor 'frobnicator'"],
    ),
    "locustfile-import-error": (
        "scenarios/imports.py",
        b"import salvo_no_such_module\n",
        ["imports.py", "ModuleNotFoundError", "salvo_no_such_module"],
    ),
    "unsupported-suffix": ("scenarios/test.txt", b"GET /\n", ["test.txt", "unsupported scenario type .txt"]),
}


@pytest.mark.parametrize("name", sorted(EXECUTOR_SCENARIO_CASES))
def test_executor_refuses_a_bad_scenario_with_exit_3_before_armed(tmp_path, aws_env, s3_bucket, s3_client, name):
    key, body, culprit = EXECUTOR_SCENARIO_CASES[name]
    s3_client.put_object(Bucket=s3_bucket, Key=key, Body=body)
    env = base_environment(aws_env)
    env.update(
        {
            "SALVO_SCENARIO_URI": f"s3://{s3_bucket}/{key}",
            "SALVO_RESULTS_URI": f"s3://{s3_bucket}/results/",
            "SALVO_EXECUTOR_ID": "bad-scenario",
            "SALVO_BIND_HOST": "127.0.2.31",
            "SALVO_WORK_DIR": str(tmp_path / "work"),
            "SALVO_COMMAND_PORT": str(free_port()),
            "SALVO_STATUS_PORT": str(free_port()),
            "SALVO_LOG_LEVEL": "DEBUG",
        }
    )
    result = subprocess.run(
        [sys.executable, "-m", "salvo.cli", "executor"], env=env, cwd=REPO, capture_output=True, text=True, timeout=120
    )
    assert_refused(result, 3, culprit)
    assert "armed: listening" not in result.stderr


# Listen settings the executor cannot use: refused before arming (exit 2), naming them.
BIND_CASES = {
    "command-port-equals-status-port": (
        lambda port: {"SALVO_COMMAND_PORT": str(port), "SALVO_STATUS_PORT": str(port)},
        ["SALVO_COMMAND_PORT", "SALVO_STATUS_PORT"],
    ),
    "bind-host-not-an-address": (
        lambda port: {
            "SALVO_BIND_HOST": "not-an-address",
            "SALVO_COMMAND_PORT": str(port),
            "SALVO_STATUS_PORT": str(free_port()),
        },
        ["SALVO_BIND_HOST", "not-an-address"],
    ),
}


@pytest.mark.parametrize("name", sorted(BIND_CASES))
def test_executor_with_unusable_listen_settings_exits_2_naming_them(tmp_path, aws_env, s3_bucket, s3_client, name):
    make_env, culprit = BIND_CASES[name]
    s3_client.put_object(Bucket=s3_bucket, Key="scenarios/test.py", Body=LOCUSTFILE)
    env = base_environment(aws_env)
    env.update(
        {
            "SALVO_SCENARIO_URI": f"s3://{s3_bucket}/scenarios/test.py",
            "SALVO_RESULTS_URI": f"s3://{s3_bucket}/results/",
            "SALVO_EXECUTOR_ID": "bad-listen",
            "SALVO_BIND_HOST": "127.0.2.32",
            "SALVO_WORK_DIR": str(tmp_path / "work"),
            "SALVO_LOG_LEVEL": "DEBUG",
            "SALVO_WAIT_TIMEOUT": "5s",
            **make_env(free_port()),
        }
    )
    result = subprocess.run(
        [sys.executable, "-m", "salvo.cli", "executor"], env=env, cwd=REPO, capture_output=True, text=True, timeout=120
    )
    assert_refused(result, 2, culprit)
