"""A small HTTP system-under-test for integration tests, run as its own process.

It timestamps every request's arrival with its own clock, so tests measure start
skew and request counts at the target rather than trusting executors' reports.

    GET  /__stats   -> {"total": n, "executors": {id: {"count": n, "first": t, "last": t}}}
    POST /__reset   -> clears the counters
    anything else   -> 200 "ok" (or the status given by ?status=NNN); counted

Requests are attributed to the X-Salvo-Executor header (else "-").
"""

from __future__ import annotations

import argparse
import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

EXECUTOR_HEADER = "X-Salvo-Executor"


class Counters:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.reset()

    def reset(self) -> None:
        self.total = 0
        self.executors: dict[str, dict[str, float]] = {}

    def record(self, executor: str, arrived: float) -> None:
        with self.lock:
            self.total += 1
            entry = self.executors.setdefault(executor, {"count": 0, "first": arrived, "last": arrived})
            entry["count"] += 1
            entry["first"] = min(entry["first"], arrived)
            entry["last"] = max(entry["last"], arrived)

    def snapshot(self) -> dict:
        with self.lock:
            return {"total": self.total, "executors": json.loads(json.dumps(self.executors))}


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # one small response must not wait for a delayed ACK
    counters: Counters

    def parse_request(self) -> bool:  # first moment the request line is complete
        self.arrived = time.time()
        return super().parse_request()

    def log_message(self, *args) -> None:  # quiet
        pass

    def _body(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        if length:
            self.rfile.read(length)

    def _reply(self, status: int, body: bytes, content_type: str = "text/plain") -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def _handle(self) -> None:
        self._body()
        url = urlsplit(self.path)
        if url.path == "/__stats":
            self._reply(200, json.dumps(self.counters.snapshot()).encode(), "application/json")
            return
        if url.path == "/__reset":
            self.counters.reset()
            self._reply(200, b"reset")
            return
        self.counters.record(self.headers.get(EXECUTOR_HEADER, "-"), self.arrived)
        status = int(parse_qs(url.query).get("status", ["200"])[0])
        self._reply(status, b"ok")

    do_GET = do_POST = do_PUT = do_DELETE = _handle


class Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 512  # listen() backlog: the default 5 drops SYNs when a fleet starts at once


def serve(host: str, port: int) -> None:
    Handler.counters = Counters()
    server = Server((host, port), Handler)
    print(f"listening {server.server_address[1]}", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0)
    args = parser.parse_args()
    serve(args.host, args.port)
