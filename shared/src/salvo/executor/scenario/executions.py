"""What each item under a Taurus config's execution: runs: its executor, its scenario, its script.

`resolve_executions` is the one place that answers this, following bzt's own
rules; the checks and the run plan both use it, so what is checked is what runs.
A scenario is written three ways:

    scenario: shop              # NAMED: a mapping under scenarios:
    scenario: {script: a.py}    # INLINE
    scenario: locustfile.py     # SCRIPT_PATH: not a name under scenarios: but an existing file
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from enum import Enum
from pathlib import Path
from typing import Any

from salvo.common.errors import ScenarioError
from salvo.executor.scenario.taurus import section

__all__ = [
    "BZT_DEFAULT_EXECUTOR",
    "Execution",
    "ScenarioForm",
    "bzt_executors",
    "execution_items",
    "resolve_executions",
    "scenario_mapping",
]

BZT_DEFAULT_EXECUTOR = "jmeter"  # bzt's own default (settings.default-executor)
_URL = re.compile(r"https?://", re.IGNORECASE)


class ScenarioForm(str, Enum):
    NAMED = "named"
    INLINE = "inline"
    SCRIPT_PATH = "script-path"


@dataclass(frozen=True)
class Execution:
    number: int  # position under execution:, from 1
    executor: str  # bzt executor name (settings.default-executor, else jmeter, when unnamed)
    form: ScenarioForm
    name: str | None  # the scenario's name under scenarios: (NAMED only)
    scenario: dict[str, Any]  # its mapping; for SCRIPT_PATH {"script": path}, as bzt extracts it
    script: Path | None  # absolute local script; None without script: or when script: is a URL
    script_url: str | None = None  # script: given as an http(s) URL (bzt would download it)
    item: dict[str, Any] = field(default_factory=dict, compare=False, repr=False)  # the execution mapping

    def describe(self) -> str:
        """How messages name this execution's scenario."""
        if self.form is ScenarioForm.NAMED:
            return f"scenario {self.name!r}"
        if self.form is ScenarioForm.SCRIPT_PATH:
            return f"scenario {self.scenario['script']!r} (execution item {self.number})"
        return f"the inline scenario of execution item {self.number}"


def execution_items(config: dict[str, Any]) -> list[dict[str, Any]]:
    """The mappings under execution: (the config's own objects). A single mapping counts as a list of one.

    Raises ScenarioError when the section is missing, empty or not mappings.
    """
    execution = config.get("execution")
    if execution is None or execution == [] or execution == {}:
        raise ScenarioError("config has no execution: section (what bzt should run)")
    items = [execution] if isinstance(execution, dict) else execution
    if not isinstance(items, list):
        raise ScenarioError(f"execution: must be a mapping or a list of mappings, not a {type(items).__name__}")
    for number, item in enumerate(items, 1):
        if not isinstance(item, dict):
            raise ScenarioError(f"execution item {number} must be a mapping, not a {type(item).__name__}")
    return items


def bzt_executors(config: dict[str, Any]) -> list[str]:
    """The bzt executor of every execution item, in order."""
    default = str(section(config, "settings").get("default-executor") or BZT_DEFAULT_EXECUTOR)
    return [_executor_of(item, default) for item in execution_items(config)]


def resolve_executions(config: dict[str, Any], config_dir: Path) -> list[Execution]:
    """Every execution item resolved to its executor, scenario and script, in order.

    Scripts and script-path scenarios resolve against `config_dir`, bzt's working
    folder. Raises ScenarioError for a missing or undefined scenario, a scenario
    that is not a mapping, or a script: that is not a path.
    """
    scenarios = section(config, "scenarios")
    executions = []
    for number, (item, executor) in enumerate(zip(execution_items(config), bzt_executors(config), strict=True), 1):
        form, name, scenario = _scenario_of(item, scenarios, config_dir, number)
        script, url = _script_of(scenario, config_dir)
        executions.append(Execution(number, executor, form, name, scenario, script, url, item))
    return executions


def scenario_mapping(config: dict[str, Any], execution: Execution) -> dict[str, Any]:
    """The mapping in `config` (the resolved config, or a deep copy of it) that holds the execution's scenario.

    A script-path scenario is first turned into an inline one, as bzt itself does,
    so that settings such as default-address can be added to it.
    """
    item = execution_items(config)[execution.number - 1]
    if execution.form is ScenarioForm.NAMED:
        return config["scenarios"][execution.name]
    if execution.form is ScenarioForm.SCRIPT_PATH and not isinstance(item["scenario"], dict):
        item["scenario"] = dict(execution.scenario)
    return item["scenario"]


def _executor_of(item: dict[str, Any], default: str) -> str:
    executor = item.get("executor")
    return default if executor is None or executor == "" else str(executor)


def _scenario_of(
    item: dict[str, Any], scenarios: dict[str, Any], config_dir: Path, number: int
) -> tuple[ScenarioForm, str | None, dict[str, Any]]:
    ref = item.get("scenario")
    if isinstance(ref, dict):
        return ScenarioForm.INLINE, None, ref
    if isinstance(ref, str) and ref in scenarios:  # a name wins over a file of that name, as in bzt
        if not isinstance(scenarios[ref], dict):
            raise ScenarioError(f"scenario {ref!r} must be a mapping, not a {type(scenarios[ref]).__name__}")
        return ScenarioForm.NAMED, ref, scenarios[ref]
    if isinstance(ref, str) and ref and (config_dir / Path(ref).expanduser()).is_file():
        return ScenarioForm.SCRIPT_PATH, None, {"script": ref}
    if ref is None:
        raise ScenarioError(f"execution item {number} has no scenario:")
    defined = ", ".join(map(str, scenarios)) or "none"
    raise ScenarioError(
        f"execution item {number} refers to scenario {ref!r}, which is neither defined under scenarios: "
        f"(defined: {defined}) nor a file"
    )


def _script_of(scenario: dict[str, Any], config_dir: Path) -> tuple[Path | None, str | None]:
    script = scenario.get("script")
    if script is None or script == "":
        return None, None
    if not isinstance(script, str):
        raise ScenarioError(f"script: must be a file path, not a {type(script).__name__}")
    if _URL.match(script):
        return None, script
    path = Path(script).expanduser()
    return (path if path.is_absolute() else config_dir / path), None
