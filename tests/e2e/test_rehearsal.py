"""The rehearsal in real Docker: both images, moto, the demo target, five executors.

Everything runs on the compose network the test creates (172.28.0.0/24 by default);
the controller scans only that subnet. Each test tears its project down, even on failure.
"""

from __future__ import annotations

import json
import os
import re
import stat
import subprocess
import time
from pathlib import Path

import pytest

from tests.support.executors import REPO, wait_for

pytestmark = pytest.mark.e2e

COMPOSE_TIMEOUT = 900


# Kept from the caller's environment, to run beside another checkout's rehearsal (tag, network).
KEPT = ("SALVO_TAG", "SALVO_REHEARSAL_SUBNET", "SALVO_EXECUTOR_CIDRS")


def compose_env(reports: Path, **extra: str) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SALVO_") or k in KEPT}
    env.setdefault("BASE_IMAGE", "python:3.12-slim")
    env.update({"SALVO_REPORTS": str(reports), **extra})
    return env


def compose(*args: str, env: dict, timeout: float = 120, check: bool = True) -> subprocess.CompletedProcess:
    result = subprocess.run(
        ["docker", "compose", *args], cwd=REPO, env=env, capture_output=True, text=True, timeout=timeout
    )
    if check and result.returncode != 0:
        raise AssertionError(f"docker compose {' '.join(args)} failed ({result.returncode}):\n{result.stderr[-3000:]}")
    return result


@pytest.fixture(scope="session")
def images():
    env = compose_env(Path("/tmp"))
    compose("build", env=env, timeout=1800)
    return env["BASE_IMAGE"]


@pytest.fixture
def rehearsal(images, tmp_path):
    reports = tmp_path / "reports"
    reports.mkdir(mode=0o777)
    reports.chmod(0o777)
    envs = []

    def make(**extra: str) -> dict:
        env = compose_env(reports, **extra)
        envs.append(env)
        return env

    yield make, reports
    for env in envs:
        compose("down", "-v", "--remove-orphans", env=env, timeout=300, check=False)


def target_final_counts(env: dict) -> dict:
    logs = compose("logs", "--no-color", "target", env=env).stdout
    counts = re.findall(r"demo target final counts: (\{.*\})", logs)
    assert counts, f"the target did not report its counts:\n{logs[-2000:]}"
    return json.loads(counts[-1])


def target_final_count(env: dict) -> int:
    return target_final_counts(env)["requests"]


def controller_container(env: dict) -> str:
    return compose("ps", "-a", "-q", "controller", env=env).stdout.strip()


def test_rehearsal_with_five_executors(rehearsal):
    make, reports = rehearsal
    env = make()
    run = compose(
        "up", "--scale", "executor=5", "--exit-code-from", "controller", env=env, timeout=COMPOSE_TIMEOUT, check=False
    )
    output = run.stdout
    assert run.returncode == 0, output[-5000:]
    report = json.loads((reports / "report.json").read_text())
    print(
        f"rehearsal: {report['overall']['requests']} requests from {len(report['contributors'])} executors, "
        f"start skew {report['start_skew_ms']:.1f} ms, p95 {report['overall']['p95']} ms"
    )
    assert len(report["contributors"]) == 5 and report["lost"] == [] and report["missing"] == []
    assert report["verdict"] == "pass" and report["status"] == "complete"
    assert report["start_skew_ms"] is not None
    assert "executors 5 active" in output and "| OVERALL" in output and "verdict: PASS" in output
    assert report["overall"]["requests"] == target_final_count(env) > 0


def _wait_for_load(env: dict) -> None:
    def live_line_printed() -> bool:
        return "executors 5 active" in compose("logs", "--no-color", "controller", env=env).stdout

    wait_for(live_line_printed, 300, "the controller's first live line", interval=1)


def test_executor_killed_mid_run_is_reported_lost(rehearsal):
    make, reports = rehearsal
    env = make(SALVO_DURATION="40s")
    compose("up", "-d", "--scale", "executor=5", env=env, timeout=600)
    _wait_for_load(env)
    victims = compose("ps", "-q", "executor", env=env).stdout.split()
    victim = victims[0]
    subprocess.run(["docker", "kill", "--signal", "KILL", victim], check=True, capture_output=True, timeout=60)
    code = subprocess.run(
        ["docker", "wait", controller_container(env)], capture_output=True, text=True, timeout=COMPOSE_TIMEOUT
    ).stdout.strip()
    report = json.loads((reports / "report.json").read_text())
    assert report["lost"] == [victim[:12]], report["lost"]  # executor id = container hostname
    assert len(report["contributors"]) == 4 and report["status"] == "partial"
    # policy continue: the run goes on, and a PARTIAL run is not a PASS unless SALVO_SHORT_FLEET=pass says so
    assert code == "1", compose("logs", "--no-color", "controller", env=env).stdout[-4000:]
    assert any("the run is PARTIAL" in reason for reason in report["verdict_reasons"]), report["verdict_reasons"]


def test_controller_sigterm_writes_partial_report_and_stops_the_load(rehearsal):
    make, reports = rehearsal
    env = make(SALVO_DURATION="120s")
    compose("up", "-d", "--scale", "executor=5", env=env, timeout=600)
    _wait_for_load(env)
    started = time.monotonic()
    compose("kill", "-s", "SIGTERM", "controller", env=env)
    code = subprocess.run(
        ["docker", "wait", controller_container(env)], capture_output=True, text=True, timeout=300
    ).stdout.strip()
    assert code == "143"
    assert time.monotonic() - started < 120  # far before the 120 s of load would have ended
    report = json.loads((reports / "report.json").read_text())
    assert report["status"] == "partial" and len(report["contributors"]) == 5
    executor_logs = compose("logs", "--no-color", "executor", env=env).stdout
    stopped = {line.split("|")[0].strip() for line in executor_logs.splitlines() if "stopped by controller" in line}
    assert len(stopped) == 5, stopped


def _readable_by_the_checkout_owner(path: Path) -> bool:
    owner = (REPO / "demo").stat().st_uid
    mode = path.stat().st_mode
    return path.stat().st_uid == owner or bool(mode & stat.S_IROTH)


def test_plain_up_ends_by_itself_and_leaves_a_readable_report_in_a_folder_docker_created(images, tmp_path):
    reports = tmp_path / "not-yet" / "reports"  # Docker creates it, as root
    env = compose_env(reports)
    try:
        run = compose("up", "--scale", "executor=5", env=env, timeout=COMPOSE_TIMEOUT, check=False)
        states = [json.loads(line) for line in compose("ps", "-a", "--format", "json", env=env).stdout.splitlines()]
        assert states and all(s["State"] == "exited" for s in states), states
        codes = {s["Service"]: s["ExitCode"] for s in states if s["Service"] in ("controller", "executor")}
        assert codes == {"controller": 0, "executor": 0}, (codes, run.stdout[-4000:])
        assert reports.stat().st_uid == (REPO / "demo").stat().st_uid  # handed to the checkout's owner
        for name in ("report.html", "report.json", "junit.xml"):
            assert _readable_by_the_checkout_owner(reports / name), name
        report = json.loads((reports / "report.json").read_text())
        assert report["verdict"] == "pass" and len(report["contributors"]) == 5
        # authenticated with the key the setup step generated at this up, never run open
        assert report["security"] == {"links": "fleet-key", "insecure": False}, report["security"]
        executor_logs = compose("logs", "--no-color", "executor", env=env).stdout
        assert executor_logs.count("dismissed by the controller") == 5, executor_logs[-4000:]
    finally:
        compose("down", "-v", "--remove-orphans", env=env, timeout=300, check=False)


def test_make_rehearsal_in_a_fresh_clone_exits_0_with_the_report(images, tmp_path):
    clone = tmp_path / "clone"
    subprocess.run(["git", "clone", "--quiet", str(REPO), str(clone)], check=True, timeout=120)
    env = compose_env(clone / "reports", COMPOSE_PROJECT_NAME=f"salvo-make-{os.getpid()}")
    env.pop("SALVO_REPORTS")  # as typed: the report goes to ./reports
    if os.environ.get("SALVO_E2E_BASE_FALLBACK", "1") == "1":
        env.pop("BASE_IMAGE")  # let scripts/base-image.sh choose, as on a fresh machine
    run = subprocess.run(
        ["make", "rehearsal"], cwd=clone, env=env, capture_output=True, text=True, timeout=COMPOSE_TIMEOUT + 1800
    )
    assert run.returncode == 0, (run.stdout[-4000:], run.stderr[-2000:])
    assert "images: BASE_IMAGE=" in run.stdout
    assert _readable_by_the_checkout_owner(clone / "reports" / "report.html")
    assert json.loads((clone / "reports" / "report.json").read_text())["verdict"] == "pass"
    leftovers = subprocess.run(
        ["docker", "ps", "-a", "-q", "--filter", f"label=com.docker.compose.project={env['COMPOSE_PROJECT_NAME']}"],
        capture_output=True,
        text=True,
        timeout=60,
    ).stdout.split()
    assert leftovers == []  # `make rehearsal` tears its project down


@pytest.mark.parametrize("argv", [["salvo", "config", "executor"], ["config", "executor"]], ids=["salvo-verb", "verb"])
def test_the_image_takes_the_verb_with_or_without_salvo(images, argv):
    tag = compose_env(Path("/tmp")).get("SALVO_TAG", "dev")
    run = subprocess.run(
        ["docker", "run", "--rm", f"salvo-executor:{tag}", *argv], capture_output=True, text=True, timeout=120
    )
    assert run.returncode == 0, run.stderr
    assert "SALVO_SCENARIO_URI" in run.stdout and "SALVO_FLEET_KEY_FILE" in run.stdout


@pytest.fixture(scope="session")
def jmeter_image(images):
    """salvo-executor-jmeter, FROM the executor image just built (as `make image-jmeter` does)."""
    tag = compose_env(Path("/tmp")).get("SALVO_TAG", "dev")
    run = subprocess.run(
        [
            "docker",
            "build",
            "-f",
            "images/executor-jmeter/Dockerfile",
            "--build-arg",
            f"BASE_IMAGE={images}",
            "--build-arg",
            f"EXECUTOR_IMAGE=salvo-executor:{tag}",
            "-t",
            f"salvo-executor-jmeter:{tag}",
            ".",
        ],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=1800,
    )
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]


def test_rehearsal_with_three_jmeter_executors(rehearsal, jmeter_image):
    make, reports = rehearsal
    # fleet mode: the plan's 5 threads in all, 2/2/1 (5 each would be 15 threads starting on 2 cores at once)
    env = make(SALVO_EXECUTOR_IMAGE="salvo-executor-jmeter", SALVO_DEMO="demo.zip", SALVO_LOAD_MODE="fleet")
    run = compose(
        "up", "--scale", "executor=3", "--exit-code-from", "controller", env=env, timeout=COMPOSE_TIMEOUT, check=False
    )
    assert run.returncode == 0, run.stdout[-5000:]
    report = json.loads((reports / "report.json").read_text())
    counts = target_final_counts(env)
    firsts = sorted(counts["first_by_executor"].values())
    print(
        f"jmeter rehearsal: {report['overall']['requests']} requests, start spread at the target "
        f"{(firsts[-1] - firsts[0]) * 1000:.1f} ms, reported skew {report['start_skew_ms']:.1f} ms"
    )
    assert report["verdict"] == "pass" and len(report["contributors"]) == 3
    assert report["overall"]["requests"] == counts["requests"] > 0  # counted exactly
    # the first request of each executor, as the target saw it (docs/scenarios.md, JMeter: the figures over many runs)
    assert len(firsts) == 3 and firsts[-1] - firsts[0] <= 0.020, counts["first_by_executor"]
    assert firsts[0] >= report["start_at"] - 0.002  # nothing before start_at
    assert {"GET /", "POST /upload"} <= set(report["labels"]) and counts["uploads"] > 0
    assert all(e["gated"] for e in report["executors"].values()), report["executors"]
    assert sorted(e["share"]["users"] for e in report["executors"].values()) == [1, 2, 2]
    assert (reports / "report.html").is_file() and (reports / "junit.xml").is_file()
