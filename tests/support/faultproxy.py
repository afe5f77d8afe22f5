"""A real HTTP proxy in front of an S3 stand-in (moto) that injects faults, for retry tests.

Each request the proxy receives is, by a seeded draw (repeatable runs):

* answered `503 ServiceUnavailable` with S3's XML error, without being forwarded
  (`fault_rate`);
* dropped: the connection is reset without any answer, request not forwarded
  (`reset_rate`);
* forwarded, but only the first half of the answer's body relayed before the
  connection is closed (`truncate_rate`, or the next `truncate_next` answers that carry
  a body, for tests that need an exact count; answers without a body are relayed whole);
* otherwise forwarded verbatim — method, path and query, every header, the body
  (Content-Length or chunked, bytes untouched) — and the answer relayed.

With `unannounced_length` set, a GET answer's body is relayed without its
Content-Length, ended by closing the connection (HTTP/1.1 allows it): the client
cannot know the object's size before it has read it all.

Counters (`requests`, `faults`, `errors_503`, `resets`, `truncations`,
`forwarded`) and `seen` (method and path of every request) let tests assert that
faults really happened. The rates are plain attributes and may be changed while
the proxy runs.
"""

from __future__ import annotations

import http.client
import random
import socket
import struct
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit

FAULT_BODY = (
    b'<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>ServiceUnavailable</Code>'
    b"<Message>Please reduce your request rate. (injected by the test proxy)</Message></Error>"
)
BAD_GATEWAY_BODY = (
    b'<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>InternalError</Code>'
    b"<Message>the test proxy could not reach its upstream</Message></Error>"
)
# Headers about this one connection, not the request; never forwarded as they are.
HOP_BY_HOP = frozenset(
    {
        "connection",
        "keep-alive",
        "proxy-connection",
        "te",
        "upgrade",
        "expect",
        "transfer-encoding",
    }
)
NO_BODY_STATUSES = frozenset({204, 304})


class FaultProxy:
    def __init__(
        self,
        upstream: str,
        fault_rate: float = 0.0,
        *,
        reset_rate: float = 0.0,
        truncate_rate: float = 0.0,
        seed: int = 1234,
    ):
        target = urlsplit(upstream)
        self.upstream_host, self.upstream_port = target.hostname, target.port or 80
        self.fault_rate, self.reset_rate, self.truncate_rate = fault_rate, reset_rate, truncate_rate
        self._random = random.Random(seed)
        self._lock = threading.Lock()
        self.truncate_next = 0
        self.unannounced_length = False
        self.requests = self.faults = self.errors_503 = self.resets = self.truncations = self.forwarded = 0
        self.seen: list[tuple[str, str]] = []
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _handler_for(self))
        self._server.daemon_threads = True
        self._server.handle_error = lambda request, address: None  # clients hung up: expected here
        self.endpoint = f"http://127.0.0.1:{self._server.server_address[1]}"
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, name="fault-proxy", daemon=True
        )

    # --- lifecycle ----------------------------------------------------------------------

    def start(self) -> FaultProxy:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def __enter__(self) -> FaultProxy:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    # --- bookkeeping --------------------------------------------------------------------

    def _decide(self, method: str, path: str) -> str:
        """Count the request and draw its fate: "503", "reset", "truncate" or "forward"."""
        with self._lock:
            self.requests += 1
            self.seen.append((method, path))
            if self.truncate_next > 0:
                return "truncate"
            draw = self._random.random()
            if draw < self.fault_rate:
                return "503"
            if draw < self.fault_rate + self.reset_rate:
                return "reset"
            if draw < self.fault_rate + self.reset_rate + self.truncate_rate:
                return "truncate"
            return "forward"

    def _count(self, outcome: str) -> None:
        with self._lock:
            if outcome == "forward":
                self.forwarded += 1
                return
            self.faults += 1
            if outcome == "503":
                self.errors_503 += 1
            elif outcome == "reset":
                self.resets += 1
            else:
                self.truncations += 1
                self.forwarded += 1
                self.truncate_next = max(0, self.truncate_next - 1)


def _handler_for(proxy: FaultProxy) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"  # keep-alive: every answer carries its length
        disable_nagle_algorithm = True  # headers and body go out at once, not 40 ms apart

        def log_message(self, *args) -> None:
            pass

        def _read_body(self) -> tuple[bytes, bool]:
            """The request body exactly as sent, and whether it is chunked."""
            if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
                raw = bytearray()
                while True:
                    size_line = self.rfile.readline()
                    raw += size_line
                    size = int(size_line.split(b";")[0].strip() or b"0", 16)
                    if size == 0:  # trailers until the empty line
                        while True:
                            line = self.rfile.readline()
                            raw += line
                            if line in (b"\r\n", b"\n", b""):
                                return bytes(raw), True
                    raw += self.rfile.read(size + 2)  # data and its CRLF
            return self.rfile.read(int(self.headers.get("Content-Length") or 0)), False

        def _handle(self) -> None:
            body, chunked = self._read_body()
            fate = proxy._decide(self.command, self.path)
            if fate == "503":
                self._answer(503, "Service Unavailable", [("Content-Type", "application/xml")], FAULT_BODY)
            elif fate == "reset":
                self._reset()
            else:
                try:
                    status, reason, headers, payload = self._forward(body, chunked)
                except OSError:
                    self._answer(502, "Bad Gateway", [("Content-Type", "application/xml")], BAD_GATEWAY_BODY)
                    return
                truncate = fate == "truncate" and len(payload) >= 2
                self._answer(status, reason, headers, payload, truncate=truncate)
                fate = "truncate" if truncate else "forward"
            proxy._count(fate)

        def _forward(self, body: bytes, chunked: bool):
            upstream = http.client.HTTPConnection(proxy.upstream_host, proxy.upstream_port, timeout=60)
            try:
                upstream.putrequest(self.command, self.path, skip_host=True, skip_accept_encoding=True)
                for name, value in self.headers.items():
                    if name.lower() not in HOP_BY_HOP:
                        upstream.putheader(name, value)
                if chunked:
                    upstream.putheader("Transfer-Encoding", "chunked")
                upstream.endheaders(body)  # raw bytes (chunk framing included), sent with the headers
                response = upstream.getresponse()
                payload = response.read()
                return response.status, response.reason, response.getheaders(), payload
            finally:
                upstream.close()

        def _answer(self, status, reason, headers, payload: bytes, truncate: bool = False) -> None:
            self.send_response_only(status, reason)
            bodiless = self.command == "HEAD" or status in NO_BODY_STATUSES
            unannounced = proxy.unannounced_length and self.command == "GET" and not bodiless and not truncate
            for name, value in headers:
                lowered = name.lower()
                # A HEAD answer keeps the object's Content-Length; otherwise we send what we have.
                if lowered in HOP_BY_HOP or (lowered == "content-length" and not bodiless):
                    continue
                self.send_header(name, value)
            if not bodiless and not unannounced:
                self.send_header("Content-Length", str(len(payload)))
            if truncate or unannounced:
                self.send_header("Connection", "close")
            self.end_headers()
            if not bodiless:
                self.wfile.write(payload[: len(payload) // 2] if truncate else payload)
            if truncate or unannounced:
                self.wfile.flush()
                self.close_connection = True

        def _reset(self) -> None:
            """Close the connection with a TCP reset and no answer at all."""
            self.close_connection = True
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            self.connection.close()

        do_GET = do_PUT = do_POST = do_DELETE = do_HEAD = do_PATCH = do_OPTIONS = _handle

    return Handler
