"""A controller link joined in memory to scripted executors: the controller's logic without sockets.

Each `FakeMember` answers handshakes, acknowledges a start, streams interval
stats and heartbeats, uploads a summary built from real samples into the fake
S3 and says it finished - or misbehaves as asked: goes silent (lost), refuses
the start, crashes its load tool, uploads nothing, a corrupt or forged summary.
Time moves only when the controller waits (`receive(timeout)`).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field

from salvo import __version__
from salvo.common.clocksync import ClockEstimate
from salvo.common.errors import ProtocolError
from salvo.common.fleetload import fleet_index
from salvo.common.histogram import SERIES_DIGITS, LatencyHistogram
from salvo.common.layout import summary_location
from salvo.common.protocol import (
    Dismiss,
    ExecutorState,
    Finished,
    Heartbeat,
    IntervalStats,
    LabelInterval,
    Start,
    StartAck,
    Status,
    Stop,
    decode_status,
    encode,
)
from salvo.common.s3location import S3Location
from salvo.executor.results.aggregate import SummaryBuilder
from salvo.executor.tool.samples import Sample
from tests.support.fakes import FakeClock, FakeStore

SHA = "a" * 64


@dataclass
class FakeMember:
    host: str
    executor_id: str
    run_seconds: float = 3.0
    rate: int = 10
    exit_code: int = 0
    silent_after: float | None = None  # seconds after start_at: no word from it any more (lost)
    refuses_start: str | None = None
    never_gets_start: bool = False
    upload: str = "ok"  # ok | none | corrupt | wrong-schema | forged:<other id>
    failing_every: int = 0  # every Nth request answered 500 (1: all of them)
    clock_offset: float = 0.0  # its clock minus the controller's, as the clock exchanges measure it
    clock_answers: bool = True  # False: never answers a clock exchange
    version: str = __version__
    sha256: str = SHA
    state: ExecutorState = ExecutorState.ARMED
    start: Start | None = None
    ended_at: float | None = None
    stopped_at: float | None = None
    outbox: list = field(default_factory=list)
    next_beat: float = 0.0
    next_stats: float = 0.0
    requests_sent: int = 0
    dismissed_at: float | None = None
    leaves: bool = True  # False: dismissed but never says it leaves (e.g. stuck re-arming)
    users_set: bool = False  # SALVO_USERS given on this executor
    executions: int = 1
    data_rows: int | None = None
    region: str | None = None  # where it says it runs (SALVO_REGION)
    inject: list = field(default_factory=list)  # sent with its first interval stats: messages, or raw frames

    def status(self, now: float) -> Status:
        return Status(
            executor_id=self.executor_id,
            version=self.version,
            state=self.state,
            scenario_sha256=self.sha256,
            run_id=self.start.run_id if self.start else None,
            sent_at=now,
            users_set=self.users_set,
            executions=self.executions,
            data_rows=self.data_rows,
            region=self.region,
        )

    def silent(self, now: float) -> bool:
        return (
            self.start is not None and self.silent_after is not None and now >= self.start.start_at + self.silent_after
        )

    def on_command(self, message, now: float) -> None:
        if isinstance(message, Start) and self.start is None and not self.never_gets_start:
            if self.executor_id not in message.fleet:
                return
            if self.refuses_start:
                self.outbox.append(
                    StartAck(
                        executor_id=self.executor_id, run_id=message.run_id, accepted=False, reason=self.refuses_start
                    )
                )
                return
            self.start = message
            self.state = ExecutorState.SCHEDULED
            self.next_stats = message.start_at + 1
            self.outbox.append(StartAck(executor_id=self.executor_id, run_id=message.run_id, accepted=True))
        elif isinstance(message, Stop) and self.start is not None and self.ended_at is None:
            self.stopped_at = now
        elif isinstance(message, Dismiss):
            self.dismissed_at = now

    def tick(self, now: float, store: FakeStore, results: S3Location) -> list:
        if self.silent(now):
            self.outbox.clear()
            return []
        out, self.outbox = self.outbox, []
        if self.start is not None and self.ended_at is None:
            if now >= self.start.start_at:
                self.state = ExecutorState.RUNNING
            end = self.start.start_at + self.run_seconds
            if self.stopped_at is not None:
                end = min(end, self.stopped_at)
            if now >= self.next_stats and now < end:
                out.append(
                    IntervalStats(
                        executor_id=self.executor_id,
                        run_id=self.start.run_id,
                        interval_start=self.next_stats - 1,
                        interval_end=self.next_stats,
                        requests=self.rate,
                        failures=0,
                        labels=self._live_labels(),
                    )
                )
                out += self.inject
                self.inject = []
                self.next_stats += 1
            if now >= end:
                self.ended_at = end
                self._upload(store, results)
                self.state = ExecutorState.DONE
                out.append(self.status(now))
                out.append(
                    Finished(
                        executor_id=self.executor_id,
                        run_id=self.start.run_id,
                        exit_code=self.exit_code,
                        reason="completed" if self.exit_code == 0 else "crashed",
                    )
                )
        if self.dismissed_at is not None and self.leaves and (self.start is None or self.ended_at is not None):
            out.append(self.status(now).model_copy(update={"leaving": True}))
            self.leaves = False  # its last word
        if now >= self.next_beat:
            self.next_beat = now + 1.0
            out.append(self.status(now))
        return out

    def _live_labels(self) -> dict[str, LabelInterval]:
        """What a real executor streams when the start asks for labels: its one label at 10 ms."""
        if not self.start.live_labels or not self.rate:
            return {}
        histogram = LatencyHistogram(digits=SERIES_DIGITS)
        histogram.record_ms(10.0, self.rate)
        return {"/": LabelInterval(requests=self.rate, histogram=histogram.encode())}

    def _upload(self, store: FakeStore, results: S3Location) -> None:
        if self.upload == "none":
            return
        started = self.start.start_at
        count = max(0, int((self.ended_at - started) * self.rate))
        builder = SummaryBuilder()
        for n in range(count):
            failed = bool(self.failing_every) and n % self.failing_every == 0
            builder.add(
                Sample(
                    start=started + n / self.rate,
                    elapsed_ms=10.0 + n % 5,
                    label="/",
                    code="500" if failed else "200",
                    success=not failed,
                    message="HTTP 500" if failed else "",
                )
            )
        self.requests_sent = count
        claimed = self.upload.split(":", 1)[1] if self.upload.startswith("forged:") else self.executor_id
        summary = builder.to_dict(
            run_id=self.start.run_id,
            executor_id=claimed,
            exit_code=self.exit_code,
            stop_reason="completed" if self.exit_code == 0 else "load tool failed (bzt exit code 1): crashed",
            timings={"start_at": started, "ended_at": self.ended_at},
            share=self._share(),
            region=self.region,
        )
        if self.upload == "wrong-schema":
            summary["schema"] = "salvo.summary/0"
        data = b"{not json" if self.upload == "corrupt" else json.dumps(summary).encode()
        store.upload_bytes(data, summary_location(results, self.start.run_id, self.executor_id))

    def _share(self) -> dict:
        """What a real executor reports of its share (salvo.executor.run.fleetplace), from the same functions."""
        index, size, load = fleet_index(self.start.fleet, self.executor_id), len(self.start.fleet), self.start.load
        slot = self.start.slot(self.executor_id)
        users = slot.count(load.users) if load.users is not None else None
        rows = slot.count(self.data_rows) if self.data_rows is not None else None
        return {"index": index, "size": size, "mode": load.mode.value, "users": users, "spawn_rate": None, "rows": rows}


class FakeControllerLink:
    """The controller's link (handshakes, one publish to all, receive) over a dict of FakeMembers."""

    def __init__(self, fleet: FakeFleet):
        self.fleet = fleet
        self.connected: set[str] = set()
        self.last_rtt: dict[str, float] = {}
        self.published: list = []
        self.closed = False
        self.clock_offsets: dict[str, float] = {}
        self.dropped: dict[str, int] = {}  # host -> frames that did not decode, as ControllerLink counts them

    def handshake_many(self, hosts: list[str], timeout: float, watch: bool = True) -> dict[str, Status | None]:
        self.fleet.clock.advance(0.01)
        answers = {}
        for host in hosts:
            member = self.fleet.members.get(host)
            answers[host] = member.status(self.fleet.clock.time()) if member else None
            if member:
                self.connected.add(host)
                self.last_rtt[host] = 0.001
        return answers

    def auth_failed(self, host: str) -> bool:
        return False

    def measure_clocks(self, hosts: list[str]) -> dict[str, ClockEstimate | None]:
        self.fleet.clock.advance(0.01)
        members = {host: self.fleet.members.get(host) for host in hosts}
        return {
            host: ClockEstimate(member.clock_offset, 0.0005, samples=5) if member and member.clock_answers else None
            for host, member in members.items()
        }

    def set_clocks(self, offsets: dict[str, ClockEstimate]) -> set[str]:
        self.clock_offsets = {host: estimate.offset for host, estimate in offsets.items()}
        return set(offsets)

    def probe_clock(self, host: str) -> bool:
        return host in self.connected

    def remove_executor(self, host: str) -> None:
        self.connected.discard(host)

    def wait_subscribed(self, count: int, timeout: float) -> int:
        return len(self.connected)

    def publish(self, message) -> None:
        self.published.append(message)
        for host in self.connected:
            self.fleet.members[host].on_command(message, self.fleet.clock.time())

    def receive(self, timeout: float) -> list[tuple[str, object]]:
        """What members sent, through the wire format: a member may send raw bytes (a malformed frame)."""
        self.fleet.clock.advance(timeout)
        now = self.fleet.clock.time()
        received = []
        for host in sorted(self.connected):
            for message in self.fleet.members[host].tick(now, self.fleet.store, self.fleet.results):
                try:
                    received.append((host, decode_status(message if isinstance(message, bytes) else encode(message))))
                except ProtocolError:
                    self.dropped[host] = self.dropped.get(host, 0) + 1
        return received

    def close(self) -> None:
        self.closed = True

    def of_type(self, kind: type) -> list:
        return [m for m in self.published if isinstance(m, kind)]


class FakeFleet:
    def __init__(
        self,
        members: list[FakeMember],
        results_uri: str,
        clock: FakeClock | None = None,
        store: FakeStore | None = None,
    ):
        self.members = {m.host: m for m in members}
        self.results = S3Location.parse(results_uri)
        self.clock = clock or FakeClock()
        self.store = store or FakeStore()
        self.links: list[FakeControllerLink] = []

    def link(self) -> FakeControllerLink:
        link = FakeControllerLink(self)
        self.links.append(link)
        return link

    def probe(self, addresses: list[str]) -> list[str]:
        return [a for a in addresses if a in self.members]

    def heartbeats(self) -> int:
        return sum(len(link.of_type(Heartbeat)) for link in self.links)
