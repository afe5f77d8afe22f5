"""The bzt (Taurus) configuration Salvo runs: the user's scenario, checked, plus Salvo's overrides.

`prepare_run` is the executor's one call while arming: it checks the scenario
(`salvo.executor.scenario.checks`, one parse, one resolution), then writes the run's
config from that same parse. SALVO_TARGET_HOST becomes the default-address of
every scenario that names none; a JMeter plan of the user's whose HTTP samplers
name no host runs as a copy that gives them that address (bzt would not: it
applies default-address to the plans it builds from `requests:` only).

A run is *gated* when every execution is locust or every one is JMeter:
each locust script - or the locustfile Salvo writes from a scenario's
`requests:` (`salvo.executor.scenario.requestscript`) - is swapped for a generated
wrapper that loads `salvo.executor.tool.locust_plugin` first; JMeter (its plan the
user's or bzt's, built from `requests:`) loads Salvo's gate at start-up
(`salvo.executor.scenario.jmeterplan`). bzt is launched while arming and the tools are
held at the gate until `start_at`. Any other executor (apiritif, distributed
locust ...) cannot be held there: bzt is launched at `start_at` and its
lateness is measured and reported.

Output files of the scenario's own `reporting:` modules are written into the
run's artifacts folder, and uploaded with it (`salvo.executor.scenario.reportfiles`);
AWS DLT's taskCount is taken out and checked at the start (`salvo.executor.scenario.dlt`).
"""

from __future__ import annotations

import copy
import logging
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import yaml

from salvo.common.errors import ScenarioError
from salvo.common.fleetload import Slot
from salvo.executor.scenario.checks import CheckedScenario, check_scenario
from salvo.executor.scenario.dlt import drop_task_counts
from salvo.executor.scenario.executions import Execution, execution_items, scenario_mapping
from salvo.executor.scenario.hosts import apply_target_host, default_address
from salvo.executor.scenario.jmeterplan import JMETER, gate_jmeter_executions, jmeter_overrides, locate_jmeter
from salvo.executor.scenario.jmxhosts import with_host
from salvo.executor.scenario.reportfiles import ReportOutput, redirect_report_outputs
from salvo.executor.scenario.requestscript import locustfile_source
from salvo.executor.scenario.toolcheck import tool_paths
from salvo.executor.scenario.unpack import EntryKind, Scenario
from salvo.executor.tool.locust_plugin import wrapper_source

__all__ = ["LoadProfile", "RunPlan", "overrides_config", "prepare_run", "write_fleet_share", "write_plan"]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class LoadProfile:
    """How a bare locustfile is driven (SALVO_USERS, SALVO_SPAWN_RATE / SALVO_RAMP_UP, ...)."""

    users: int
    duration: float
    spawn_rate: float | None = None
    ramp_up: float | None = None
    target_host: str | None = None  # also the default-address of Taurus scenarios that name none

    @property
    def ramp_up_seconds(self) -> float:
        if self.ramp_up is not None:
            return self.ramp_up
        if self.spawn_rate:
            return self.users / self.spawn_rate
        return 0.0


@dataclass
class RunPlan:
    configs: list[Path]  # passed to bzt in this order
    cwd: Path  # bzt's working directory: relative paths in the scenario resolve from here
    gates: int  # locust processes that will report at the gate; 0 = not gated
    executors: list[str] = field(default_factory=list)
    concurrencies: list[int | None] = field(default_factory=list)  # users of each execution, where a number
    tools: dict[str, str | None] = field(default_factory=dict)  # versions of tools found outside Python (JMeter)
    task_counts: list[int] = field(default_factory=list)  # AWS DLT's taskCount of each execution that has one
    report_outputs: list[ReportOutput] = field(default_factory=list)  # the scenario's reporting files, as moved
    rate_shapes: list[str] = field(default_factory=list)  # its locustfiles' rate shapes (salvo.rate.RateShape)

    @property
    def gated(self) -> bool:
        return self.gates > 0

    @property
    def locust_stats(self) -> bool:
        """Results come from Salvo's recorder inside gated locust processes, else from the tool's kpi*.jtl."""
        return self.gated and all(executor == "locust" for executor in self.executors)

    @property
    def jtl_timestamps_are_starts(self) -> bool:
        """JMeter's kpi.jtl stamps a request when it began (sampleresult.timestamp.start), bzt's when it ended."""
        return JMETER in self.executors

    @property
    def gate_needs_a_path(self) -> bool:
        """JMeter (Java) cannot reach an abstract Unix socket: its gate listens on a file."""
        return JMETER in self.executors


def prepare_run(scenario: Scenario, profile: LoadProfile, artifacts_dir: Path, plan_dir: Path) -> RunPlan:
    """Check everything that can be known before the start, write bzt's config files into `plan_dir`.

    Raises ScenarioError (exit 3) with one line naming the file and the reason.
    """
    checked = check_scenario(scenario, target_host=profile.target_host)
    checked.require_hosts()
    return write_plan(checked, profile, artifacts_dir, plan_dir)


def write_plan(checked: CheckedScenario, profile: LoadProfile, artifacts_dir: Path, plan_dir: Path) -> RunPlan:
    """The run's config files, from the checked parse, and how to launch them."""
    plan_dir.mkdir(parents=True, exist_ok=True)
    config = copy.deepcopy(checked.config)
    drop_task_counts(config)
    if checked.scenario.kind is EntryKind.LOCUSTFILE:
        execution_items(config)[0].update(_profile_settings(profile))
    apply_target_host(config, checked.executions, profile.target_host)
    _host_jmeter_plans(config, checked, profile.target_host)
    redirect_report_outputs(config, checked.report_outputs, artifacts_dir)
    for output in checked.report_outputs:
        log.info(
            "reporting %s %s: %s is written as %s in the run's artifacts, uploaded with its results",
            output.module,
            output.key,
            output.given,
            output.name,
        )
    executions = _write_request_scripts(config, checked, plan_dir)
    concurrencies = [_count(item.get("concurrency")) for item in execution_items(config)]
    settings = overrides_config(artifacts_dir)
    gates = 0
    tools: dict[str, str | None] = {}
    if _gateable(executions):
        gates = _gate_locust_scripts(config, executions, plan_dir)
        if any(e.executor == JMETER for e in checked.executions):
            install = locate_jmeter(tool_paths(config).get(JMETER))
            tools[JMETER] = install.version
            totals = gate_jmeter_executions(execution_items(config), checked.executions)
            settings["modules"].update(jmeter_overrides(install, totals)["modules"])
    run_config = plan_dir / "scenario.yml"
    run_config.write_text(yaml.safe_dump(config, sort_keys=False))
    overrides = plan_dir / "salvo-overrides.yml"
    overrides.write_text(yaml.safe_dump(settings, sort_keys=False))
    return RunPlan(
        configs=[run_config, overrides],
        cwd=checked.config_dir,
        gates=gates,
        executors=[e.executor for e in checked.executions],
        concurrencies=concurrencies,
        tools=tools,
        task_counts=checked.task_counts,
        report_outputs=checked.report_outputs,
        rate_shapes=list(checked.rate_shapes.values()),
    )


def _write_request_scripts(config: dict[str, Any], checked: CheckedScenario, plan_dir: Path) -> list[Execution]:
    """Write the locustfile of every locust execution that has requests: instead of a script, point its
    scenario at it; the executions as they now run. Called after the target host is applied: the file's
    User class gets the scenario's default-address, as bzt's --host."""
    executions = []
    for execution in checked.executions:
        requests = checked.requests.get(execution.number)
        if requests is None:
            executions.append(execution)
            continue
        scenario = scenario_mapping(config, execution)
        script = plan_dir / f"salvo_requests_{execution.number}.py"
        script.write_text(locustfile_source(requests, default_address(scenario, None)))
        scenario["script"] = str(script)
        executions.append(replace(execution, script=script))
    return executions


def _host_jmeter_plans(config: dict[str, Any], checked: CheckedScenario, target_host: str | None) -> None:
    """Point every jmeter execution whose plan has hostless HTTP samplers at a copy of the plan that sends
    them to the scenario's default-address, else SALVO_TARGET_HOST (one copy per plan and address).

    The copy is written beside the plan, never over it: JMeter resolves a plan's relative paths (CSV
    data, upload files) from the plan's folder, so a copy elsewhere would lose them.
    """
    copies: dict[tuple[Path, str], Path] = {}
    for execution in checked.executions:
        plan = checked.plans.get(execution.script) if execution.executor == JMETER and execution.script else None
        address = default_address(execution.scenario, target_host) if plan is not None else None
        if plan is None or not address or not plan.hostless:
            continue
        key = (plan.path, address)
        if key not in copies:
            shown = (
                plan.path.relative_to(checked.config_dir).as_posix()
                if plan.path.is_relative_to(checked.config_dir)
                else plan.path.name
            )
            hosted = with_host(plan, address, shown)
            number = len(copies)
            while (target := plan.path.with_name(f"salvo_host_{number}_{plan.path.name}")).exists():
                number += 1
            target.write_bytes(hosted.text)
            copies[key] = target
            log.info(
                "%s: %d HTTP sampler(s) name no host: they send to %s (run as %s)",
                shown,
                hosted.samplers,
                address,
                target.name,
            )
        scenario_mapping(config, execution)["script"] = str(copies[key])


def write_fleet_share(plan: RunPlan, slot: Slot) -> None:
    """Fleet mode for a run bzt launches at start_at: each execution's concurrency and throughput in the
    run's config become this executor's share of them (gated locust processes take theirs at the gate)."""
    run_config = plan.configs[0]
    config = yaml.safe_load(run_config.read_text())
    for item in execution_items(config):
        for key in ("concurrency", "throughput"):
            total = _count(item.get(key))
            if total is not None:
                item[key] = slot.count(total)
            elif isinstance(item.get(key), float):
                item[key] = slot.rate(item[key])
    run_config.write_text(yaml.safe_dump(config, sort_keys=False))


def _count(value: Any) -> int | None:
    """A Taurus load number as an int (bzt accepts 10 and "10"); None for anything else (e.g. "${USERS}")."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.strip().isdigit():
        return int(value.strip())
    return None


def overrides_config(artifacts_dir: Path) -> dict[str, Any]:
    """Settings Salvo always imposes: no update check, no console, results where Salvo reads them.

    bzt's default local monitoring service is dropped: once a second it lists every connection of
    the host (psutil's netstat), CPU that the load generator beside it needs - and a SIGTERM landing
    inside that call is swallowed by it."""
    return {
        "settings": {
            "check-updates": False,
            "artifacts-dir": str(artifacts_dir),
        },
        "~services": [],
        "modules": {"console": {"disable": True}},
        "reporting": [
            {
                "module": "final-stats",
                "summary": True,
                "percentiles": True,
                "dump-xml": str(artifacts_dir / "final-stats.xml"),
                "dump-csv": str(artifacts_dir / "final-stats.csv"),
            }
        ],
    }


def _profile_settings(profile: LoadProfile) -> dict[str, Any]:
    settings: dict[str, Any] = {"concurrency": profile.users, "hold-for": f"{profile.duration:g}s"}
    if profile.ramp_up_seconds:
        settings["ramp-up"] = f"{profile.ramp_up_seconds:g}s"
    return settings


def _gateable(executions: list[Execution]) -> bool:
    """A locust process Salvo's wrapper runs in, or a JMeter with Salvo's gate, can be held; distributed
    locust cannot. One config holds one of the two tools: their results are read in different ways."""
    locust = [e.executor == "locust" and e.script is not None and not e.item.get("master") for e in executions]
    jmeter = [e.executor == JMETER for e in executions]
    if any(locust) and any(jmeter):
        raise ScenarioError(
            "this Taurus config mixes locust and jmeter executions: Salvo runs one tool per "
            "scenario; split it into two scenarios (two fleets)"
        )
    return bool(executions) and (all(locust) or all(jmeter))


def _gate_locust_scripts(config: dict[str, Any], executions: list[Execution], plan_dir: Path) -> int:
    """Point every locust execution's scenario at a wrapper of its script (one per script); the gates to
    expect: one per execution, as bzt starts one load tool process per execution."""
    wrappers: dict[Path, str] = {}
    for execution in executions:
        if execution.executor != "locust":
            continue
        script = execution.script.resolve()
        if script not in wrappers:
            wrapper = plan_dir / f"salvo_gate_{len(wrappers)}_{script.stem}.py"
            wrapper.write_text(wrapper_source(script))
            wrappers[script] = str(wrapper)
        scenario_mapping(config, execution)["script"] = wrappers[script]
    return len(executions)  # bzt starts one locust process per execution
