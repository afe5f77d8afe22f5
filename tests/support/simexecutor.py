"""Simulated executors: real ZeroMQ sockets speaking Salvo's protocol, many per process, no load tool.

For fan-out tests and benchmarks of the controller at fleet sizes one machine
cannot run real executors for. Each simulated executor binds its SUB and ROUTER
on its own loopback address, answers handshakes, acknowledges the start, streams
interval stats and heartbeats for the run, uploads a small summary and says it
finished - or misbehaves as asked (slow, silent, wrong key, dies mid-run; the first
--hostile executors send --garbage-stats mid-run and patch their summary with
--summary-patch, a JSON object whose keys replace the summary's).

    python -m tests.support.simexecutor --first 127.1.0.1 --count 1000 \\
        --command-port 51000 --status-port 51001 --results-uri s3://b/results/ --record sims.json

prints `ready N` once every socket is bound, runs until SIGTERM or --lifetime,
and writes what each saw (start receipt time, start_at) to --record.
Not shipped in the images.
"""

from __future__ import annotations

import argparse
import ipaddress
import json
import logging
import multiprocessing
import queue
import signal
import sys
import threading
import time
import traceback
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import zmq
from zmq.auth.thread import ThreadAuthenticator

from salvo import __version__
from salvo.common import protocol
from salvo.common.errors import ProtocolError
from salvo.common.keys import ExecutorKeys, executor_keys_from_fleet_key, generate_keypair
from salvo.common.protocol import (
    ClockAck,
    ClockSet,
    ExecutorState,
    Finished,
    Heartbeat,
    Hello,
    IntervalStats,
    Start,
    StartAck,
    Status,
    Stop,
    TimeEcho,
    TimeProbe,
)

SHA = "5" * 64


@dataclass
class Behaviour:
    run_seconds: float = 2.0
    handshake_delay: float = 0.0  # answer Hello this much later (a slow executor)
    silent_after: float | None = None  # seconds after start_at: nothing more (a lost executor)
    dies_after: float | None = None  # seconds after start_at: close the sockets (a crashed executor)
    upload: bool = True
    garbage_stats: bytes | None = None  # a raw status frame sent once, with the first interval stats
    garbage_frames: tuple[bytes, ...] = ()  # more raw status frames, sent with the first interval stats too
    summary_patch: dict | None = None  # top-level keys replaced in the uploaded summary


@dataclass
class Sim:
    executor_id: str
    host: str
    command: zmq.Socket
    status: zmq.Socket
    behaviour: Behaviour
    state: ExecutorState = ExecutorState.ARMED
    watchers: set = field(default_factory=set)
    start: Start | None = None
    received_at: float | None = None
    stopped_at: float | None = None
    done: bool = False
    dead: bool = False
    next_beat: float = 0.0
    next_stats: float = 0.0
    delayed: list = field(default_factory=list)
    uploading: Future | None = None
    garbage_sent: bool = False


class SimFleet:
    def __init__(
        self,
        hosts: list[str],
        command_port: int,
        status_port: int,
        keys: ExecutorKeys | None,
        behaviour: Behaviour,
        wrong_key_every: int = 0,
        results_uri: str | None = None,
        hostile: Behaviour | None = None,
        hostile_count: int = 0,
    ):
        # Uploads run in a process of their own, started before any socket exists: threads here would share the
        # serving loop's GIL, and the uploads all starting at the run's end kept it from the loop (each zmq send
        # gives it up and waits up to the switch interval to get it back), so the executors last in the loop fell
        # silent for longer than SALVO_LIVENESS_TIMEOUT and were marked lost (docs/performance.md). A real
        # executor uploads on its own machine, beside its own heartbeats.
        self.uploads = Uploads(results_uri) if results_uri else None
        self.context = zmq.Context(io_threads=2)
        self.context.set(zmq.MAX_SOCKETS, 4 * len(hosts) + 64)
        self.results_uri = results_uri
        self._command_frame: tuple[bytes, object] = (b"", None)  # the last command frame and its decoding
        self.authenticator = None
        own = keys.own if keys is not None else None
        if keys is not None:
            self.authenticator = ThreadAuthenticator(self.context)
            self.authenticator.start()
            self.authenticator.configure_curve_callback("*", _Only(keys.controller_public))
        self.sims: list[Sim] = []
        self.said_running = False
        for n, host in enumerate(hosts):
            wrong = wrong_key_every and (n + 1) % wrong_key_every == 0
            pair = generate_keypair() if wrong else own
            command, status = self.context.socket(zmq.SUB), self.context.socket(zmq.ROUTER)
            status.setsockopt(zmq.ROUTER_MANDATORY, 1)
            for sock in (command, status):
                sock.linger = 0
                if pair is not None:
                    sock.curve_server = True
                    sock.curve_secretkey, sock.curve_publickey = pair.secret, pair.public
            command.setsockopt(zmq.SUBSCRIBE, b"")
            command.bind(f"tcp://{host}:{command_port}")
            status.bind(f"tcp://{host}:{status_port}")
            self.sims.append(
                Sim(
                    f"sim-{host}",
                    host,
                    command,
                    status,
                    hostile if hostile is not None and n < hostile_count else behaviour,
                )
            )
        self.by_socket = {s.command: s for s in self.sims} | {s.status: s for s in self.sims}
        self.stopping = threading.Event()

    def serve(self, lifetime: float) -> None:
        poller = zmq.Poller()
        for sock in self.by_socket:
            poller.register(sock, zmq.POLLIN)
        deadline = time.monotonic() + lifetime
        while not self.stopping.is_set() and time.monotonic() < deadline:
            for sock, _ in poller.poll(50):
                sim = self.by_socket[sock]
                if sim.dead:
                    continue
                if sock is sim.command:
                    self._command(sim, sock.recv())
                else:
                    peer, frame = sock.recv_multipart()[:2]
                    self._status(sim, peer, frame)
            if self.uploads is not None:
                self.uploads.collect()
            now = time.time()
            for sim in self.sims:
                if not sim.dead:
                    self._tick(sim, now)

    def _command(self, sim: Sim, frame: bytes) -> None:
        message = self._decode_command(frame)
        if message is None:
            return
        if isinstance(message, Start) and sim.start is None and sim.executor_id in message.fleet:
            sim.received_at = time.time()
            sim.start = message
            sim.state = ExecutorState.SCHEDULED
            sim.next_stats = message.start_at + 1
            self._push(sim, StartAck(executor_id=sim.executor_id, run_id=message.run_id, accepted=True))
        elif isinstance(message, Stop) and sim.start is not None and sim.stopped_at is None:
            sim.stopped_at = time.time()
        elif isinstance(message, Heartbeat):
            pass

    def _decode_command(self, frame: bytes):
        """A published frame decoded once for every executor of this process that receives it: a real executor
        decodes the start once on its own core, and decoding a large fleet's start once per simulated executor,
        in turn, made the last ones here receive it after start_at."""
        if frame != self._command_frame[0]:
            try:
                message = protocol.decode_command(frame)
            except ProtocolError:
                message = None
            self._command_frame = (frame, message)
        return self._command_frame[1]

    def _status(self, sim: Sim, peer: bytes, frame: bytes) -> None:
        received_at = time.time()
        try:
            message = protocol.decode_status(frame)
        except ProtocolError:
            return
        if isinstance(message, TimeProbe):  # the clock exchange, answered at once as an executor does
            self._send(
                sim,
                peer,
                TimeEcho(
                    executor_id=sim.executor_id,
                    probe_sent_at=message.sent_at,
                    received_at=received_at,
                    sent_at=time.time(),
                ),
            )
        elif isinstance(message, ClockSet):
            self._send(sim, peer, ClockAck(executor_id=sim.executor_id, offset=message.offset))
        elif isinstance(message, Hello):
            if message.watch:
                sim.watchers.add(peer)
            sim.delayed.append((time.time() + sim.behaviour.handshake_delay, peer))

    def _tick(self, sim: Sim, now: float) -> None:
        for due, peer in [d for d in sim.delayed if d[0] <= now]:
            sim.delayed.remove((due, peer))
            self._send(sim, peer, self._status_of(sim))
        start, b = sim.start, sim.behaviour
        if start is not None:
            since = now - start.start_at
            if b.dies_after is not None and since >= b.dies_after:
                sim.dead = True
                sim.command.close(0)
                sim.status.close(0)
                return
            if b.silent_after is not None and since >= b.silent_after:
                return
            if not sim.done:
                end = start.start_at + b.run_seconds
                if sim.stopped_at is not None:
                    end = min(end, sim.stopped_at)
                if now >= start.start_at and sim.state is not ExecutorState.RUNNING:
                    sim.state = ExecutorState.RUNNING
                    if not self.said_running:  # on stdout, for tests that act once the run is under way
                        self.said_running = True
                        print("running", flush=True)
                if now >= sim.next_stats and now < end:
                    self._push(
                        sim,
                        IntervalStats(
                            executor_id=sim.executor_id,
                            run_id=start.run_id,
                            interval_start=sim.next_stats - 1,
                            interval_end=sim.next_stats,
                            requests=10,
                        ),
                    )
                    if (b.garbage_stats is not None or b.garbage_frames) and not sim.garbage_sent:
                        sim.garbage_sent = True
                        frames = ([b.garbage_stats] if b.garbage_stats is not None else []) + list(b.garbage_frames)
                        for peer in list(sim.watchers):
                            for frame in frames:
                                sim.status.send_multipart([peer, frame], flags=zmq.NOBLOCK)
                    sim.next_stats += 1
                if now >= end and sim.uploading is None:
                    sim.state = ExecutorState.UPLOADING
                    sim.uploading = self._upload(sim, end)
                    self._push(sim, self._status_of(sim))
                if sim.uploading is not None and sim.uploading.done():
                    sim.done = True
                    sim.state = ExecutorState.DONE
                    self._push(sim, self._status_of(sim))
                    self._push(
                        sim, Finished(executor_id=sim.executor_id, run_id=start.run_id, exit_code=0, reason="completed")
                    )
        if now >= sim.next_beat and sim.watchers:
            sim.next_beat = now + 1.0
            self._push(sim, self._status_of(sim))

    def _status_of(self, sim: Sim) -> Status:
        return Status(
            executor_id=sim.executor_id,
            version=__version__,
            state=sim.state,
            scenario_sha256=SHA,
            run_id=sim.start.run_id if sim.start else None,
            armed_at=0.0,
            gated=True,
        )

    def _push(self, sim: Sim, message) -> None:
        for peer in list(sim.watchers):
            self._send(sim, peer, message)

    def _send(self, sim: Sim, peer: bytes, message) -> None:
        try:
            sim.status.send_multipart([peer, protocol.encode(message)], flags=zmq.NOBLOCK)
        except zmq.ZMQError:
            sim.watchers.discard(peer)

    def _upload(self, sim: Sim, ended: float) -> Future:
        """In the background: a slow S3 must not silence the heartbeats of a thousand executors."""
        if sim.behaviour.upload and self.uploads is not None:
            return self.uploads.submit(
                sim.start.run_id, sim.executor_id, sim.start.start_at, ended, sim.behaviour.summary_patch
            )
        done: Future = Future()
        done.set_result(None)
        return done

    def record(self) -> list[dict]:
        return [
            {
                "executor_id": s.executor_id,
                "received_at": s.received_at,
                "start_at": s.start.start_at if s.start else None,
                "sent_at": s.start.sent_at if s.start else None,
            }
            for s in self.sims
        ]

    def close(self) -> None:
        if self.uploads is not None:
            self.uploads.close()
        for sim in self.sims:
            if not sim.dead:
                sim.command.close(0)
                sim.status.close(0)
        if self.authenticator is not None:
            self.authenticator.stop()
        self.context.term()


UPLOAD_THREADS = 16  # uploads at once, in the upload process


class Uploads:
    """Summaries put to S3 by a process of its own (UPLOAD_THREADS at a time); each upload's Future is done once
    the upload ended, however it ended, when `collect()` hears of it."""

    def __init__(self, results_uri: str):
        context = multiprocessing.get_context("spawn")  # no copy of this process's sockets and threads
        self.requests, self.ended = context.Queue(), context.Queue()
        self.process = context.Process(
            target=_serve_uploads, args=(results_uri, self.requests, self.ended), daemon=True
        )
        self.process.start()
        if self.ended.get(timeout=120) != "ready":
            raise RuntimeError("the upload process did not start")
        self.waiting: dict[str, Future] = {}

    def submit(self, run_id: str, executor_id: str, started: float, ended: float, patch: dict | None) -> Future:
        future: Future = Future()
        self.waiting[executor_id] = future
        self.requests.put((run_id, executor_id, started, ended, patch))
        return future

    def collect(self) -> None:
        while self.waiting:
            try:
                executor_id = self.ended.get_nowait()
            except queue.Empty:
                return
            self.waiting.pop(executor_id).set_result(None)

    def close(self) -> None:
        self.requests.put(None)  # after the uploads asked for so far
        self.process.join(120)


def _serve_uploads(results_uri: str, requests, ended) -> None:
    from salvo.common.s3 import S3Store

    store = S3Store(retry_seconds=30)
    pool = ThreadPoolExecutor(UPLOAD_THREADS)
    ended.put("ready")

    def upload(run_id: str, executor_id: str, started: float, until: float, patch: dict | None) -> None:
        try:
            _put_summary(store, results_uri, run_id, executor_id, started, until, patch)
        except Exception:
            traceback.print_exc()
        finally:
            ended.put(executor_id)

    while (request := requests.get()) is not None:
        pool.submit(upload, *request)
    pool.shutdown(wait=True)


def _put_summary(
    store, results_uri: str, run_id: str, executor_id: str, started: float, ended: float, patch: dict | None
) -> None:
    """A small summary of the run, 10 requests a second, with `patch`'s keys replaced."""
    from salvo.common.layout import summary_location
    from salvo.common.s3location import S3Location
    from salvo.executor.results.aggregate import SummaryBuilder
    from salvo.executor.tool.samples import Sample

    builder = SummaryBuilder()
    for n in range(max(0, int((ended - started) * 10))):
        builder.add(Sample(start=started + n / 10, elapsed_ms=2.0, label="/", code="200"))
    summary = builder.to_dict(
        run_id=run_id,
        executor_id=executor_id,
        exit_code=0,
        stop_reason="completed",
        timings={"start_at": started, "ended_at": ended},
    )
    summary.update(patch or {})
    store.upload_bytes(
        json.dumps(summary).encode(), summary_location(S3Location.parse(results_uri), run_id, executor_id)
    )


class _Only:
    def __init__(self, public: bytes):
        self.public = public

    def callback(self, domain: str, key: bytes) -> bool:
        return key == self.public


def hosts_from(first: str, count: int) -> list[str]:
    start = int(ipaddress.IPv4Address(first))
    return [str(ipaddress.IPv4Address(start + n)) for n in range(count)]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--first", required=True)
    parser.add_argument("--count", type=int, required=True)
    parser.add_argument("--command-port", type=int, required=True)
    parser.add_argument("--status-port", type=int, required=True)
    parser.add_argument("--fleet-key", default=None)
    parser.add_argument("--run-seconds", type=float, default=2.0)
    parser.add_argument("--handshake-delay", type=float, default=0.0)
    parser.add_argument("--silent-after", type=float, default=None)
    parser.add_argument("--dies-after", type=float, default=None)
    parser.add_argument("--wrong-key-every", type=int, default=0)
    parser.add_argument("--results-uri", default=None)
    parser.add_argument("--lifetime", type=float, default=600.0)
    parser.add_argument("--record", default=None)
    parser.add_argument("--hostile", type=int, default=0, help="this many first executors misbehave as below")
    parser.add_argument("--garbage-stats", default=None, help="a raw status frame they send once mid-run")
    parser.add_argument("--summary-patch", default=None, help="a JSON object: keys replaced in their summary")
    parser.add_argument("--garbage-file", default=None, help="a JSON list of raw status frames (latin-1) they send")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    behaviour = Behaviour(
        run_seconds=args.run_seconds,
        handshake_delay=args.handshake_delay,
        silent_after=args.silent_after,
        dies_after=args.dies_after,
    )
    hostile = Behaviour(
        run_seconds=args.run_seconds,
        handshake_delay=args.handshake_delay,
        silent_after=args.silent_after,
        dies_after=args.dies_after,
        garbage_stats=args.garbage_stats.encode() if args.garbage_stats is not None else None,
        summary_patch=json.loads(args.summary_patch) if args.summary_patch else None,
        garbage_frames=tuple(frame.encode("latin-1") for frame in json.loads(Path(args.garbage_file).read_text()))
        if args.garbage_file
        else (),
    )
    keys = executor_keys_from_fleet_key(args.fleet_key) if args.fleet_key else None
    fleet = SimFleet(
        hosts_from(args.first, args.count),
        args.command_port,
        args.status_port,
        keys,
        behaviour,
        args.wrong_key_every,
        args.results_uri,
        hostile,
        args.hostile,
    )
    signal.signal(signal.SIGTERM, lambda *_: fleet.stopping.set())
    print(f"ready {len(fleet.sims)}", flush=True)
    try:
        fleet.serve(args.lifetime)
    finally:
        if args.record:
            with open(args.record, "w") as out:
                json.dump(fleet.record(), out)
        fleet.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
