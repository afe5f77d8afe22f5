"""Hostile inputs of every size: too-large scenarios, data files and summaries, zips whose index would swamp memory.

Each case runs the real `salvo` process against a real moto S3 (through a real
HTTP proxy where the answer must lie about its length) and asserts the
documented exit code, the one line naming the object, its size and the limit,
and that no traceback was printed.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from salvo.common.bounded import SizeLimit
from salvo.common.errors import ObjectTooLarge
from salvo.common.s3 import S3Location, S3Store
from salvo.executor.results.aggregate import SummaryBuilder
from salvo.executor.tool.samples import Sample
from tests.support.cluster import base_environment
from tests.support.executors import REPO, free_port
from tests.support.faultproxy import FaultProxy
from tests.support.zips import many_entries, with_claimed_count, with_zip64_end

pytestmark = pytest.mark.integration

LOCUSTFILE = b"""
from locust import HttpUser, constant, task

class Visitor(HttpUser):
    wait_time = constant(1)

    @task
    def index(self):
        self.client.get("/")
"""
NOT_A_ZIP = (
    "not a readable zip file (no end-of-central-directory record in its last 65557 bytes: truncated, or not a zip)"
)


def run_salvo(args: list[str], env: dict[str, str], timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "salvo.cli", *args], env=env, cwd=REPO, capture_output=True, text=True, timeout=timeout
    )


def assert_refused(result: subprocess.CompletedProcess, code: int, line: str) -> None:
    """Exit `code`, exactly one output line carrying `line`, no traceback."""
    output = result.stdout + result.stderr
    assert result.returncode == code, f"exit {result.returncode}, expected {code}:\n{output[-3000:]}"
    assert "Traceback" not in output and "internal error" not in output, output[-3000:]
    naming = [text for text in output.splitlines() if line in text]
    assert len(naming) == 1, f"{len(naming)} lines carry {line!r}:\n{output[-3000:]}"


def run_executor(tmp_path: Path, aws_env: dict[str, str], scenario_uri: str, **settings: str):
    env = base_environment(aws_env)
    env.update(
        {
            "SALVO_SCENARIO_URI": scenario_uri,
            "SALVO_RESULTS_URI": scenario_uri.split("/scenarios/")[0] + "/results/",
            "SALVO_EXECUTOR_ID": "hostile",
            "SALVO_BIND_HOST": "127.0.2.41",
            "SALVO_WORK_DIR": str(tmp_path / "work"),
            "SALVO_COMMAND_PORT": str(free_port()),
            "SALVO_STATUS_PORT": str(free_port()),
            "SALVO_LOG_LEVEL": "DEBUG",
            "SALVO_S3_RETRY_SECONDS": "5",
            "SALVO_TARGET_HOST": "http://127.0.0.1:9",
        }
    )
    env.update(settings)
    result = run_salvo(["executor"], env)
    assert "armed: listening" not in result.stderr
    return result


def downloaded_files(tmp_path: Path, name: str) -> list[Path]:
    return [p for p in (tmp_path / "work").rglob("*") if p.is_file() and name in p.name]


# --- the scenario and the data file -------------------------------------------------------------------------


def test_a_scenario_over_the_limit_is_refused_from_its_announced_size(tmp_path, aws_env, s3_bucket, s3_client):
    s3_client.put_object(Bucket=s3_bucket, Key="scenarios/big.py", Body=LOCUSTFILE + b"#" * (2000 - len(LOCUSTFILE)))
    result = run_executor(tmp_path, aws_env, f"s3://{s3_bucket}/scenarios/big.py", SALVO_MAX_SCENARIO_BYTES="1000")
    assert_refused(
        result, 3, f"scenario s3://{s3_bucket}/scenarios/big.py is 2000 bytes, over SALVO_MAX_SCENARIO_BYTES=1000"
    )
    assert not downloaded_files(tmp_path, "big.py")


def test_a_scenario_sent_without_its_length_is_cut_off_while_streaming(
    tmp_path, aws_env, s3_bucket, s3_client, moto_server
):
    s3_client.put_object(Bucket=s3_bucket, Key="scenarios/long.py", Body=LOCUSTFILE + b"#" * 50_000)
    with FaultProxy(moto_server.endpoint) as proxy:
        proxy.unannounced_length = True
        result = run_executor(
            tmp_path,
            {**aws_env, "AWS_ENDPOINT_URL": proxy.endpoint},
            f"s3://{s3_bucket}/scenarios/long.py",
            SALVO_MAX_SCENARIO_BYTES="1000",
        )
    assert ("GET", f"/{s3_bucket}/scenarios/long.py") in proxy.seen
    assert_refused(
        result,
        3,
        f"scenario s3://{s3_bucket}/scenarios/long.py is at least 1001 bytes, over SALVO_MAX_SCENARIO_BYTES=1000",
    )
    assert not downloaded_files(tmp_path, "long.py")


def test_a_data_file_over_the_limit_is_refused(tmp_path, aws_env, s3_bucket, s3_client):
    s3_client.put_object(Bucket=s3_bucket, Key="scenarios/test.py", Body=LOCUSTFILE)
    s3_client.put_object(Bucket=s3_bucket, Key="data/users.csv", Body=b"id\n" + b"1234\n" * 1000)
    result = run_executor(
        tmp_path,
        aws_env,
        f"s3://{s3_bucket}/scenarios/test.py",
        SALVO_DATA_URI=f"s3://{s3_bucket}/data/users.csv",
        SALVO_MAX_DATA_BYTES="1000",
    )
    assert_refused(
        result, 3, f"data file s3://{s3_bucket}/data/users.csv is 5003 bytes, over SALVO_MAX_DATA_BYTES=1000"
    )
    assert not downloaded_files(tmp_path, "users.csv")


def test_upload_refuses_a_scenario_the_executors_would_refuse(tmp_path, aws_env):
    path = tmp_path / "huge.py"
    with open(path, "wb") as sparse:  # 100 MiB + 1 byte without writing them
        sparse.truncate(100 * 1024 * 1024 + 1)
    result = run_salvo(["upload", str(path), "s3://salvo-never-reached/scenarios/"], base_environment(aws_env))
    assert_refused(result, 3, f"scenario {path} is 104857601 bytes, over SALVO_MAX_SCENARIO_BYTES=104857600")


# --- zip bundles whose index is the attack ---------------------------------------------------------------

ZIP_CASES = {
    "end-record-over-the-limit": (
        lambda: many_entries(60, {"locustfile.py": LOCUSTFILE}),
        {"SALVO_BUNDLE_MAX_FILES": "50"},
        "bundle {uri}: 61 entries, over SALVO_BUNDLE_MAX_FILES=50",
    ),
    "zip64-record-claims-a-trillion": (
        lambda: with_zip64_end(many_entries(1, {"locustfile.py": LOCUSTFILE}), claimed=1 << 40),
        {},
        "bundle {uri}: 1099511627776 entries, over SALVO_BUNDLE_MAX_FILES=10000",
    ),
    "end-record-understates-its-count": (
        lambda: with_claimed_count(many_entries(60, {"locustfile.py": LOCUSTFILE}), 1),
        {"SALVO_BUNDLE_MAX_FILES": "50"},
        "bundle {uri}: more than 50 entries in its central directory (its end record claims 1), "
        "over SALVO_BUNDLE_MAX_FILES=50",
    ),
    "truncated-tail": (lambda: many_entries(3, {"locustfile.py": LOCUSTFILE})[:-30], {}, "bundle {uri}: " + NOT_A_ZIP),
    "garbage": (lambda: b"garbage " * 20_000, {}, "bundle {uri}: " + NOT_A_ZIP),
}


@pytest.mark.parametrize("name", sorted(ZIP_CASES))
def test_a_hostile_zip_index_is_refused_before_zipfile_reads_it(tmp_path, aws_env, s3_bucket, s3_client, name):
    make, settings, line = ZIP_CASES[name]
    s3_client.put_object(Bucket=s3_bucket, Key=f"scenarios/{name}.zip", Body=make())
    uri = f"s3://{s3_bucket}/scenarios/{name}.zip"
    result = run_executor(tmp_path, aws_env, uri, **settings)
    assert_refused(result, 3, line.format(uri=uri))
    assert not list((tmp_path / "work").rglob("scenario/*")), "nothing may be extracted"


# --- the store itself: one bounded path for downloads and reads --------------------------------------------


def test_the_store_refuses_by_announced_size_and_cuts_off_an_unannounced_body(
    tmp_path, aws_env, s3_bucket, s3_client, moto_server
):
    s3_client.put_object(Bucket=s3_bucket, Key="o/big.json", Body=b"{}" + b" " * 9998)
    location = S3Location(s3_bucket, "o/big.json")
    limit = SizeLimit(4096, "SALVO_MAX_SUMMARY_BYTES")
    store = S3Store(retry_seconds=2)
    with pytest.raises(
        ObjectTooLarge, match=r"^summary s3://\S+/o/big.json is 10000 bytes, over SALVO_MAX_SUMMARY_BYTES=4096$"
    ):
        store.read_bytes(location, what="summary", limit=limit)
    assert store.read_bytes(location, limit=SizeLimit(10_000, "X")) == b"{}" + b" " * 9998
    with FaultProxy(moto_server.endpoint) as proxy:
        proxy.unannounced_length = True
        through = S3Store(retry_seconds=2, client=_client_via(proxy.endpoint))
        with pytest.raises(ObjectTooLarge, match="is at least 4097 bytes, over SALVO_MAX_SUMMARY_BYTES=4096"):
            through.read_bytes(location, what="summary", limit=limit)
        dest = tmp_path / "big.json"
        with pytest.raises(ObjectTooLarge, match="is at least 4097 bytes"):
            through.download(location, dest, what="data file", limit=limit)
        assert not list(tmp_path.iterdir()), "no partial file is left behind"
        assert through.read_bytes(location) == b"{}" + b" " * 9998  # unbounded: read whole, as before


def _client_via(endpoint: str):
    import boto3
    from botocore.config import Config

    return boto3.client("s3", endpoint_url=endpoint, config=Config(retries={"total_max_attempts": 1}))


# --- summaries at the controller and `salvo report` ---------------------------------------------------------


def summary_bytes(run_id: str, executor_id: str, labels: int) -> bytes:
    builder = SummaryBuilder()
    for n in range(labels):
        builder.add(Sample(start=1_700_000_000.0 + n / 100, elapsed_ms=2.0 + n, label=f"/page/{n}", code="200"))
    return json.dumps(
        builder.to_dict(
            run_id=run_id,
            executor_id=executor_id,
            exit_code=0,
            stop_reason="completed",
            timings={"start_at": 1_700_000_000.0},
        )
    ).encode()


def test_salvo_report_counts_what_fits_and_names_the_oversize_summary(tmp_path, aws_env, s3_bucket, s3_client):
    small, large = summary_bytes("r1", "e1", 1), summary_bytes("r1", "e2", 300)
    limit = (len(small) + len(large)) // 2
    for executor_id, data in (("e1", small), ("e2", large)):
        s3_client.put_object(Bucket=s3_bucket, Key=f"results/r1/executors/{executor_id}/summary.json", Body=data)
    env = base_environment(aws_env)
    env["SALVO_MAX_SUMMARY_BYTES"] = str(limit)
    result = run_salvo(["report", f"s3://{s3_bucket}/results/r1/"], env)
    uri = f"s3://{s3_bucket}/results/r1/executors/e2/summary.json"
    line = f"summary {uri} is {len(large)} bytes, over SALVO_MAX_SUMMARY_BYTES={limit}"
    output = result.stdout + result.stderr
    assert result.returncode == 1, output[-3000:]  # a member's results are missing: FAIL
    assert "Traceback" not in output
    assert f"results of executor e2 (-) are missing: {line}" in result.stdout
    assert sum(line in text for text in result.stderr.splitlines()) == 1  # logged once, as it is refused
    assert "missing results: e2" in result.stdout


def test_the_controller_rejects_an_oversize_summary_and_still_writes_its_report(
    tmp_path, aws_env, s3_bucket, s3_client
):
    command_port, status_port = free_port(), free_port()
    env = {**os.environ, **aws_env, "PYTHONUNBUFFERED": "1"}
    sims = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "tests.support.simexecutor",
            "--first",
            "127.5.0.1",
            "--count",
            "1",
            "--command-port",
            str(command_port),
            "--status-port",
            str(status_port),
            "--run-seconds",
            "1",
            "--results-uri",
            f"s3://{s3_bucket}/results/",
            "--lifetime",
            "120",
        ],
        cwd=REPO,
        env=env,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert sims.stdout.readline().strip() == "ready 1"
        controller_env = base_environment(aws_env)
        controller_env.update(
            {
                "SALVO_EXECUTOR_CIDRS": "127.5.0.1/32",
                "SALVO_COMMAND_PORT": str(command_port),
                "SALVO_STATUS_PORT": str(status_port),
                "SALVO_RESULTS_URI": f"s3://{s3_bucket}/results/",
                "SALVO_RUN_ID": "oversize",
                "SALVO_EXPECTED_EXECUTORS": "1",
                "SALVO_DISCOVERY_TIMEOUT": "30",
                "SALVO_REPORT_DIR": str(tmp_path / "report"),
                "SALVO_PROBE_TIMEOUT": "0.2",
                "SALVO_MAX_SUMMARY_BYTES": "200",
            }
        )
        result = run_salvo(["controller"], controller_env, timeout=120)
    finally:
        sims.terminate()
        sims.wait(60)
    report = json.loads((tmp_path / "report" / "report.json").read_text())
    ((executor_id, member),) = report["executors"].items()
    key = f"results/oversize/executors/{executor_id}/summary.json"
    size = s3_client.head_object(Bucket=s3_bucket, Key=key)["ContentLength"]
    line = f"summary s3://{s3_bucket}/{key} is {size} bytes, over SALVO_MAX_SUMMARY_BYTES=200"
    output = result.stdout + result.stderr
    assert result.returncode == 1, output[-3000:]
    assert "Traceback" not in output
    assert member["outcome"] == "missing results" and member["reason"] == line
    assert sum(f"{line}: not read" in text for text in result.stderr.splitlines()) == 1
    s3_client.head_object(Bucket=s3_bucket, Key="results/oversize/report.json")  # published as well
