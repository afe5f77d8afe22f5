"""`salvo compare` and `salvo runs` against a real moto S3 server (and local report files)."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from salvo.common.s3 import S3Location, S3Store
from salvo.controller.runs import list_runs
from tests.support.executors import REPO

pytestmark = pytest.mark.integration

DAY = 86400.0
T0 = 1_800_000_000.0  # 2027-01-15 08:00:00 UTC


def row(p95: float, rps: float, error_rate: float = 0.0, requests: int = 1000) -> dict:
    return {
        "requests": requests,
        "failures": int(requests * error_rate),
        "error_rate": error_rate,
        "rps": rps,
        "avg": p95 / 2,
        "p50": p95 / 2,
        "p90": p95 * 0.9,
        "p95": p95,
        "p99": p95 * 1.5,
        "max": p95 * 3,
    }


def report(
    run_id: str, start_at: float, overall: dict, labels: dict | None = None, fleet: int = 3, verdict: str = "pass"
) -> bytes:
    return json.dumps(
        {
            "schema": "salvo.report/1",
            "run_id": run_id,
            "status": "complete",
            "verdict": verdict,
            "exit_code": 0 if verdict == "pass" else 1,
            "verdict_reasons": [],
            "start_at": start_at,
            "fleet": [f"node-{n}" for n in range(fleet)],
            "overall": overall,
            "labels": labels or {"/": overall},
        }
    ).encode()


def salvo(*args: str, env: dict[str, str], **extra_env: str) -> subprocess.CompletedProcess:
    environment = {**os.environ, **env, **extra_env}
    return subprocess.run(
        [sys.executable, "-m", "salvo.cli", *args],
        env=environment,
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
    )


def line_of(output: str, start: str) -> list[str]:
    (line,) = [line for line in output.splitlines() if line.startswith(start)]
    return line.replace("|", " ").split()


@pytest.fixture
def two_runs(aws_env, s3_client, s3_bucket):
    """run-a (the baseline) and run-b: p95 +20 %, rps -10 %, errors +0.4 pp; /login p99 +60 %."""
    base = report("run-a", T0, row(100.0, 50.0, 0.001), {"/": row(100.0, 40.0, 0.001), "/login": row(50.0, 10.0)})
    new = report("run-b", T0 + DAY, row(120.0, 45.0, 0.005), {"/": row(120.0, 36.0, 0.005), "/login": row(80.0, 9.0)})
    s3_client.put_object(Bucket=s3_bucket, Key="results/run-a/report.json", Body=base)
    s3_client.put_object(Bucket=s3_bucket, Key="results/run-b/report.json", Body=new)
    return f"s3://{s3_bucket}/results/"


def test_compare_s3_runs_exits_1_past_the_thresholds(aws_env, two_runs):
    result = salvo(
        "compare",
        f"{two_runs}run-a/",
        f"{two_runs}run-b",
        env=aws_env,
        SALVO_REGRESSION="p95+10%; rps-20%; error_rate+0.5pp; label:/login:p99+50%",
    )
    assert result.returncode == 1, result.stderr
    out = result.stdout
    assert (
        out.splitlines()[0] == "comparison: base run-a (2027-01-15 08:00:00 UTC) -> new run-b (2027-01-16 08:00:00 UTC)"
    )
    assert line_of(out, "| OVERALL") == [
        "OVERALL",
        "50.0",
        "60.0",
        "+20.0%",
        "100.0",
        "120.0",
        "+20.0%",
        "150.0",
        "180.0",
        "+20.0%",
        "50.0",
        "45.0",
        "-10.0%",
        "0.10%",
        "0.50%",
        "+0.40pp",
    ]
    assert line_of(out, "| /login")[7:10] == ["75.0", "120.0", "+60.0%"]
    assert "  regression p95+10%: FAIL (base 100.0 ms, new 120.0 ms, +20.0 %)" in out
    assert "  regression rps-20%: pass" in out and "  regression error_rate+0.5pp: pass" in out
    assert "  regression label:/login:p99+50%: FAIL (base 75.0 ms, new 120.0 ms, +60.0 %)" in out
    assert out.rstrip().endswith("REGRESSION: 2 of 4 threshold(s) crossed")


def test_compare_within_the_thresholds_exits_0_and_the_option_overrides_the_variable(aws_env, two_runs):
    result = salvo(
        "compare",
        f"{two_runs}run-a/report.json",
        f"{two_runs}run-b/",
        "--regression",
        "p95+25%; rps-20%",
        env=aws_env,
        SALVO_REGRESSION="p95+1%",
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.rstrip().endswith("no regression: 2 threshold(s) within bounds")


def test_compare_a_local_report_folder_with_a_run_in_s3(aws_env, two_runs, s3_client, s3_bucket, tmp_path):
    (tmp_path / "reports").mkdir()
    local = s3_client.get_object(Bucket=s3_bucket, Key="results/run-b/report.json")["Body"].read()
    (tmp_path / "reports" / "report.json").write_bytes(local)
    (tmp_path / "old.json").write_bytes(report("run-old", T0 - DAY, row(200.0, 90.0)))
    result = salvo("compare", f"{two_runs}run-a", str(tmp_path / "reports"), env=aws_env, SALVO_REGRESSION="p95+10%")
    assert result.returncode == 1 and "-> new run-b" in result.stdout
    both_local = salvo(
        "compare",
        str(tmp_path / "old.json"),
        str(tmp_path / "reports" / "report.json"),
        env={**aws_env, "AWS_ENDPOINT_URL": "http://127.0.0.1:9"},
        SALVO_REGRESSION="p95+10%",
    )
    assert both_local.returncode == 0, both_local.stderr  # no S3 needed: p95 fell from 200 to 120 ms
    assert line_of(both_local.stdout, "| OVERALL")[4:7] == ["200.0", "120.0", "-40.0%"]


@pytest.mark.parametrize(
    ("which", "culprit"),
    [
        ("new-missing", ["NEW s3://{bucket}/results/absent/", "report.json not found (NoSuchKey)"]),
        ("base-no-bucket", ["BASE s3://salvo-no-such-bucket/results/run-a/", "does not exist (NoSuchBucket)"]),
        ("base-local-missing", ["BASE {tmp}/nothing-here", "no such file"]),
        ("bad-variable", ["SALVO_REGRESSION='p95-10%'", "p95 gets worse as it rises"]),
        ("bad-option", ["--regression: 'rps+5%'", "rps gets worse as it falls"]),
    ],
)
def test_compare_bad_input_is_exit_2_with_one_line_naming_it(aws_env, two_runs, s3_bucket, tmp_path, which, culprit):
    a, b = f"{two_runs}run-a/", f"{two_runs}run-b/"
    args, extra = {
        "new-missing": ([a, f"{two_runs}absent/"], {}),
        "base-no-bucket": (["s3://salvo-no-such-bucket/results/run-a/", b], {}),
        "base-local-missing": ([str(tmp_path / "nothing-here"), b], {}),
        "bad-variable": ([a, b], {"SALVO_REGRESSION": "p95-10%"}),
        "bad-option": ([a, b, "--regression", "rps+5%"], {}),
    }[which]
    result = salvo("compare", *args, env=aws_env, SALVO_LOG_LEVEL="DEBUG", **extra)
    assert result.returncode == 2, result.stdout + result.stderr
    words = [word.format(bucket=s3_bucket, tmp=tmp_path) for word in culprit]
    naming = [line for line in result.stderr.splitlines() if all(word in line for word in words)]
    assert len(naming) == 1 and "Traceback" not in result.stderr, result.stderr
    assert result.stdout == ""  # no half table


# --- salvo runs ---------------------------------------------------------------------------------------


@pytest.fixture
def past_runs(aws_env, s3_client, s3_bucket):
    """Four runs (start_at out of the run ids' order), one without a report, and the write-check folder."""
    put = lambda key, body: s3_client.put_object(Bucket=s3_bucket, Key=f"results/{key}", Body=body)  # noqa: E731
    put("run-c/report.json", report("run-c", T0, row(100.0, 50.0), fleet=3))
    put("run-a/report.json", report("run-a", T0 + 2 * DAY, row(110.0, 48.0, 0.02), fleet=5, verdict="fail"))
    put("run-b/report.json", report("run-b", T0 + DAY, row(90.0, 52.0), fleet=4))
    put("run-d/executors/node-0/summary.json", b"{}")  # its controller never wrote a report
    put("run-e/report.json", b"{truncated")
    put("_salvo-write-checks/controller-run-a", b"{}")
    return f"s3://{s3_bucket}/results/"


def test_runs_lists_past_runs_newest_first_from_their_reports(aws_env, past_runs):
    result = salvo("runs", past_runs, env=aws_env)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].split() == [
        "run",
        "id",
        "date",
        "(start_at)",
        "fleet",
        "requests",
        "p95",
        "ms",
        "errors",
        "verdict",
    ]
    rows = [line.split() for line in lines[1:]]
    assert [r[0] for r in rows[:3]] == ["run-a", "run-b", "run-c"]
    assert rows[0] == ["run-a", "2027-01-17", "08:00:00", "UTC", "5", "1000", "110.0", "2.00%", "FAIL"]
    assert rows[2] == ["run-c", "2027-01-15", "08:00:00", "UTC", "3", "1000", "100.0", "0.00%", "PASS"]
    assert {r[0]: " ".join(r[6:]) for r in rows[3:]} == {
        "run-e": "report unreadable: not valid JSON (Expecting property name enclosed in double quotes: "
        "line 1 column 2 (char 1))",
        "run-d": "no report",
    }
    assert "_salvo-write-checks" not in result.stdout


def test_runs_shows_a_bounded_number(aws_env, past_runs, capsys):
    assert list_runs(past_runs, S3Store(retry_seconds=5), limit=2) == 0
    out = capsys.readouterr().out.splitlines()
    assert len(out) == 4 and out[-1] == "3 older run(s) not shown (--limit 2)"
    assert {line.split()[0] for line in out[1:3]} <= {"run-a", "run-b", "run-c", "run-e"}


def test_runs_on_an_empty_prefix_and_on_a_missing_bucket(aws_env, s3_bucket):
    empty = salvo("runs", f"s3://{s3_bucket}/nothing-yet", env=aws_env)
    assert empty.returncode == 0 and empty.stdout.strip() == f"no runs under s3://{s3_bucket}/nothing-yet/"
    missing = salvo("runs", "s3://salvo-no-such-bucket/results/", env=aws_env)
    assert missing.returncode == 2 and "Traceback" not in missing.stderr
    assert "s3://salvo-no-such-bucket/results/ cannot be listed" in missing.stderr
    assert "NoSuchBucket" in missing.stderr


def test_folder_listing_follows_pages_with_a_delimiter(aws_env, s3_client, s3_bucket):
    for n in range(7):
        s3_client.put_object(Bucket=s3_bucket, Key=f"results/run-{n}/executors/node-0/summary.json", Body=b"{}")
        s3_client.put_object(Bucket=s3_bucket, Key=f"results/run-{n}/report.json", Body=b"{}")
    s3_client.put_object(Bucket=s3_bucket, Key="results/loose-file.txt", Body=b"")
    folders = S3Store(retry_seconds=5).list_folders(S3Location(s3_bucket, "results/"), page_size=2)
    assert folders == [f"run-{n}" for n in range(7)]
