"""A locustfile written from a locust scenario's `requests:` list, so that Salvo can hold it at the start gate.

bzt writes such a locustfile itself only once it runs (too late for the gate:
the wrapper must load a file that exists while arming), and its generator
pastes string bodies between double quotes - a JSON body such as AWS DLT's
console sends becomes a Python syntax error. Salvo writes it instead, every
value a Python literal (`repr`), with bzt's meaning of each key:

    scenario:  requests, headers, think-time, timeout, keepalive, default-address
    request:   url, method, headers, body, label, think-time, timeout
               (or a bare URL string)

A form it would not run as written - a request key outside these (assert,
extract-*, body-file ...), a block (transaction, loop ...), a method other than
the seven HTTP ones - is refused while arming with one line (exit 3): bzt would
skip or mis-send it and the run would measure something else.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from salvo.common.errors import ScenarioError
from salvo.common.settings import parse_duration

__all__ = ["METHODS", "REQUEST_KEYS", "SCENARIO_KEYS", "GeneratedRequest", "locustfile_source", "parse_requests"]

METHODS = ("GET", "POST", "PUT", "DELETE", "PATCH", "HEAD", "OPTIONS")
REQUEST_KEYS = frozenset({"url", "method", "headers", "body", "label", "think-time", "timeout"})
SCENARIO_KEYS = frozenset({"requests", "headers", "think-time", "timeout", "keepalive", "default-address"})
DEFAULT_TIMEOUT = 30.0  # bzt's locust generator's


@dataclass(frozen=True)
class GeneratedRequest:
    method: str
    url: str
    name: str  # the label results are counted under: `label`, else the URL (as bzt labels them)
    headers: dict[str, str]
    body: str | dict[str, Any] | None  # a dict is sent form-encoded (as JMeter sends it) unless JSON is declared
    timeout: float
    think_time: float


def parse_requests(scenario: dict[str, Any], described: str) -> list[GeneratedRequest]:
    """The scenario's requests as Salvo will send them; ScenarioError naming `described` for any other form."""
    requests = scenario.get("requests")
    if not isinstance(requests, list) or not requests:
        raise ScenarioError(f"{described}: requests: must be a non-empty list")
    shared_headers = _headers(scenario.get("headers"), f"{described}: headers:")
    if scenario.get("keepalive", True) is False:
        shared_headers.setdefault("Connection", "close")  # bzt's meaning of keepalive: false
    timeout = _seconds(scenario.get("timeout"), DEFAULT_TIMEOUT, f"{described}: timeout:")
    think = _seconds(scenario.get("think-time"), 0.0, f"{described}: think-time:")
    parsed = []
    for number, request in enumerate(requests, 1):
        where = f"{described}, request {number}"
        if isinstance(request, str):
            request = {"url": request}
        if not isinstance(request, dict) or "url" not in request:
            block = next(iter(request), "?") if isinstance(request, dict) else type(request).__name__
            raise ScenarioError(
                f"{where}: {block!r} blocks are not run by locust's requests: use executor: jmeter, "
                "or write a locustfile"
            )
        unknown = sorted(set(request) - REQUEST_KEYS)
        if unknown:
            raise ScenarioError(
                f"{where}: {unknown[0]!r} is not run by locust's requests (it runs url, method, "
                "headers, body, label, think-time, timeout): use executor: jmeter, or write a locustfile"
            )
        url = request["url"]
        if not isinstance(url, str) or not url.strip():
            raise ScenarioError(f"{where}: url must be a non-empty string")
        method = str(request.get("method") or "GET").upper()
        if method not in METHODS:
            raise ScenarioError(f"{where}: method {request.get('method')!r} is not one of {', '.join(METHODS)}")
        label = request.get("label")
        body = request.get("body")
        if body is not None and not isinstance(body, (str, dict, list)):
            raise ScenarioError(f"{where}: body must be a string or a mapping, not a {type(body).__name__}")
        headers = {**shared_headers, **_headers(request.get("headers"), f"{where}: headers:")}
        if isinstance(body, list) or (isinstance(body, dict) and _declares_json(headers)):
            body = json.dumps(body)
        parsed.append(
            GeneratedRequest(
                method=method,
                url=url,
                name=str(label) if label not in (None, "") else url,
                headers=headers,
                body=None if body in ("", {}) else body,
                timeout=_seconds(request.get("timeout"), timeout, f"{where}: timeout:"),
                think_time=_seconds(request.get("think-time"), think, f"{where}: think-time:"),
            )
        )
    return parsed


def locustfile_source(requests: list[GeneratedRequest], host: str | None) -> str:
    """A locustfile whose one HttpUser sends `requests` in order, again and again, with no wait between rounds.

    `host` is the scenario's default-address (bzt also passes it as --host); without one, every URL is absolute.
    """
    lines = [
        "# Generated by Salvo from the scenario's requests: (salvo.executor.scenario.requestscript).",
        "from gevent import sleep",
        "from locust import HttpUser, constant, task",
        "",
        "",
        "class Requests(HttpUser):",
        f"    host = {host or ''!r}",
        "    wait_time = constant(0)",
        "",
        "    @task",
        "    def requests(self):",
    ]
    for request in requests:
        arguments = [repr(request.method), repr(request.url), f"name={request.name!r}", f"timeout={request.timeout!r}"]
        if request.headers:
            arguments.append(f"headers={request.headers!r}")
        if request.body is not None:
            arguments.append(f"data={request.body!r}")
        lines.append(f"        self.client.request({', '.join(arguments)})")
        if request.think_time:
            lines.append(f"        sleep({request.think_time!r})")
    return "\n".join(lines) + "\n"


def _headers(value: Any, where: str) -> dict[str, str]:
    if value is None or value == "":
        return {}
    if not isinstance(value, dict):
        raise ScenarioError(f"{where} must be a mapping of names to values, not a {type(value).__name__}")
    return {str(name): "" if header is None else str(header) for name, header in value.items()}


def _declares_json(headers: dict[str, str]) -> bool:
    return any(name.lower() == "content-type" and "json" in value.lower() for name, value in headers.items())


def _seconds(value: Any, default: float, where: str) -> float:
    if value is None or value == "":
        return default
    try:
        return parse_duration(value)
    except ValueError as exc:
        raise ScenarioError(f"{where} {value!r} is not a duration ({exc})") from None
