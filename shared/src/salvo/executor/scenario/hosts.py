"""Where a locust or JMeter run sends its load, and the refusal when nothing says.

A locust request goes to, in locust's own order of precedence: the scenario's
`default-address` (bzt passes it as --host), which SALVO_TARGET_HOST supplies for
every scenario that names none; else the User class's `host`. An HTTP user with
none of these never sends a request - locust stops at the start with "You must
specify the base host" - and a locustfile or JMeter plan generated from
`requests:` with relative URLs fails every request (JMeter's to `http:/`).
Both are refused while arming instead. A JMeter plan of the user's own
(`script:`) is judged sampler by sampler: `salvo.executor.scenario.jmxhosts`.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from salvo.executor.scenario.executions import Execution, scenario_mapping
from salvo.executor.scenario.jmeterplan import JMETER
from salvo.executor.scenario.locustprobe import UserClass
from salvo.executor.scenario.taurus import section

__all__ = ["apply_target_host", "default_address", "host_problem"]

DEFAULT_ADDRESS = "default-address"
_ABSOLUTE_URL = re.compile(r"[a-z][a-z0-9+.-]*://", re.IGNORECASE)


def default_address(scenario: dict[str, Any], target_host: str | None) -> str | None:
    """The address bzt will give the scenario's requests: its own default-address, else SALVO_TARGET_HOST."""
    own = scenario.get(DEFAULT_ADDRESS)
    if own is not None and str(own).strip():
        return str(own)
    return target_host or None


def apply_target_host(config: dict[str, Any], executions: list[Execution], target_host: str | None) -> None:
    """Make `target_host` the default-address of every scenario of `config` that names none (in place).

    `executions` are those resolved from `config` (or from the config it is a copy of).
    """
    if not target_host:
        return
    scenarios = [scenario_mapping(config, execution) for execution in executions]
    scenarios += [s for s in section(config, "scenarios").values() if isinstance(s, dict)]
    for scenario in scenarios:
        if default_address(scenario, None) is None:
            scenario[DEFAULT_ADDRESS] = target_host


def host_problem(
    execution: Execution, users: list[UserClass], target_host: str | None, shown_script: str | None = None
) -> str | None:
    """Why this locust execution would send no load for want of a host; None when it has one.

    `users` are the User classes of its script (none when bzt generates the script).
    A jmeter execution is judged here only when bzt builds its plan from `requests:`.
    """
    if execution.executor not in ("locust", JMETER) or default_address(execution.scenario, target_host):
        return None
    if execution.executor == JMETER and (execution.script is not None or execution.script_url):
        return None  # the plan's own samplers: salvo.executor.scenario.jmxhosts
    if execution.script is not None:
        hostless = [user for user in users if user.http and not user.has_host]
        if not hostless:
            return None
        script = shown_script or Path(execution.script).name
        return (
            f"{script}: User class {hostless[0].name} has no host and nothing else names one: set `host` "
            "on the class, `default-address` in the Taurus scenario, or SALVO_TARGET_HOST"
        )
    relative = [url for url in _request_urls(execution.scenario) if not _ABSOLUTE_URL.match(url)]
    if not relative:
        return None
    return (
        f"{execution.describe()}: request URL {relative[0]!r} is relative and nothing names a host: set "
        "`default-address` in the Taurus scenario, or SALVO_TARGET_HOST"
    )


def _request_urls(scenario: dict[str, Any]) -> list[str]:
    """URLs of the requests bzt turns into a locustfile (it skips blocks such as transaction:)."""
    requests = scenario.get("requests")
    urls = []
    for request in requests if isinstance(requests, list) else []:
        url = request.get("url") if isinstance(request, dict) else request
        if isinstance(url, str):
            urls.append(url)
    return urls
