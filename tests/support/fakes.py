"""In-memory parts for fast tests of the run logic: a clock, S3, links and a load tool that are fakes.

Time only moves when a part waits: a link's poll(timeout) advances the fake clock,
so a 60-second run with its timeouts takes milliseconds and is deterministic.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from salvo.common.bounded import SizeLimit
from salvo.common.errors import LoadToolNotReady, ObjectTooLarge, ScenarioFetchError, UploadError
from salvo.common.s3 import S3Location, S3ReadError
from salvo.common.transport import Inbound, Link
from salvo.executor.run.arming import PreparedRun, ScenarioPreparer
from salvo.executor.scenario.bztconfig import RunPlan
from salvo.executor.scenario.unpack import EntryKind, Scenario
from salvo.executor.tool.statsfile import SecondOfLabel, stats_path

EPOCH = 1_800_000_000.0


class FakeClock:
    def __init__(self, wall: float = EPOCH):
        self._wall = wall
        self._monotonic = 1000.0
        self._timers: list[tuple[float, Callable[[], None]]] = []

    def call_at(self, wall: float, action: Callable[[], None]) -> None:
        """Run `action` once the clock has advanced to `wall` (e.g. deliver a signal mid-phase)."""
        self._timers.append((wall, action))
        self._timers.sort(key=lambda timer: timer[0])

    def time(self) -> float:
        return self._wall

    def monotonic(self) -> float:
        return self._monotonic

    def sleep(self, seconds: float) -> None:
        self.advance(seconds)

    def advance(self, seconds: float) -> None:
        seconds = max(0.0, seconds)
        self._wall += seconds
        self._monotonic += seconds
        while self._timers and self._timers[0][0] <= self._wall:
            _, action = self._timers.pop(0)
            action()


class FakeStore:
    """The Store protocol (salvo.common.store) over a dict of `s3://bucket/key` -> bytes."""

    def __init__(self, objects: dict[str, bytes] | None = None, writable: bool = True):
        self.objects: dict[str, bytes] = dict(objects or {})
        self.writable = writable
        self.retry_seconds = 30.0  # S3Store's budget; the fake never waits

    def bounded(self, retry_seconds: float) -> FakeStore:
        return self

    def download(
        self,
        location: S3Location,
        dest: Path,
        *,
        what: str = "scenario",
        variable: str = "",
        limit: SizeLimit | None = None,
    ) -> str:
        import hashlib

        if str(location) not in self.objects:
            raise ScenarioFetchError(f"{what} {location} not found (NoSuchKey): check {variable or 'the URI'}")
        data = self.read_bytes(location, what=what, limit=limit)
        dest.parent.mkdir(parents=True, exist_ok=True)
        dest.write_bytes(data)
        return hashlib.sha256(data).hexdigest()

    def upload_bytes(self, data: bytes, location: S3Location, content_type: str | None = None) -> None:
        if not self.writable:
            raise UploadError(f"access denied to {location} (AccessDenied): the task role needs s3:PutObject on it")
        self.objects[str(location)] = bytes(data)

    def upload_file(self, path: Path, location: S3Location, content_type: str | None = None) -> None:
        self.upload_bytes(Path(path).read_bytes(), location, content_type)

    def read_bytes(self, location: S3Location, *, what: str = "object", limit: SizeLimit | None = None) -> bytes:
        try:
            data = self.objects[str(location)]
        except KeyError:
            raise S3ReadError(f"{location} not found (NoSuchKey): check the URI") from None
        if limit is not None and len(data) > limit.max_bytes:
            raise ObjectTooLarge(what, str(location), len(data), limit.max_bytes, limit.variable)
        return data

    def exists(self, location: S3Location) -> bool:
        return str(location) in self.objects

    def last_modified(self, location: S3Location) -> float | None:
        return 0.0 if self.exists(location) else None  # the fake keeps no times: every object is as old

    def list_folders(self, prefix: S3Location, page_size: int = 1000) -> list[str]:
        under = self.list_keys(prefix)
        return sorted({key[len(prefix.key) :].split("/", 1)[0] for key in under if "/" in key[len(prefix.key) :]})

    def list_keys(self, prefix: S3Location, page_size: int = 1000) -> list[str]:
        start = f"s3://{prefix.bucket}/"
        return sorted(uri[len(start) :] for uri in self.objects if uri.startswith(str(prefix)))


# --- executor side ------------------------------------------------------------------------


class FakePreparer(ScenarioPreparer):
    """Arms instantly with a gated (or ungated) locust plan; the results write check is the real one."""

    def __init__(self, settings, store, gated: bool = True):
        super().__init__(settings, store)
        self.gated = gated

    def fetch(self, run_dir: Path) -> tuple[Path, str]:
        path = run_dir / "download" / "locustfile.py"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("# fake\n")
        return path, "f" * 64

    def prepare(self, downloaded: Path, sha256: str, run_dir: Path) -> PreparedRun:
        scenario = Scenario(root=downloaded.parent, entry=downloaded, kind=EntryKind.LOCUSTFILE, sha256=sha256)
        plan = RunPlan(configs=[], cwd=run_dir, gates=1 if self.gated else 0, executors=["locust"])
        return PreparedRun(scenario=scenario, plan=plan, artifacts_dir=run_dir / "artifacts")


@dataclass
class FakeRunner:
    """A load tool that sends `rate` requests a second from its release until it ends.

    It ends after `run_seconds`, when stopped, or when it crashes `crash_after`
    seconds into the run with `exit_code`; `dies_at_gate` makes it fail while arming.
    Its results are written as a gated locust's stats lines when it ends.
    """

    plan: RunPlan
    artifacts_dir: Path
    env: dict
    clock: FakeClock
    run_seconds: float = 2.0
    rate: int = 10
    exit_code: int = 0
    crash_after: float | None = None
    dies_at_gate: bool = False
    exits_while_held: bool = False
    ignores_stop: bool = False
    killed: bool = False
    launched_at: float | None = None
    released_at: float | None = None
    stopped_at: float | None = None
    aborted: bool = False
    code: int | None = None
    requests_sent: int = 0
    go: object = None

    def launch(self) -> None:
        self.artifacts_dir.mkdir(parents=True, exist_ok=True)
        self.launched_at = self.clock.time()

    def wait_at_gate(self, timeout: float) -> None:
        if self.dies_at_gate:
            self.code = 1
            raise LoadToolNotReady(
                "bzt exited with code 1 before the load tool was ready: You must specify the base host"
            )

    def release(self, go) -> None:
        if not self.plan.gated:
            self.launch()
        self.go = go  # what a gated locust would be told: its place in the fleet, its share
        self.released_at = go.start_at

    def released_times(self) -> list[float]:
        return [self.released_at] if self.released_at is not None and self.plan.gated else []

    def poll(self) -> int | None:
        if self.code is not None or self.launched_at is None:
            return self.code
        if self.released_at is None:
            return 1 if self.exits_while_held else None
        now = self.clock.time()
        if self.stopped_at is not None:
            self._end(self.stopped_at, 0)
        elif self.crash_after is not None and now >= self.released_at + self.crash_after:
            self._end(self.released_at + self.crash_after, self.exit_code)
        elif now >= self.released_at + self.run_seconds:
            self._end(self.released_at + self.run_seconds, 0 if self.crash_after is not None else self.exit_code)
        return self.code

    def stop(self) -> None:
        if not self.ignores_stop:
            self.stopped_at = self.clock.time()

    def abort(self) -> None:
        self.aborted = True
        if self.code is None:
            self.code = 4

    def wait(self, timeout: float) -> int:
        if self.code is None and self.ignores_stop and timeout == 0:
            self.killed = True
            self._end(self.clock.time(), -9)
        elif self.code is None:
            self._end(self.stopped_at or self.clock.time(), 0)
        return self.code

    def failure_hint(self) -> str:
        return "locust: You must specify the base host"

    def failure_reason(self, code: int) -> str:
        return f"load tool failed (bzt exit code {code}): {self.failure_hint()}"

    def _end(self, at: float, code: int) -> None:
        self.code = code
        started = self.released_at if self.released_at is not None else at
        count = max(0, int((at - started) * self.rate))
        cells: dict[int, SecondOfLabel] = {}
        for n in range(count):
            start = started + n / self.rate
            cells.setdefault(int(start), SecondOfLabel()).request(start, 5.0 + n % 7, "200", True, 10, "")
        with open(stats_path(self.artifacts_dir, 1), "a") as out:
            out.writelines(cell.line(second, "/", 2) + "\n" for second, cell in sorted(cells.items()))
        self.requests_sent = count


class FakeRunnerFactory:
    def __init__(self, clock: FakeClock, **behaviour):
        self.clock = clock
        self.behaviour = behaviour
        self.runners: list[FakeRunner] = []

    def __call__(self, *, plan: RunPlan, artifacts_dir: Path, env: dict) -> FakeRunner:
        runner = FakeRunner(plan=plan, artifacts_dir=artifacts_dir, env=env, clock=self.clock, **self.behaviour)
        self.runners.append(runner)
        return runner


@dataclass(order=True)
class _Scheduled:
    at: float
    seq: int
    what: object = field(compare=False)


class ScriptedController:
    """The executor's link, with a controller played from a script: what arrives when.

    `at(t, message)` delivers a command-link message at wall time t; `at(t, callable)`
    calls it then (e.g. to send a signal). Everything the executor pushes is kept.
    """

    def __init__(self, clock: FakeClock, heartbeat_every: float | None = None):
        self.clock = clock
        self.heartbeat_every = heartbeat_every
        self.pushed: list = []
        self.replies: list = []
        self.closed = False
        self._script: list[_Scheduled] = []
        self._seq = 0
        self._next_heartbeat = clock.time()

    def at(self, when: float, what) -> ScriptedController:
        self._seq += 1
        self._script.append(_Scheduled(when, self._seq, what))
        self._script.sort()
        return self

    def poll(self, timeout: float) -> list[Inbound]:
        from salvo.common.protocol import Heartbeat

        self.clock.advance(timeout)
        now = self.clock.time()
        delivered: list[Inbound] = []
        if self.heartbeat_every is not None and now >= self._next_heartbeat:
            self._next_heartbeat = now + self.heartbeat_every
            delivered.append(Inbound(Link.COMMAND, Heartbeat()))
        while self._script and self._script[0].at <= now:
            what = self._script.pop(0).what
            if callable(what):
                what()
            elif isinstance(what, Inbound):
                delivered.append(what)
            else:
                delivered.append(Inbound(Link.COMMAND, what))
        return delivered

    def reply(self, peer: bytes, message) -> None:
        self.replies.append(message)

    def push(self, message) -> int:
        self.pushed.append(message)
        return 1

    def close(self) -> None:
        self.closed = True

    def of_type(self, kind: type) -> list:
        return [m for m in self.pushed if isinstance(m, kind)]
