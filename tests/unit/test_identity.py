"""Executor identity: explicit id, else the ECS task id (metadata endpoint v4), else the hostname."""

from __future__ import annotations

import json
import socket
import threading
from http.server import BaseHTTPRequestHandler, HTTPServer

import pytest

from salvo.executor.presence.identity import ECS_METADATA_ENV, executor_id
from salvo.executor.settings import ExecutorSettings

REQUIRED = {"scenario_uri": "s3://bucket/s.py", "results_uri": "s3://bucket/results/"}


def settings(**values) -> ExecutorSettings:
    return ExecutorSettings.model_construct(**{**_defaults(), **values})


def _defaults() -> dict:
    return {
        name: field.default for name, field in ExecutorSettings.model_fields.items() if not field.is_required()
    } | REQUIRED


@pytest.fixture
def ecs_metadata(monkeypatch):
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):
            body = json.dumps(
                {"TaskARN": "arn:aws:ecs:eu-west-1:123456789012:task/load/0f1e2d3c4b5a69788796a5b4c3d2e1f0"}
            )
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
    assert executor_id(settings(executor_id="exec-7")) == "exec-7"


def test_ecs_task_id_from_metadata(ecs_metadata):
    assert executor_id(settings()) == "0f1e2d3c4b5a69788796a5b4c3d2e1f0"


def test_hostname_outside_ecs(monkeypatch):
    monkeypatch.delenv(ECS_METADATA_ENV, raising=False)
    assert executor_id(settings()) == socket.gethostname()


def test_default_ids_of_two_executors_on_one_host_differ(monkeypatch):
    monkeypatch.delenv(ECS_METADATA_ENV, raising=False)
    first = executor_id(settings(bind_host="127.0.1.10"))
    second = executor_id(settings(bind_host="127.0.1.11"))
    third = executor_id(settings(command_port=50010, status_port=50011))
    assert len({first, second, third, executor_id(settings())}) == 4
    assert first == f"{socket.gethostname()}-127.0.1.10"


def test_unreachable_metadata_falls_back_to_hostname(monkeypatch):
    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]
    monkeypatch.setenv(ECS_METADATA_ENV, f"http://127.0.0.1:{port}/v4/x")
    assert executor_id(settings(), timeout=1) == socket.gethostname()
