"""Everything that can be known about a scenario before the start, from one parse of its config.

`check_scenario` reads the entry once (a bare locustfile gets the config Salvo
runs it with), resolves every execution once (`salvo.executor.scenario.executions`),
and checks: each bzt executor's tool is installed, each locust scenario has a
script or requests (in a form Salvo's locustfile writer runs), each locust
script exists, imports and defines users, each JMeter plan exists and parses
(`salvo.executor.scenario.jmxhosts`), and - given SALVO_TARGET_HOST - that every locust
and JMeter execution has a host to send load to. It also reads the files the
config's reporting modules write (`salvo.executor.scenario.reportfiles`) and AWS DLT's
taskCount (`salvo.executor.scenario.dlt`). The result is what the run plan is written
from, so what is checked is what runs. Every problem is a ScenarioError (exit 3)
with one line naming the entry and the culprit.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from salvo.common.errors import ScenarioError
from salvo.executor.scenario.dlt import task_counts
from salvo.executor.scenario.executions import Execution, resolve_executions
from salvo.executor.scenario.hosts import default_address, host_problem
from salvo.executor.scenario.jmeterplan import JMETER
from salvo.executor.scenario.jmxhosts import JmxPlan, hostless_message, parse_plan
from salvo.executor.scenario.locustprobe import UserClass, probe_locustfile
from salvo.executor.scenario.reportfiles import ReportOutput, parse_report_outputs
from salvo.executor.scenario.requestscript import GeneratedRequest, parse_requests
from salvo.executor.scenario.taurus import load_taurus_config
from salvo.executor.scenario.toolcheck import check_executors_installed, tool_paths
from salvo.executor.scenario.unpack import EntryKind, Scenario

__all__ = ["BARE_SCENARIO", "CheckedScenario", "check_scenario", "scenario_config"]

BARE_SCENARIO = "salvo"  # the scenario name a bare locustfile runs under


@dataclass
class CheckedScenario:
    scenario: Scenario
    config: dict[str, Any]  # as parsed; the planner writes the run's config from a copy of it
    executions: list[Execution]  # resolved from `config`
    users: dict[Path, list[UserClass]] = field(default_factory=dict)  # of each locust script
    rate_shapes: dict[Path, str] = field(default_factory=dict)  # the rate shape of each locust script with one
    plans: dict[Path, JmxPlan] = field(default_factory=dict)  # of each jmeter script (.jmx)
    requests: dict[int, list[GeneratedRequest]] = field(default_factory=dict)  # locust requests: by execution number
    report_outputs: list[ReportOutput] = field(default_factory=list)  # files of the config's reporting: modules
    task_counts: list[int] = field(default_factory=list)  # AWS DLT's taskCount of each execution that has one
    unaddressed: list[str] = field(default_factory=list)  # load with no host to go to, one line each
    tools_elsewhere: list[str] = field(default_factory=list)  # tools this machine lacks (require_tools=False)

    @property
    def config_dir(self) -> Path:
        """bzt's working folder: relative paths in the config resolve from here."""
        return self.scenario.entry.parent

    def require_hosts(self) -> None:
        """Refuse a run in which some locust or JMeter load would have no host to go to."""
        if self.unaddressed:
            raise ScenarioError(self.unaddressed[0])


def scenario_config(scenario: Scenario) -> dict[str, Any]:
    """The entry's Taurus config; for a bare locustfile, the one it runs under (the load profile comes later)."""
    if scenario.kind is EntryKind.LOCUSTFILE:
        return {
            "execution": [{"executor": "locust", "scenario": BARE_SCENARIO}],
            "scenarios": {BARE_SCENARIO: {"script": str(scenario.entry)}},
        }
    return load_taurus_config(scenario.entry)


def check_scenario(
    scenario: Scenario, *, target_host: str | None = None, require_tools: bool = True
) -> CheckedScenario:
    """Parse, resolve and check the scenario; raise ScenarioError for the first problem.

    Problems of hosts are collected in `unaddressed` rather than raised: only
    the executor knows SALVO_TARGET_HOST (`require_hosts` raises them). Without
    `require_tools` (`salvo upload` on a bastion), a load tool this machine lacks
    is noted in `tools_elsewhere`: the executor image that runs it must have it.
    """
    prefix = "" if scenario.kind is EntryKind.LOCUSTFILE else f"{_shown(scenario)}: "
    try:
        config = scenario_config(scenario)
        checked = CheckedScenario(scenario, config, resolve_executions(config, scenario.entry.parent))
        checked.report_outputs = parse_report_outputs(config)
        checked.task_counts = task_counts(config)
        locust = [e for e in checked.executions if e.executor == "locust"]
        for execution in locust:
            _check_locust_scenario(execution)
            if execution.script is None:  # Salvo writes its locustfile: salvo.executor.scenario.requestscript
                checked.requests[execution.number] = parse_requests(execution.scenario, execution.describe())
        try:
            check_executors_installed([e.executor for e in checked.executions], tool_paths(config))
        except ScenarioError as missing:
            if require_tools or str(missing).startswith("unknown"):
                raise
            checked.tools_elsewhere.append(str(missing).split(", which this image", 1)[0])
        for script in dict.fromkeys(e.script for e in locust if e.script is not None):
            if not script.is_file():
                raise ScenarioError(
                    f"locust script {_relative(script, checked.config_dir)} does not exist in the scenario"
                )
            facts = probe_locustfile(script, cwd=checked.config_dir)
            checked.users[script] = facts.users
            if facts.rate_shape is not None:
                checked.rate_shapes[script] = facts.rate_shape
        jmeter = [e for e in checked.executions if e.executor == JMETER]
        for script in dict.fromkeys(e.script for e in jmeter if e.script is not None):
            shown = _relative(script, checked.config_dir)
            if not script.is_file():
                raise ScenarioError(f"JMeter plan {shown} does not exist in the scenario")
            checked.plans[script] = parse_plan(script, shown)
    except ScenarioError as exc:
        raise ScenarioError(f"{prefix}{exc}") from None
    for execution in locust + jmeter:
        shown = _relative(execution.script, checked.config_dir) if execution.script else None
        if execution.executor == JMETER and execution.script is not None:
            plan = checked.plans[execution.script]
            problem = None if default_address(execution.scenario, target_host) else hostless_message(plan, shown)
        else:
            problem = host_problem(execution, checked.users.get(execution.script, []), target_host, shown)
        if problem and f"{prefix}{problem}" not in checked.unaddressed:
            checked.unaddressed.append(f"{prefix}{problem}")
    return checked


def _check_locust_scenario(execution: Execution) -> None:
    if execution.script_url:
        raise ScenarioError(
            f"script {execution.script_url!r} is a URL; put the script in a .zip bundle so it can be checked"
        )
    if execution.script is None and not execution.scenario.get("requests"):
        label = f"scenario {execution.name!r}" if execution.name else "its inline scenario"
        raise ScenarioError(f"execution item {execution.number} (locust): {label} has neither script: nor requests:")


def _relative(path: Path, folder: Path) -> str:
    return path.relative_to(folder).as_posix() if path.is_relative_to(folder) else str(path)


def _shown(scenario: Scenario) -> str:
    entry = scenario.entry
    return entry.relative_to(scenario.root).as_posix() if entry.is_relative_to(scenario.root) else entry.name
