"""Real executors and a real `salvo controller` on 127.0.2.x, for the fault and bad-input suites.

Unlike `tests.support.executors.start_executor`, an executor here may run with its
default id (no SALVO_EXECUTOR_ID) and share a work dir with another one, because
those are the faults under test; its log lives outside the work dir so that two
executors pointed at one work dir do not write one log.

The 127.0.2.0/27 range is used by no other test file: a controller scanning it
(on this cluster's own port pair) finds only this cluster's executors.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from tests.support.executors import REPO, ExecutorProcess, free_port
from tests.support.keys import INSECURE, controller_env, executor_env, has_key_material
from tests.support.s3 import FOREIGN_AWS_VARIABLES

SCAN_RANGE = "127.0.2.0/27"
HOST_BASE = "127.0.2."

_OVERALL = re.compile(r"^\|\s*OVERALL\s*\|\s*(\d+)\s*\|", re.MULTILINE)


def base_environment(aws_env: dict | None = None, *, insecure: bool = True) -> dict[str, str]:
    """This process's environment without any SALVO_ variable, plus the AWS variables for moto.

    `insecure`: SALVO_INSECURE=true, for the tests about something else than keys (Cluster's own
    executors and controllers hold split keys instead)."""
    environment = {k: v for k, v in os.environ.items() if not k.startswith("SALVO_") and k not in FOREIGN_AWS_VARIABLES}
    environment.update(aws_env or {})
    if insecure:
        environment.update(INSECURE)
    environment["PYTHONUNBUFFERED"] = "1"
    return environment


def overall_requests(console: str) -> int:
    """The request count of the `| OVERALL |` row of a console table (the last one printed)."""
    found = _OVERALL.findall(console)
    assert found, f"no OVERALL row in:\n{console[-3000:]}"
    return int(found[-1])


@dataclass
class ControllerRun:
    process: subprocess.Popen
    log_path: Path
    report_dir: Path

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def wait(self, timeout: float = 180) -> int:
        try:
            return self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(10)
            raise AssertionError("controller did not finish:\n" + self.log()[-4000:]) from None

    def report(self) -> dict:
        return json.loads((self.report_dir / "report.json").read_text())

    def kill(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait(10)


class Cluster:
    """Executors on 127.0.2.N sharing one port pair, and controllers scanning 127.0.2.0/27 on it."""

    def __init__(self, tmp_path: Path, aws_env: dict, bucket: str, target=None):
        self.tmp_path, self.aws_env, self.bucket, self.target = tmp_path, aws_env, bucket, target
        self.command_port, self.status_port = free_port(), free_port()
        self.results_uri = f"s3://{bucket}/results/"
        self.executors: list[ExecutorProcess] = []
        self.controllers: list[ControllerRun] = []
        (tmp_path / "logs").mkdir(exist_ok=True)

    # --- executors ---------------------------------------------------------------------

    def executor(
        self,
        host_number: int,
        scenario_key: str,
        *,
        executor_id: str | None = "default",
        work_dir: Path | None = None,
        results_uri: str | None = None,
        aws_env: dict | None = None,
        prefix: list[str] | None = None,
        **extra_env,
    ) -> ExecutorProcess:
        """Start `salvo executor` on 127.0.2.`host_number`.

        `executor_id=None` leaves SALVO_EXECUTOR_ID unset (the default id); the string
        "default" means node-`host_number`. Extra keyword arguments are SALVO_ variables
        (None unsets one of the defaults). `prefix` runs it under another command (e.g. faketime).
        """
        if executor_id == "default":
            executor_id = f"node-{host_number}"
        label = executor_id or f"default-id-{host_number}"
        work_dir = work_dir or self.tmp_path / f"work-{host_number}-{len(self.executors)}"
        work_dir.mkdir(parents=True, exist_ok=True)
        host = f"{HOST_BASE}{host_number}"
        env = base_environment(aws_env or self.aws_env, insecure=False)
        env.update(
            {
                "SALVO_SCENARIO_URI": f"s3://{self.bucket}/{scenario_key}",
                "SALVO_RESULTS_URI": results_uri or self.results_uri,
                "SALVO_BIND_HOST": host,
                "SALVO_COMMAND_PORT": str(self.command_port),
                "SALVO_STATUS_PORT": str(self.status_port),
                "SALVO_WORK_DIR": str(work_dir),
                "SALVO_LOG_LEVEL": "DEBUG",
                "SALVO_S3_RETRY_SECONDS": "30",
                "SALVO_USERS": "2",
                "SALVO_DURATION": "2s",
                "SALVO_KILL_SWITCH_TIMEOUT": "5s",
            }
        )
        if self.target is not None:
            env["SALVO_TARGET_HOST"] = self.target.url
        if executor_id:
            env["SALVO_EXECUTOR_ID"] = executor_id
        if not has_key_material({k: str(v) for k, v in extra_env.items()}):
            env.update(executor_env())  # the production path: split keys, as `salvo keygen` prints them
        for name, value in extra_env.items():  # None: leave the variable unset
            if value is None:
                env.pop(name, None)
            else:
                env[name] = str(value)
        log_path = self.tmp_path / "logs" / f"executor-{label}-{len(self.executors)}.log"
        with open(log_path, "wb") as output:  # the child keeps its own descriptor
            process = subprocess.Popen(
                [*(prefix or []), sys.executable, "-m", "salvo.cli", "executor"],
                env=env,
                cwd=REPO,
                stdout=output,
                stderr=subprocess.STDOUT,
            )
        executor = ExecutorProcess(label, host, self.command_port, self.status_port, work_dir, log_path, process, env)
        self.executors.append(executor)
        return executor

    # --- controllers -------------------------------------------------------------------

    def controller(self, run_id: str, expected: int | None = None, **extra_env) -> ControllerRun:
        """Start `salvo controller` for `run_id`; extra keyword arguments are SALVO_ variables."""
        number = len(self.controllers)
        report_dir = self.tmp_path / f"report-{run_id}-{number}"
        env = base_environment(self.aws_env, insecure=False)
        env.update(
            {
                "SALVO_EXECUTOR_CIDRS": SCAN_RANGE,
                "SALVO_COMMAND_PORT": str(self.command_port),
                "SALVO_STATUS_PORT": str(self.status_port),
                "SALVO_RESULTS_URI": self.results_uri,
                "SALVO_RUN_ID": run_id,
                "SALVO_DISCOVERY_TIMEOUT": "60s",
                "SALVO_SETTLE_SECONDS": "1s",
                "SALVO_REPORT_DIR": str(report_dir),
                "SALVO_LIVE_INTERVAL": "1s",
                "SALVO_LOG_LEVEL": "DEBUG",
                "SALVO_S3_RETRY_SECONDS": "30",
            }
        )
        if expected is not None:
            env["SALVO_EXPECTED_EXECUTORS"] = str(expected)
        if not has_key_material({k: str(v) for k, v in extra_env.items()}):
            env.update(controller_env())
        env.update({k: str(v) for k, v in extra_env.items()})
        log_path = self.tmp_path / "logs" / f"controller-{run_id}-{number}.log"
        with open(log_path, "wb") as output:  # the child keeps its own descriptor
            process = subprocess.Popen(
                [sys.executable, "-m", "salvo.cli", "controller"],
                env=env,
                cwd=REPO,
                stdout=output,
                stderr=subprocess.STDOUT,
            )
        run = ControllerRun(process, log_path, report_dir)
        self.controllers.append(run)
        return run

    def salvo(self, *args: str, timeout: float = 120) -> subprocess.CompletedProcess:
        """A bastion verb (`salvo report …`) with this cluster's AWS environment."""
        return subprocess.run(
            [sys.executable, "-m", "salvo.cli", *args],
            env=base_environment(self.aws_env),
            cwd=REPO,
            capture_output=True,
            text=True,
            timeout=timeout,
        )

    def close(self) -> None:
        for controller in self.controllers:
            controller.kill()
        for executor in self.executors:
            executor.kill()
        reap(self.tmp_path)


def processes_under(folder: Path) -> dict[int, str]:
    """Live processes whose command line names `folder` (bzt, locust of executors working there): pid -> cmdline."""
    marker = str(folder)
    found = {}
    for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
        try:
            text = cmdline.read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if marker in text and int(cmdline.parent.name) != os.getpid():
            found[int(cmdline.parent.name)] = text
    return found


def reap(folder: Path, timeout: float = 15) -> None:
    """Kill, by pid, whatever this test's executors left running under `folder` (bzt, locust).

    An executor killed with SIGKILL may leave its locust running to the end of its
    duration (see test_faults.py); that load must not reach the next test's target."""
    deadline = time.monotonic() + timeout
    while (left := processes_under(folder)) and time.monotonic() < deadline:
        for pid in left:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        time.sleep(0.05)


def state_record(executor: ExecutorProcess) -> dict:
    """The executor's state.json (state, pid, executor_id, run_id), or {} while absent."""
    try:
        return json.loads((executor.work_dir / "state.json").read_text())
    except (OSError, ValueError):
        return {}
