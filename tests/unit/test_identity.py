"""Executor identity: explicit id, else the ECS task id (metadata endpoint v4), else the hostname."""

from __future__ import annotations

import json
import socket
import threading
from http.server import BaseHTTPRequestHandler, HTTPServer

import pytest

from salvo.executor.identity import ECS_METADATA_ENV, executor_id


@pytest.fixture
def ecs_metadata(monkeypatch):
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):
            body = json.dumps({"TaskARN": "arn:aws:ecs:eu-west-1:123456789012:task/load/0f1e2d3c4b5a69788796a5b4c3d2e1f0"})
            self.send_response(200 if self.path == "/v4/abc/task" else 404)
            self.end_headers()
            self.wfile.write(body.encode())

        def log_message(self, *args):
            pass

    server = HTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    monkeypatch.setenv(ECS_METADATA_ENV, f"http://127.0.0.1:{server.server_address[1]}/v4/abc")
    yield
    server.shutdown()


def test_explicit_id_wins(ecs_metadata):
    assert executor_id("exec-7") == "exec-7"


def test_ecs_task_id_from_metadata(ecs_metadata):
    assert executor_id(None) == "0f1e2d3c4b5a69788796a5b4c3d2e1f0"


def test_hostname_outside_ecs(monkeypatch):
    monkeypatch.delenv(ECS_METADATA_ENV, raising=False)
    assert executor_id(None) == socket.gethostname().replace("_", "_")


def test_unreachable_metadata_falls_back_to_hostname(monkeypatch):
    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]
    monkeypatch.setenv(ECS_METADATA_ENV, f"http://127.0.0.1:{port}/v4/x")
    assert executor_id(None, timeout=1) == socket.gethostname()
