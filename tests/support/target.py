"""A small HTTP system-under-test for integration tests, run as its own process.

It timestamps every request's arrival with its own clock, so tests measure start
skew and request counts at the target rather than trusting executors' reports.
One asyncio loop, no thread per connection: a burst of first requests from a
whole fleet is stamped as it arrives, not as threads get scheduled.

    GET  /__stats   -> {"total": n, "executors": {id: {"count": n, "first": t, "last": t}},
                        "paths": {path: n}, "arrivals": {id: [t, ...]}}
    POST /__reset   -> clears the counters (and any stall)
    POST /__stall?at=T&seconds=S -> from epoch time T, for S seconds, hold every answer until the stall ends
                       (arrivals are still stamped as they come): a system that stops responding for a while
    anything else   -> 200 "ok" (or the status given by ?status=NNN); counted

Requests are attributed to the X-Salvo-Executor header (else "-"). Paths are
counted (the first MAX_PATHS distinct ones); requests under /timed/ also keep
their arrival time, for tests that look at the load's shape over time.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time
from urllib.parse import parse_qs, urlsplit

EXECUTOR_HEADER = "x-salvo-executor"
MAX_PATHS = 10_000
REASONS = {200: "OK", 404: "Not Found", 500: "Internal Server Error", 503: "Service Unavailable"}


class Counters:
    def __init__(self) -> None:
        self.reset()

    def reset(self) -> None:
        self.total = 0
        self.executors: dict[str, dict[str, float]] = {}
        self.paths: dict[str, int] = {}
        self.arrivals: dict[str, list[float]] = {}

    def record(self, executor: str, arrived: float, path: str = "/") -> None:
        self.total += 1
        if path in self.paths or len(self.paths) < MAX_PATHS:
            self.paths[path] = self.paths.get(path, 0) + 1
        if path.startswith("/timed/"):
            self.arrivals.setdefault(executor, []).append(arrived)
        entry = self.executors.setdefault(executor, {"count": 0, "first": arrived, "last": arrived})
        entry["count"] += 1
        entry["first"] = min(entry["first"], arrived)
        entry["last"] = max(entry["last"], arrived)

    def snapshot(self) -> dict:
        return {"total": self.total, "executors": self.executors, "paths": self.paths, "arrivals": self.arrivals}


COUNTERS = Counters()
STALL = [0.0, 0.0]  # [from, until] epoch seconds: answers to requests arriving inside are held until `until`


async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while True:
            request_line = await reader.readline()
            arrived = time.time()  # first moment the request line is complete
            if not request_line:
                break
            method, target, _ = request_line.decode("latin-1").split(" ", 2)
            headers = {}
            while (line := await reader.readline()) not in (b"\r\n", b""):
                name, _, value = line.decode("latin-1").partition(":")
                headers[name.strip().lower()] = value.strip()
            if headers.get("content-length"):
                await reader.readexactly(int(headers["content-length"]))
            status, body, content_type = respond(method, target, headers, arrived)
            if STALL[0] <= arrived < STALL[1]:
                await asyncio.sleep(STALL[1] - time.time())
            writer.write(
                f"HTTP/1.1 {status} {REASONS.get(status, 'Status')}\r\nContent-Type: {content_type}\r\n"
                f"Content-Length: {len(body)}\r\n\r\n".encode()
                + body
            )
            await writer.drain()
            if headers.get("connection", "").lower() == "close":
                break
    except (ConnectionError, asyncio.IncompleteReadError, ValueError):
        pass
    finally:
        writer.close()


def respond(method: str, target: str, headers: dict[str, str], arrived: float) -> tuple[int, bytes, str]:
    url = urlsplit(target)
    if url.path == "/__stats":
        return 200, json.dumps(COUNTERS.snapshot()).encode(), "application/json"
    if url.path == "/__reset":
        COUNTERS.reset()
        STALL[:] = [0.0, 0.0]
        return 200, b"reset", "text/plain"
    if url.path == "/__stall":
        query = parse_qs(url.query)
        begin = float(query["at"][0])
        STALL[:] = [begin, begin + float(query["seconds"][0])]
        return 200, b"stall set", "text/plain"
    COUNTERS.record(headers.get(EXECUTOR_HEADER, "-"), arrived, url.path)
    return int(parse_qs(url.query).get("status", ["200"])[0]), b"ok", "text/plain"


async def serve(host: str, port: int) -> None:
    server = await asyncio.start_server(handle, host, port, backlog=1024)
    print(f"listening {server.sockets[0].getsockname()[1]}", flush=True)
    async with server:
        await server.serve_forever()


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0)
    args = parser.parse_args()
    asyncio.run(serve(args.host, args.port))
