"""The bzt (Taurus) configuration Salvo runs: the user's scenario plus Salvo's overrides.

A run is *gated* when every execution is a locust script: each script is swapped
for a generated wrapper that loads `salvo.executor.locust_plugin` first, so bzt can be
launched while arming and held at the gate until `start_at`. Any other executor
(JMeter, apiritif, locust with bzt-generated `requests:` ...) cannot be held
there: bzt is launched at `start_at` and its lateness is measured and reported.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from salvo.executor.locust_plugin import wrapper_source
from salvo.executor.scenario import EntryKind, Scenario, bzt_executors, load_taurus_config

@dataclass(frozen=True)
class LoadProfile:
    """How a bare locustfile is driven (SALVO_USERS, SALVO_SPAWN_RATE / SALVO_RAMP_UP, ...)."""

    users: int
    duration: float
    spawn_rate: float | None = None
    ramp_up: float | None = None
    target_host: str | None = None

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

    @property
    def gated(self) -> bool:
        return self.gates > 0


def plan_run(scenario: Scenario, profile: LoadProfile, artifacts_dir: Path, plan_dir: Path) -> RunPlan:
    """Write the config files for one run into `plan_dir` and describe how to launch them."""
    plan_dir.mkdir(parents=True, exist_ok=True)
    if scenario.kind is EntryKind.LOCUSTFILE:
        config = locustfile_config(scenario.entry, profile)
    else:
        config = load_taurus_config(scenario.entry)
    config, gates, executors = _gate_locust_scripts(config, scenario.entry.parent, plan_dir)
    run_config = plan_dir / "scenario.yml"
    run_config.write_text(yaml.safe_dump(config, sort_keys=False))
    overrides = plan_dir / "salvo-overrides.yml"
    overrides.write_text(yaml.safe_dump(overrides_config(artifacts_dir), sort_keys=False))
    return RunPlan(configs=[run_config, overrides], cwd=scenario.entry.parent, gates=gates, executors=executors)


def locustfile_config(locustfile: Path, profile: LoadProfile) -> dict[str, Any]:
    execution: dict[str, Any] = {
        "executor": "locust",
        "concurrency": profile.users,
        "hold-for": f"{profile.duration:g}s",
        "scenario": "salvo",
    }
    if profile.ramp_up_seconds:
        execution["ramp-up"] = f"{profile.ramp_up_seconds:g}s"
    scenario: dict[str, Any] = {"script": str(locustfile)}
    if profile.target_host:
        scenario["default-address"] = profile.target_host
    return {"execution": [execution], "scenarios": {"salvo": scenario}}


def overrides_config(artifacts_dir: Path) -> dict[str, Any]:
    """Settings Salvo always imposes: no update check, no console, results where Salvo reads them."""
    return {
        "settings": {
            "check-updates": False,
            "artifacts-dir": str(artifacts_dir),
        },
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


def _executions(config: dict[str, Any]) -> list[dict[str, Any]]:
    execution = config.get("execution") or []
    return [execution] if isinstance(execution, dict) else list(execution)


def _gate_locust_scripts(
    config: dict[str, Any], config_dir: Path, plan_dir: Path
) -> tuple[dict[str, Any], int, list[str]]:
    config = copy.deepcopy(config)
    executions = _executions(config)
    executors = bzt_executors(config)
    scenarios = config.get("scenarios") or {}
    gateable = bool(executions) and all(
        name == "locust" and not e.get("master") and _scenario_of(e, scenarios).get("script")
        for name, e in zip(executors, executions)
    )
    if not gateable:
        return config, 0, executors
    wrapped: dict[int, str] = {}
    for index, execution in enumerate(executions):
        scenario = _scenario_of(execution, scenarios)
        if id(scenario) not in wrapped:
            script = Path(scenario["script"]).expanduser()
            if not script.is_absolute():
                script = config_dir / script
            wrapper = plan_dir / f"salvo_gate_{index}_{script.stem}.py"
            wrapper.write_text(wrapper_source(script.resolve()))
            wrapped[id(scenario)] = str(wrapper)
            scenario["script"] = str(wrapper)
    return config, len(executions), executors


def _scenario_of(execution: dict[str, Any], scenarios: dict[str, Any]) -> dict[str, Any]:
    ref = execution.get("scenario")
    if isinstance(ref, dict):
        return ref
    if isinstance(ref, str) and isinstance(scenarios.get(ref), dict):
        return scenarios[ref]
    return {}
