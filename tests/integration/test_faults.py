"""Faults that must never turn into a PASS the data does not support.

Real `salvo executor` and `salvo controller` processes on 127.0.2.x (a range no
other test file uses; the controller scans 127.0.2.0/27 on the cluster's own
port pair), a real moto S3 over HTTP, real bzt + locust, the counting target.
Every case checks the exit code, the one line naming the culprit, that no
traceback was printed, and either that the merged request count equals what
the target counted or that the verdict is FAIL / the run was refused.
"""

from __future__ import annotations

import contextlib
import json
import signal
import uuid

import pytest

from tests.support.cluster import Cluster, ControllerRun, overall_requests, processes_under, state_record
from tests.support.executors import wait_for
from tests.support.s3 import CREDENTIALS

pytestmark = pytest.mark.integration

LOCUSTFILE = """
import os
from locust import FastHttpUser, constant, task

class Visitor(FastHttpUser):
    wait_time = constant(0.1)

    @task
    def index(self):
        self.client.get("/", headers={"X-Salvo-Executor": os.environ["SALVO_EXECUTOR_ID"]})
"""

# On the executors named in DYING the locust process dies (no exception, no cleanup) right after
# its first request; the others run their load normally.
DYING_LOCUSTFILE = """
import os
from locust import HttpUser, constant, task

DYING = %r

class MayDie(HttpUser):
    wait_time = constant(0.1)

    @task
    def index(self):
        self.client.get("/", headers={"X-Salvo-Executor": os.environ["SALVO_EXECUTOR_ID"]})
        if os.environ["SALVO_EXECUTOR_ID"] in DYING:
            os._exit(3)
"""


def assert_no_traceback(*outputs: str) -> None:
    for output in outputs:
        assert "Traceback" not in output, output[-4000:]
        assert "internal error" not in output, output[-4000:]


def lines_with(output: str, *words: str) -> list[str]:
    return [line for line in output.splitlines() if all(word in line for word in words)]


@pytest.fixture
def cluster(tmp_path, aws_env, s3_bucket, s3_client, target):
    s3_client.put_object(Bucket=s3_bucket, Key="scenarios/visit.py", Body=LOCUSTFILE.encode())
    made = Cluster(tmp_path, aws_env, s3_bucket, target)
    yield made
    made.close()


def summary_of(s3_client, bucket: str, run_id: str, executor_id: str) -> dict:
    key = f"results/{run_id}/executors/{executor_id}/summary.json"
    return json.loads(s3_client.get_object(Bucket=bucket, Key=key)["Body"].read())


def assert_passing_run_counted_exactly(controller: ControllerRun, target, members: list[str]) -> dict:
    report = controller.report()
    seen = target.stats()
    assert report["verdict"] == "pass" and report["exit_code"] == 0, report["verdict_reasons"]
    assert sorted(report["contributors"]) == sorted(members)
    assert {m: e["outcome"] for m, e in report["executors"].items()} == dict.fromkeys(members, "finished")
    assert report["overall"]["requests"] == seen["total"] > 0
    assert sorted(seen["executors"]) == sorted(members), seen  # the load came from these executors only
    assert overall_requests(controller.log()) == seen["total"]
    return report


# --- 1. the load tool dies mid-run ----------------------------------------------------------


@pytest.mark.parametrize("dying", [("node-1", "node-2"), ("node-1",)], ids=["both-die", "one-of-two-dies"])
def test_locust_dying_mid_run_fails_the_verdict(cluster, s3_client, s3_bucket, target, dying):
    s3_client.put_object(Bucket=s3_bucket, Key="scenarios/dies.py", Body=(DYING_LOCUSTFILE % (dying,)).encode())
    executors = [cluster.executor(n, "scenarios/dies.py", SALVO_DURATION="5s") for n in (1, 2)]
    for executor in executors:
        executor.wait_state("armed")
    controller = cluster.controller("locust-dies", expected=2)
    code = controller.wait()
    output = controller.log()
    assert wait_for(lambda: target.stats()["total"] > 0, 5, "the first requests at the target")
    report = controller.report()
    assert code == 1, output[-4000:]
    assert report["verdict"] == "fail" and report["exit_code"] == 1, report["verdict_reasons"]
    assert {m: e["outcome"] for m, e in report["executors"].items()} == {
        m: "failed" if m in dying else "finished" for m in ("node-1", "node-2")
    }
    for executor in executors:
        named = lines_with(output, f"executor {executor.executor_id} ({executor.host}) failed")
        assert bool(named) is (executor.executor_id in dying), output[-4000:]
    assert "verdict: FAIL" in output
    assert_no_traceback(output, *(e.log() for e in executors))


# --- 2. one work dir, one process; default ids never collide ------------------------------------


def test_second_executor_on_a_locked_work_dir_exits_2_naming_the_holder(cluster, tmp_path):
    shared = tmp_path / "shared-work-dir"
    first = cluster.executor(1, "scenarios/visit.py", executor_id=None, work_dir=shared)
    first.wait_state("armed")
    second = cluster.executor(2, "scenarios/visit.py", executor_id=None, work_dir=shared)
    assert second.wait_exit(60) == 2, second.log()[-3000:]
    message = f"SALVO_WORK_DIR={shared} is in use by executor pid {first.process.pid}"
    assert lines_with(second.log(), "configuration error", message), second.log()[-3000:]
    assert_no_traceback(second.log())
    # the holder is untouched: still armed, and the state file is still its own
    assert first.process.poll() is None and first.state() == "armed"
    assert state_record(first)["pid"] == first.process.pid


def test_default_ids_on_one_host_are_distinct_and_counted_once(cluster, tmp_path, target):
    executors = [cluster.executor(n, "scenarios/visit.py", executor_id=None) for n in (3, 4)]
    for executor in executors:
        executor.wait_state("armed")
    ids = [state_record(e)["executor_id"] for e in executors]
    assert ids[0] != ids[1], ids
    for executor_id, executor in zip(ids, executors, strict=True):
        assert executor.host in executor_id  # hostname + bind address (+ ports): unique per host
    controller = cluster.controller("default-ids", expected=2)
    assert controller.wait() == 0, controller.log()[-4000:]
    for executor in executors:
        assert executor.wait_exit(60) == 0
    assert_passing_run_counted_exactly(controller, target, ids)
    assert_no_traceback(controller.log(), *(e.log() for e in executors))


# --- 3. a work dir reused: each run counts only its own requests ----------------------------------


@pytest.mark.parametrize("how", ["two-processes", "service-mode"])
def test_work_dir_reused_each_run_counts_only_its_own_requests(cluster, tmp_path, s3_client, s3_bucket, target, how):
    work_dir = tmp_path / "reused-work-dir"
    mode = {"SALVO_MODE": "service"} if how == "service-mode" else {}
    # two processes: the second run is shorter, so the first run's samples counted again would show as an
    # excess; service mode: one process, two runs of the same length, each in a fresh run folder
    executor = cluster.executor(1, "scenarios/visit.py", work_dir=work_dir, SALVO_DURATION="3s", **mode)
    counts = {}
    for run, duration in ((f"reuse-{how}-1", "3s"), (f"reuse-{how}-2", "1s")):
        if run.endswith("-2") and how == "two-processes":
            executor = cluster.executor(1, "scenarios/visit.py", work_dir=work_dir, SALVO_DURATION=duration)
        executor.wait_state("armed", timeout=120)
        target.reset()
        controller = cluster.controller(run, expected=1)
        assert controller.wait() == 0, controller.log()[-4000:]
        if how == "two-processes":
            assert executor.wait_exit(60) == 0
        seen = target.stats()["total"]
        summary = summary_of(s3_client, s3_bucket, run, "node-1")
        assert summary["totals"]["requests"] == seen > 0, (run, summary["totals"]["requests"], seen)
        assert controller.report()["overall"]["requests"] == seen
        assert_no_traceback(controller.log())
        counts[run] = seen
    assert_no_traceback(executor.log())
    print(f"{how}: requests per run {counts}")


# --- 4. results destination that cannot be written ----------------------------------------------


def test_executor_with_results_in_a_missing_bucket_exits_3_before_armed(cluster, target):
    missing = f"salvo-missing-{uuid.uuid4().hex[:10]}"
    executor = cluster.executor(1, "scenarios/visit.py", results_uri=f"s3://{missing}/results/")
    assert executor.wait_exit(90) == 3, executor.log()[-3000:]
    log = executor.log()
    assert lines_with(log, f"SALVO_RESULTS_URI=s3://{missing}/results/", f"bucket {missing!r}", "prefix 'results/'"), (
        log
    )
    assert "armed: listening" not in log and "held at the start gate" not in log  # never armed, no bzt
    assert state_record(executor).get("state") != "armed"
    assert target.stats()["total"] == 0
    assert_no_traceback(log)


def test_controller_with_results_in_a_missing_bucket_exits_2_before_discovery(cluster, target):
    executor = cluster.executor(1, "scenarios/visit.py")
    executor.wait_state("armed")
    missing = f"salvo-missing-{uuid.uuid4().hex[:10]}"
    controller = cluster.controller("no-bucket", expected=1, SALVO_RESULTS_URI=f"s3://{missing}/results/")
    assert controller.wait(90) == 2, controller.log()[-4000:]
    output = controller.log()
    assert lines_with(output, f"SALVO_RESULTS_URI=s3://{missing}/results/", "not writable", f"bucket {missing!r}"), (
        output
    )
    assert "looking for executors" not in output  # refused before discovery
    assert executor.state() == "armed" and target.stats()["total"] == 0
    assert_no_traceback(output)


# --- 5. run ids are never reused silently ---------------------------------------------------------


def test_reused_run_id_is_refused_before_load_unless_overwrite(cluster, s3_client, s3_bucket, target):
    run_id = "reused-run-id"
    first = cluster.executor(1, "scenarios/visit.py")
    first.wait_state("armed")
    controller = cluster.controller(run_id, expected=1)
    assert controller.wait() == 0, controller.log()[-4000:]
    first_report = controller.report()
    assert first_report["overall"]["requests"] == target.stats()["total"] > 0

    second = cluster.executor(2, "scenarios/visit.py")
    second.wait_state("armed")
    target.reset()
    refused = cluster.controller(run_id, expected=1)
    assert refused.wait(90) == 2, refused.log()[-4000:]
    output = refused.log()
    assert lines_with(
        output, "configuration error", f"SALVO_RUN_ID={run_id} already has a report", "SALVO_RUN_ID_REUSE=overwrite"
    ), output
    assert "looking for executors" not in output
    assert target.stats()["total"] == 0 and second.state() == "armed"
    stored = json.loads(s3_client.get_object(Bucket=s3_bucket, Key=f"results/{run_id}/report.json")["Body"].read())
    assert stored["contributors"] == ["node-1"]  # the first run's report is untouched
    assert_no_traceback(output)

    overwritten = cluster.controller(run_id, expected=1, SALVO_RUN_ID_REUSE="overwrite")
    assert overwritten.wait() == 0, overwritten.log()[-4000:]
    assert "SALVO_RUN_ID_REUSE=overwrite: replacing the report" in overwritten.log()
    assert_passing_run_counted_exactly(overwritten, target, ["node-2"])
    stored = json.loads(s3_client.get_object(Bucket=s3_bucket, Key=f"results/{run_id}/report.json")["Body"].read())
    assert stored["contributors"] == ["node-2"]
    assert_no_traceback(overwritten.log())


# --- 6. one id, one executor ---------------------------------------------------------------------


def test_two_executors_with_one_id_are_refused_before_any_load(cluster, target):
    twins = [cluster.executor(n, "scenarios/visit.py", executor_id="twin") for n in (5, 6)]
    for executor in twins:
        executor.wait_state("armed")
    controller = cluster.controller("twins", expected=2)
    assert controller.wait(90) == 2, controller.log()[-4000:]
    output = controller.log()
    assert lines_with(output, "configuration error", "twin at 127.0.2.5, 127.0.2.6"), output[-4000:]
    assert target.stats()["total"] == 0
    assert all(e.process.poll() is None and e.state() == "armed" for e in twins)
    assert_no_traceback(output)


# --- 7. an executor killed mid-run under policy fail ----------------------------------------------
# (test_controller.py covers both policies; this adds the one-line culprit, no traceback, and the
#  survivor's data in our address range.)


def test_executor_sigkilled_under_policy_fail_exits_4_naming_it(cluster, target):
    victim, survivor = (cluster.executor(n, "scenarios/visit.py", SALVO_DURATION="30s") for n in (7, 8))
    for executor in (victim, survivor):
        executor.wait_state("armed")
    controller = cluster.controller("killed-fail", expected=2, SALVO_LOST_EXECUTOR_POLICY="fail")
    wait_for(lambda: target.stats()["executors"].get("node-7", {}).get("count", 0) >= 3, 60, "the victim's load")
    victim.process.send_signal(signal.SIGKILL)
    assert controller.wait() == 4, controller.log()[-4000:]
    output = controller.log()
    report = controller.report()
    assert report["verdict"] == "fail" and report["exit_code"] == 4 and report["lost"] == ["node-7"]
    assert report["executors"]["node-7"]["outcome"] == "lost"
    assert lines_with(output, "SALVO_LOST_EXECUTOR_POLICY=fail", "node-7 (127.0.2.7)"), output[-4000:]
    assert "verdict: FAIL" in output
    assert survivor.wait_exit(60) == 0 and "stopped by controller" in survivor.log()
    assert report["executors"]["node-8"]["outcome"] == "finished"
    assert_no_traceback(output, survivor.log())


ORPHAN_VICTIMS = (13, 14, 15, 16, 17)


def test_sigkilled_executors_leave_no_orphaned_load(cluster, target):
    victims = [cluster.executor(n, "scenarios/visit.py", SALVO_USERS="1", SALVO_DURATION="40s") for n in ORPHAN_VICTIMS]
    for victim in victims:
        victim.wait_state("armed", timeout=120)
    controller = cluster.controller("orphans", expected=len(victims))
    for victim in victims:
        wait_for(
            lambda victim=victim: target.stats()["executors"].get(victim.executor_id, {}).get("count", 0) >= 3,
            60,
            f"{victim.executor_id}'s load",
        )
        assert processes_under(victim.work_dir)  # its bzt and locust are running
    for victim in victims:
        victim.process.send_signal(signal.SIGKILL)
    for victim in victims:
        victim.process.wait(10)

    # docs/architecture.md: "bzt runs with PR_SET_PDEATHSIG: if the executor dies, even by SIGKILL, bzt is told
    # to stop and stops locust. No orphaned load." A graceful stop takes a few seconds, not the 40 s the run had left.
    def orphans() -> dict:
        return {v.executor_id: list(processes_under(v.work_dir)) for v in victims if processes_under(v.work_dir)}

    try:
        wait_for(lambda: not orphans(), 20, "the killed executors' bzt and locust to stop")
    except AssertionError:
        raise AssertionError(
            f"load processes still running 20 s after their executor was killed: {orphans()}"
        ) from None
    stopped_at = target.stats()["total"]
    assert controller.wait() == 1, controller.log()[-4000:]  # every member lost: no data, no PASS
    assert sorted(controller.report()["lost"]) == sorted(v.executor_id for v in victims)
    assert target.stats()["total"] == stopped_at  # no request after the processes ended
    assert_no_traceback(controller.log())


# --- 8. S3 failing while the results are uploaded -------------------------------------------------


def test_uploads_through_failing_s3_still_count_every_request(cluster, aws_env, flaky_s3, target):
    flaky_s3.fault_rate = 0.0  # arming goes through cleanly; the faults are for the uploads
    through_proxy = {**aws_env, "AWS_ENDPOINT_URL": flaky_s3.endpoint}
    executors = [cluster.executor(n, "scenarios/visit.py", aws_env=through_proxy) for n in (9, 10)]
    for executor in executors:
        executor.wait_state("armed")
    before = flaky_s3.requests
    flaky_s3.fault_rate, flaky_s3.reset_rate = 0.3, 0.15
    controller = cluster.controller("flaky-uploads", expected=2)
    assert controller.wait() == 0, controller.log()[-4000:]
    for executor in executors:
        assert executor.wait_exit(60) == 0, executor.log()[-3000:]
    after = [path for _, path in flaky_s3.seen[before:]]
    print(f"uploads: {len(after)} S3 requests, {flaky_s3.errors_503} answered 503, {flaky_s3.resets} reset")
    assert flaky_s3.errors_503 > 0 and flaky_s3.resets > 0
    assert any("summary.json" in path for path in after)
    assert any("retrying" in e.log() for e in executors)
    assert_passing_run_counted_exactly(controller, target, ["node-10", "node-9"])
    assert_no_traceback(controller.log(), *(e.log() for e in executors))


# --- 9. `salvo report` re-judges tampered results ------------------------------------------------


RUN = "tamper-run"


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory, moto_server, http_target):
    """One passing two-executor run, shared by the tampering cases (each restores what it changed)."""
    aws = {**CREDENTIALS, "AWS_ENDPOINT_URL": moto_server.endpoint}
    s3 = moto_server.client("s3")
    bucket = f"salvo-tamper-{uuid.uuid4().hex[:10]}"
    s3.create_bucket(Bucket=bucket)
    s3.put_object(Bucket=bucket, Key="scenarios/visit.py", Body=LOCUSTFILE.encode())
    http_target.reset()
    made = Cluster(tmp_path_factory.mktemp("tamper"), aws, bucket, http_target)
    try:
        executors = [made.executor(n, "scenarios/visit.py") for n in (11, 12)]
        for executor in executors:
            executor.wait_state("armed")
        controller = made.controller(RUN, expected=2)
        assert controller.wait() == 0, controller.log()[-4000:]
        seen = http_target.stats()
        assert controller.report()["overall"]["requests"] == seen["total"] > 0
    finally:
        made.close()
    return made, s3, seen


def summary_key(executor_id: str) -> str:
    return f"results/{RUN}/executors/{executor_id}/summary.json"


@contextlib.contextmanager
def tampered(s3, bucket: str, changes: dict):
    """Replace objects (`key -> edit(original bytes)`, an edit returning None deletes it); restore them after."""
    originals = {key: s3.get_object(Bucket=bucket, Key=key)["Body"].read() for key in changes}
    try:
        for key, edit in changes.items():
            body = edit(originals[key])
            if body is None:
                s3.delete_object(Bucket=bucket, Key=key)
            else:
                s3.put_object(Bucket=bucket, Key=key, Body=body)
        yield
    finally:
        for key, body in originals.items():
            s3.put_object(Bucket=bucket, Key=key, Body=body)


def _edited(original: bytes, **changes) -> bytes:
    return json.dumps({**json.loads(original), **changes}).encode()


# case: (edit, how the report names it, why): a deleted summary is missing; a read one that cannot be counted, rejected
TAMPERING = {
    "deleted": (lambda b: None, "are missing", "summary.json not found"),
    "claims-another-executor": (
        lambda b: _edited(b, executor_id="node-11"),
        "rejected",
        "executor_id: it claims executor 'node-11', but is stored as 'node-12'",
    ),
    "not-json": (lambda b: b'{"schema": "salvo.summary/1", "totals": ', "rejected", "not valid JSON"),
    "old-schema": (lambda b: _edited(b, schema="salvo.summary/0"), "rejected", "schema: expected 'salvo.summary/1'"),
    "another-run": (
        lambda b: _edited(b, run_id="some-other-run"),
        "rejected",
        "run_id: it names run 'some-other-run', not 'tamper-run'",
    ),
}


def test_report_of_the_untouched_run_passes_with_the_same_count(finished_run):
    cluster, _, seen = finished_run
    result = cluster.salvo("report", f"s3://{cluster.bucket}/results/{RUN}/")
    assert result.returncode == 0, result.stdout + result.stderr
    assert overall_requests(result.stdout) == seen["total"]
    assert "verdict: PASS" in result.stdout
    assert_no_traceback(result.stdout + result.stderr)


@pytest.mark.parametrize("case", sorted(TAMPERING))
def test_report_of_a_tampered_summary_fails_naming_it(finished_run, case):
    cluster, s3, seen = finished_run
    edit, outcome, reason = TAMPERING[case]
    with tampered(s3, cluster.bucket, {summary_key("node-12"): edit}):
        result = cluster.salvo("report", f"s3://{cluster.bucket}/results/{RUN}/")
    output = result.stdout + result.stderr
    assert result.returncode == 1, output
    assert "verdict: FAIL" in output
    assert lines_with(output, "results of executor node-12", outcome, reason), output
    assert lines_with(
        output, "missing results: node-12" if outcome == "are missing" else "rejected results: node-12"
    ), output
    # node-12's data is not counted, under its name or another: what remains is node-11's own count
    assert overall_requests(result.stdout) == seen["executors"]["node-11"]["count"] < seen["total"]
    assert_no_traceback(output)


def test_report_counts_a_copied_summary_once(finished_run):
    """A summary copied into a folder of an executor that was not in the fleet adds nothing."""
    cluster, s3, seen = finished_run
    key = summary_key("node-13")
    s3.copy_object(Bucket=cluster.bucket, Key=key, CopySource={"Bucket": cluster.bucket, "Key": summary_key("node-12")})
    try:
        result = cluster.salvo("report", f"s3://{cluster.bucket}/results/{RUN}/")
    finally:
        s3.delete_object(Bucket=cluster.bucket, Key=key)
    assert result.returncode == 0, result.stdout + result.stderr
    assert overall_requests(result.stdout) == seen["total"]
    assert_no_traceback(result.stdout + result.stderr)


def test_report_without_report_json_still_sees_an_executor_whose_summary_is_missing(finished_run):
    cluster, s3, _seen = finished_run
    artifacts = [
        o["Key"]
        for o in s3.list_objects_v2(Bucket=cluster.bucket, Prefix=f"results/{RUN}/executors/node-12/")["Contents"]
    ]
    assert any(not key.endswith("summary.json") for key in artifacts)  # its upload started: bzt.log, kpi.jtl ...
    with tampered(
        s3, cluster.bucket, {f"results/{RUN}/report.json": lambda b: None, summary_key("node-12"): lambda b: None}
    ):
        result = cluster.salvo("report", f"s3://{cluster.bucket}/results/{RUN}/")
    output = result.stdout + result.stderr
    assert_no_traceback(output)
    assert result.returncode == 1, output
    assert lines_with(output, "missing results: node-12"), output
