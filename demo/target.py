"""The rehearsal's system under test: a small asyncio HTTP server.

    GET  /        a page
    POST /upload  a multipart file upload (the body is read and counted)
    POST /reset   clears the counters (the controller's pre-start command calls it)
    GET  /stats   {"requests": n, "uploads": n, "bytes": n, "first_by_executor": {id: t}} since the last reset

A request naming its executor (header X-Salvo-Executor) has its arrival time kept
when it is that executor's first: the start spread as the target saw it.

Stdlib only, one event loop: light enough not to be the bottleneck on 2 cores.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import time

PAGE = b"<html><body><h1>Salvo demo shop</h1></body></html>"


class Counters:
    def __init__(self) -> None:
        self.reset()

    def reset(self) -> None:
        self.requests = self.uploads = self.bytes = 0
        self.first_by_executor: dict[str, float] = {}


COUNTERS = Counters()


async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while True:
            request_line = await reader.readline()
            arrived = time.time()
            if not request_line:
                break
            method, path, _ = request_line.decode("latin-1").split(" ", 2)
            headers = {}
            while (line := await reader.readline()) not in (b"\r\n", b""):
                name, _, value = line.decode("latin-1").partition(":")
                headers[name.strip().lower()] = value.strip()
            body = b""
            if "content-length" in headers:
                body = await reader.readexactly(int(headers["content-length"]))
            executor = headers.get("x-salvo-executor")
            if executor and path.split("?")[0] not in ("/stats", "/reset"):
                COUNTERS.first_by_executor.setdefault(executor[:64], arrived)
            status, payload, content_type = route(method, path.split("?")[0], body)
            writer.write(
                f"HTTP/1.1 {status}\r\nContent-Type: {content_type}\r\nContent-Length: {len(payload)}\r\n\r\n".encode()
                + payload
            )
            await writer.drain()
            if headers.get("connection", "").lower() == "close":
                break
    except (ConnectionError, asyncio.IncompleteReadError, ValueError):
        pass
    finally:
        writer.close()


def route(method: str, path: str, body: bytes) -> tuple[str, bytes, str]:
    if path == "/stats":
        return "200 OK", final_counts().encode(), "application/json"
    if path == "/reset" and method == "POST":
        COUNTERS.reset()
        return "200 OK", b"reset\n", "text/plain"
    COUNTERS.requests += 1
    if path == "/upload" and method == "POST":
        if b"Content-Disposition: form-data" not in body[:1024]:
            return "400 Bad Request", b"expected a multipart upload\n", "text/plain"
        COUNTERS.uploads += 1
        COUNTERS.bytes += len(body)
        return "201 Created", b"stored\n", "text/plain"
    if path == "/" and method == "GET":
        return "200 OK", PAGE, "text/html"
    return "404 Not Found", b"not found\n", "text/plain"


def final_counts() -> str:
    return json.dumps(
        {
            "requests": COUNTERS.requests,
            "uploads": COUNTERS.uploads,
            "bytes": COUNTERS.bytes,
            "first_by_executor": COUNTERS.first_by_executor,
        }
    )


async def main() -> None:
    port = int(os.environ.get("PORT", "8080"))
    host = os.environ.get("HOST", "0.0.0.0")  # noqa: S104 -- the demo target serves the compose network
    server = await asyncio.start_server(handle, host, port, backlog=1024)
    print(f"demo target listening on {port}", flush=True)
    stopped = asyncio.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        asyncio.get_running_loop().add_signal_handler(signum, stopped.set)
    async with server:
        await stopped.wait()
    # what the target served since the last reset, for comparing with Salvo's merged report
    print(f"demo target final counts: {final_counts()}", flush=True)


if __name__ == "__main__":
    asyncio.run(main())
