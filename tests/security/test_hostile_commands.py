"""Hostile commands against a real armed executor: each is refused for its stated reason, none is fatal.

One executor process (real moto S3, real bzt + locust held at the gate, real ZeroMQ
sockets on loopback) takes every case in turn. After each hostile frame a refused
probe Start proves the frame was handled, and a Hello -> Status handshake that the
executor is still ARMED. At the end a valid Start is still obeyed and runs.
"""

from __future__ import annotations

import itertools
import math
import re
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from salvo.common.errors import ProtocolError
from salvo.common.identifiers import IDENTIFIER_RULE
from salvo.common.protocol import (
    MAX_FLEET,
    ExecutorState,
    FleetLoad,
    LoadMode,
    Start,
    StartAck,
    decode_command,
    decode_status,
)
from salvo.controller.link import ControllerLink
from tests.support.executors import ExecutorProcess, drive_run, start_executor, wait_for
from tests.support.hostile import encoded, garbage_frames, hostile_others, hostile_starts
from tests.support.s3 import CREDENTIALS, FOREIGN_AWS_VARIABLES

pytestmark = pytest.mark.integration

EXECUTOR_ID = "armed-1"
HOST = "127.0.4.10"
RATE_LIMIT_SECONDS = 1.05  # the executor logs one undecodable frame a second per link (RateLimitedWarning)
LOCUSTFILE = """
import os
from locust import HttpUser, constant, task

class Visitor(HttpUser):
    wait_time = constant(0.1)

    @task
    def index(self):
        self.client.get("/", headers={"X-Salvo-Executor": os.environ["SALVO_EXECUTOR_ID"]})
"""
DATA = "user\nu1\nu2\nu3\nu4\n"


@dataclass
class ArmedExecutor:
    """The armed executor and a stand-in controller watching it."""

    executor: ExecutorProcess
    link: ControllerLink
    probes: Iterator[int] = field(default_factory=itertools.count)
    last_sent: dict[str, float] = field(default_factory=dict)

    def send(self, link: str, frame: bytes) -> None:
        if link == "command":
            self.link.publisher.send(frame)
        else:
            self.link.router.send_multipart([self.link.peers[HOST].routing_id, frame])
        self.last_sent[link] = time.monotonic()

    def wait_out_the_rate_limit(self, link: str) -> None:
        """So that the next undecodable frame on `link` is logged, not counted as suppressed."""
        time.sleep(max(0.0, self.last_sent.get(link, -1e9) + RATE_LIMIT_SECONDS - time.monotonic()))

    def settle(self) -> list[StartAck]:
        """The StartAcks pushed until a refused probe start's own: every command sent before it was handled."""
        probe = f"probe-{next(self.probes)}"
        self.link.publish(Start(run_id=probe, fleet=[EXECUTOR_ID], start_at=time.time() - 10))
        acks: list[StartAck] = []

        def probe_answered() -> bool:
            acks.extend(m for _, m in self.link.receive(0.05) if isinstance(m, StartAck))
            return any(ack.run_id == probe for ack in acks)

        wait_for(probe_answered, 10, f"the refusal of {probe}", interval=0)
        return [ack for ack in acks if ack.run_id != probe]

    def assert_armed(self) -> None:
        assert self.executor.process.poll() is None, self.executor.log()[-3000:]
        status = self.link.handshake(HOST, timeout=5)
        assert status is not None and status.state is ExecutorState.ARMED, self.executor.log()[-3000:]


@pytest.fixture(scope="module")
def armed(tmp_path_factory, moto_server, http_target):
    env = {**CREDENTIALS, "AWS_ENDPOINT_URL": moto_server.endpoint}
    with pytest.MonkeyPatch.context() as patch:
        for name in FOREIGN_AWS_VARIABLES:
            patch.delenv(name, raising=False)
        s3, bucket = moto_server.client("s3"), f"salvo-hostile-{uuid.uuid4().hex[:12]}"
        s3.create_bucket(Bucket=bucket)
        s3.put_object(Bucket=bucket, Key="scenarios/visit.py", Body=LOCUSTFILE.encode())
        s3.put_object(Bucket=bucket, Key="data/users.csv", Body=DATA.encode())
        http_target.reset()
        executor = start_executor(
            tmp_path_factory.mktemp("hostile"),
            env,
            executor_id=EXECUTOR_ID,
            host=HOST,
            scenario_uri=f"s3://{bucket}/scenarios/visit.py",
            results_uri=f"s3://{bucket}/results/",
            extra_env={
                "SALVO_USERS": "2",
                "SALVO_DURATION": "1s",
                "SALVO_TARGET_HOST": http_target.url,
                "SALVO_DATA_URI": f"s3://{bucket}/data/users.csv",
            },
        )
        link = ControllerLink(None, command_port=executor.command_port, status_port=executor.status_port)
        try:
            executor.wait_state("armed")
            link.add_executor(HOST)
            assert link.handshake(HOST, timeout=10) is not None, executor.log()[-3000:]
            assert link.wait_subscribed(1, timeout=10) >= 1
            yield ArmedExecutor(executor, link)
        finally:
            link.close()
            executor.kill()


def start(**fields) -> Callable[[float], dict]:
    """A Start for the armed executor, valid but for `fields` (a callable value gets the time of sending)."""
    return lambda now: {
        "v": 1,
        "type": "start",
        "run_id": "hostile",
        "fleet": [EXECUTOR_ID],
        "start_at": now + 1.0,
        **{k: v(now) if callable(v) else v for k, v in fields.items()},
    }


def message(kind: str, **fields) -> Callable[[float], dict]:
    return lambda now: {"v": 1, "type": kind, **fields}


def case(name: str, link: str, value: Callable[[float], dict] | bytes, problem: str):
    """A frame the executor cannot decode on `link`, and the first problem the decode error names."""
    return pytest.param(link, value, problem, id=name)


RUN_ID_RULE = f"start.run_id: {IDENTIFIER_RULE}"
UNDECODABLE = [
    case("nan-start-at", "command", start(start_at=math.nan), "start.start_at: Input should be a finite number"),
    case("infinite-start-at", "command", start(start_at=math.inf), "start.start_at: Input should be a finite number"),
    case("negative-start-at", "command", start(start_at=-1.0), "start.start_at: Input should be greater than 0"),
    case(
        "start-at-after-2286", "command", start(start_at=1e11), "start.start_at: Input should be less than 10000000000"
    ),
    case("string-start-at", "command", start(start_at="soon"), "start.start_at: Input should be a valid number"),
    case("traversal-run-id", "command", start(run_id="../../x y"), RUN_ID_RULE),
    case("space-in-run-id", "command", start(run_id="run 1"), RUN_ID_RULE),
    case("newline-in-run-id", "command", start(run_id="r\nWARNING forged line"), RUN_ID_RULE),
    case("leading-dash-run-id", "command", start(run_id="-rf"), RUN_ID_RULE),
    case("run-id-of-129", "command", start(run_id="a" * 129), RUN_ID_RULE),
    case(
        "duplicate-fleet-ids",
        "command",
        start(fleet=[EXECUTOR_ID, EXECUTOR_ID]),
        "start.fleet: expected every executor id once",
    ),
    case(
        "empty-fleet",
        "command",
        start(fleet=[]),
        "start.fleet: List should have at least 1 item after validation, not 0",
    ),
    case(
        "fleet-over-max",
        "command",
        start(fleet=[EXECUTOR_ID, *(f"e{n}" for n in range(MAX_FLEET))]),
        f"start.fleet: List should have at most {MAX_FLEET} items after validation, not {MAX_FLEET + 1}",
    ),
    case("traversal-fleet-id", "command", start(fleet=[EXECUTOR_ID, "../etc"]), f"start.fleet.1: {IDENTIFIER_RULE}"),
    case(
        "billion-users",
        "command",
        start(load={"mode": "fleet", "users": 10**9}),
        "start.load.users: Input should be less than or equal to 1000000",
    ),
    case(
        "users-per-executor",
        "command",
        start(load={"mode": "per-executor", "users": 10}),
        "start.load: users is a fleet total: only in fleet mode",
    ),
    case(
        "zero-spawn-rate",
        "command",
        start(load={"mode": "fleet", "users": 10, "spawn_rate": 0}),
        "start.load.spawn_rate: Input should be greater than or equal to 0.001",
    ),
    case(
        "unknown-load-field",
        "command",
        start(load={"mode": "fleet", "users": 10, "rows": 5}),
        "start.load.rows: Extra inputs are not permitted",
    ),
    case(
        "unknown-start-field",
        "command",
        start(shell="rm -rf /"),  # noqa: S604 -- a field Start must refuse, never run
        "start.shell: Extra inputs are not permitted",
    ),
    case(
        "too-many-params",
        "command",
        start(params={f"p{n}": "x" for n in range(33)}),
        "start.params: Dictionary should have at most 32 items after validation, not more",
    ),
    case("protocol-v2", "command", start(v=2), "start.v: Input should be 1"),
    case(
        "string-live-labels", "command", start(live_labels="yes"), "start.live_labels: Input should be a valid boolean"
    ),
    case(
        "the-incident",
        "command",  # all at once: named by its first problem
        start(run_id="../../x y", start_at=lambda now: now + 365 * 86400, load={"mode": "fleet", "users": 10**9}),
        f"{RUN_ID_RULE}; 1 more problem(s)",
    ),
    case(
        "truncated-json",
        "command",
        b'{"v":1,"type":"start","run_id":"tru',
        "frame: Invalid JSON: EOF while parsing a string at line 1 column 35",
    ),
    case("garbage-bytes", "command", b"\xff\xfe\x00garbage", "frame: Invalid JSON: expected value at line 1 column 1"),
    case(
        "dismiss-traversal-run-id", "command", message("dismiss", run_id="../x"), f"dismiss.run_id: {IDENTIFIER_RULE}"
    ),
    case(
        "dismiss-forged-line",
        "command",
        message("dismiss", reason="bye\nINFO forged line"),
        "dismiss.reason: expected printable text on one line (no control characters)",
    ),
    case(
        "stop-reason-too-long",
        "command",
        message("stop", reason="x" * 513),
        "stop.reason: String should have at most 512 characters",
    ),
    case(
        "nan-heartbeat",
        "command",
        message("heartbeat", sent_at=math.nan),
        "heartbeat.sent_at: Input should be a finite number",
    ),
    case("hello-unknown-field", "status", message("hello", evil=1), "hello.evil: Extra inputs are not permitted"),
    case("hello-string-watch", "status", message("hello", watch="yes"), "hello.watch: Input should be a valid boolean"),
]


def frame_of(value: Callable[[float], dict] | bytes) -> bytes:
    return value if isinstance(value, bytes) else encoded(value(time.time()))


@pytest.mark.parametrize(("link", "value", "problem"), UNDECODABLE)
def test_an_undecodable_command_is_dropped_naming_its_problem(armed, link, value, problem):
    frame = frame_of(value)
    with pytest.raises(ProtocolError) as refused:
        (decode_command if link == "command" else decode_status)(frame)
    assert str(refused.value) == f"undecodable frame ({problem}): {frame[:60]!r}"
    armed.wait_out_the_rate_limit(link)
    armed.send(link, frame)
    assert armed.settle() == []  # nothing acknowledged, nothing started
    armed.assert_armed()
    armed.executor.wait_log(f"ignored on the {link} link: {refused.value}", timeout=5)


REFUSED = [  # (Start fields, the exact refusal: a pattern only where it quotes a measured delay)
    (
        {"start_at": lambda now: now + 365 * 86400 + 0.3},
        re.escape("start_at is 31536000 s ahead, more than SALVO_MAX_START_DELAY=3600s allows"),
    ),
    (
        {"start_at": lambda now: now + 3700.3},
        re.escape("start_at is 3700 s ahead, more than SALVO_MAX_START_DELAY=3600s allows"),
    ),
    (
        {"start_at": lambda now: now - 5.0},
        r"start_at passed 5\d{3} ms ago \(tolerance 50 ms\): starting now would be out of sync",
    ),
]


@pytest.mark.parametrize(("fields", "reason"), REFUSED, ids=["a-year-ahead", "past-the-max-delay", "late"])
def test_a_start_out_of_time_is_refused_and_acknowledged_as_refused(armed, fields, reason):
    run_id = f"timed-{uuid.uuid4().hex[:8]}"
    armed.send("command", frame_of(start(run_id=run_id, **fields)))
    (ack,) = armed.settle()
    assert (ack.run_id, ack.accepted) == (run_id, False) and re.fullmatch(reason, ack.reason), ack
    armed.assert_armed()
    assert re.search(f"WARNING .*start for run {run_id} ignored: {reason}\n", armed.executor.log())


def test_a_start_for_another_fleet_is_refused_without_an_answer(armed):
    armed.send("command", frame_of(start(run_id="elsewhere", fleet=["other-1", "other-2"])))
    assert armed.settle() == []
    armed.assert_armed()
    assert (
        f"start for run elsewhere ignored: this executor ({EXECUTOR_ID}) is not in the run's fleet"
        in armed.executor.log()
    )


HOSTILE = st.one_of(
    hostile_starts(EXECUTOR_ID, time.time()).map(lambda value: ("command", encoded(value))),
    hostile_others().map(lambda pair: (pair[0], encoded(pair[1]))),
    st.tuples(st.sampled_from(["command", "status"]), garbage_frames()),
)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(HOSTILE)
def test_no_hostile_frame_kills_or_disarms_the_executor(armed, link_and_frame):
    link, frame = link_and_frame
    armed.send(link, frame)
    assert all(not ack.accepted for ack in armed.settle())
    armed.assert_armed()


def test_after_everything_a_valid_start_is_obeyed_and_runs(armed, http_target):
    log = armed.executor.log()
    assert "Traceback" not in log and http_target.stats()["total"] == 0, log[-3000:]
    valid = Start(
        run_id="after-hostility",
        fleet=[EXECUTOR_ID, "absent-peer"],
        start_at=time.time() + 1.0,
        load=FleetLoad(mode=LoadMode.FLEET, users=2, spawn_rate=10.0),
    )
    assert drive_run(armed.link, [armed.executor], valid) == [0], armed.executor.log()[-3000:]
    assert "start accepted: run after-hostility" in armed.executor.log()
    assert http_target.stats()["executors"][EXECUTOR_ID]["count"] > 0
    assert "Traceback" not in armed.executor.log()
