"""test.json byte for byte as AWS Distributed Load Testing writes it to S3.

DLT's console (webui CreateTestScenarioPage) posts `testScenario`; its API
(api-services lib/scenarios createTest) normalises ramp-up and hold-for, replaces
`reporting` with its final-stats block, and writeTestScenarioToS3 adds the
region's `taskCount` and `concurrency` to execution[0] before JSON.stringify
(compact, insertion order, undefined keys dropped - the simple type has no
executor, so bzt runs JMeter).
"""

from __future__ import annotations

import json
from typing import Any

DLT_REPORTING = [
    {
        "module": "final-stats",
        "summary": True,
        "percentiles": True,
        "summary-labels": True,
        "test-duration": True,
        "dump-xml": "/tmp/artifacts/results.xml",
    }
]


def dlt_test_json(
    name: str,
    *,
    concurrency: int,
    task_count: int,
    hold_for: str = "3s",
    ramp_up: str = "0s",
    executor: str | None = None,
    script: str | None = None,
    requests: list[dict[str, Any]] | None = None,
) -> bytes:
    """A simple HTTP endpoint test (`requests`, no executor) or a script test (`executor` and `script`)."""
    execution: dict[str, Any] = {"ramp-up": ramp_up, "hold-for": hold_for, "scenario": name}
    if executor is not None:
        execution["executor"] = executor
    scenario = {"script": script} if script is not None else {"requests": requests}
    test_scenario: dict[str, Any] = {"execution": [execution], "scenarios": {name: scenario}}
    test_scenario["reporting"] = DLT_REPORTING
    execution["taskCount"] = task_count
    execution["concurrency"] = concurrency
    return json.dumps(test_scenario, separators=(",", ":"), ensure_ascii=False).encode()


def dlt_request(
    url: str, method: str = "GET", headers: dict[str, str] | None = None, body: str | None = None
) -> dict[str, Any]:
    """One request as the console writes it: headers always ({} when none), body only when given."""
    request: dict[str, Any] = {"url": url, "method": method, "headers": headers or {}}
    if body:
        request["body"] = body
    return request
