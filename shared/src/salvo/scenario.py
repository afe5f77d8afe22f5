"""From a fetched S3 object to a checked, runnable scenario.

Every problem is a ScenarioError (exit 3) with one line naming the file and the
reason, raised while arming: before the executor says it is ready, never after
the start.
"""

from __future__ import annotations

import importlib.util
import json
import shutil
import subprocess
import sys
from dataclasses import dataclass
from enum import Enum
from pathlib import Path
from typing import Any

import yaml

from salvo.bundle import BundleLimits, safe_extract
from salvo.errors import ScenarioError

__all__ = [
    "BundleLimits", "EntryKind", "Scenario", "unpack", "check", "load_taurus_config",
    "bzt_executors", "check_executors_installed", "check_locustfile", "locust_scripts",
]

TAURUS_SUFFIXES = (".yml", ".yaml", ".json")
BZT_DEFAULT_EXECUTOR = "jmeter"


class EntryKind(str, Enum):
    TAURUS = "taurus"
    LOCUSTFILE = "locustfile"


@dataclass(frozen=True)
class Scenario:
    root: Path
    entry: Path
    kind: EntryKind
    sha256: str


def unpack(object_path: Path, object_name: str, sha256: str, workdir: Path, *, entry: str | None,
           limits: BundleLimits) -> Scenario:
    """Place the object under workdir/scenario (extracting bundles) and find its entry."""
    root = workdir / "scenario"
    if root.exists():
        shutil.rmtree(root)
    root.mkdir(parents=True)
    suffix = Path(object_name).suffix.lower()
    if suffix == ".zip":
        safe_extract(object_path, root, limits)
        path = _bundle_entry(root, entry, object_name)
    elif suffix in TAURUS_SUFFIXES or suffix == ".py":
        path = root / object_name
        shutil.copyfile(object_path, path)
    else:
        raise ScenarioError(
            f"{object_name}: unsupported scenario type {suffix or '(no suffix)'}; "
            "expected a Taurus config (.yml, .yaml, .json), a locustfile (.py) or a bundle (.zip)"
        )
    kind = EntryKind.LOCUSTFILE if path.suffix.lower() == ".py" else EntryKind.TAURUS
    return Scenario(root=root, entry=path, kind=kind, sha256=sha256)


def _bundle_entry(root: Path, entry: str | None, bundle_name: str) -> Path:
    if entry:
        candidate = (root / entry).resolve()
        if not candidate.is_relative_to(root.resolve()) or not candidate.is_file():
            raise ScenarioError(f"{bundle_name}: SALVO_SCENARIO_ENTRY={entry!r} is not a file in the bundle")
        if candidate.suffix.lower() not in TAURUS_SUFFIXES + (".py",):
            raise ScenarioError(f"{bundle_name}: entry {entry!r} is neither a Taurus config nor a locustfile")
        return candidate
    configs = sorted(p for p in root.rglob("*") if p.suffix.lower() in TAURUS_SUFFIXES and p.is_file())
    top_level = [p for p in configs if p.parent == root]
    chosen = top_level or configs
    if len(chosen) == 1:
        return chosen[0]
    if len(chosen) > 1:
        names = ", ".join(str(p.relative_to(root)) for p in chosen)
        raise ScenarioError(f"{bundle_name}: several Taurus configs ({names}); set SALVO_SCENARIO_ENTRY to one")
    locustfiles = sorted(root.rglob("locustfile.py"))
    if (root / "locustfile.py").is_file():
        return root / "locustfile.py"
    if len(locustfiles) == 1:
        return locustfiles[0]
    raise ScenarioError(
        f"{bundle_name}: no entry found: expected one Taurus config (.yml/.yaml/.json) or a locustfile.py, "
        "or set SALVO_SCENARIO_ENTRY"
    )


def load_taurus_config(path: Path) -> dict[str, Any]:
    """Parse a Taurus YAML/JSON config; broken syntax names the file, line and column."""
    text = path.read_text(errors="replace")
    try:
        if path.suffix.lower() == ".json":
            config = json.loads(text)
        else:
            config = yaml.safe_load(text)
    except json.JSONDecodeError as exc:
        raise ScenarioError(f"{path.name}: invalid JSON at line {exc.lineno}, column {exc.colno}: {exc.msg}") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise ScenarioError(f"{path.name}: invalid YAML{where}: {problem}") from None
    if not isinstance(config, dict):
        raise ScenarioError(f"{path.name}: a Taurus config must be a mapping with an execution: section")
    return config


def _executions(config: dict[str, Any]) -> list[dict[str, Any]]:
    execution = config.get("execution")
    items = [execution] if isinstance(execution, dict) else execution
    if not items or not isinstance(items, list) or not all(isinstance(i, dict) for i in items):
        raise ScenarioError("the Taurus config has no usable execution: section")
    return items


def bzt_executors(config: dict[str, Any]) -> list[str]:
    default = (config.get("settings") or {}).get("default-executor", BZT_DEFAULT_EXECUTOR)
    return [str(item.get("executor", default)) for item in _executions(config)]


def _module(name: str):
    return lambda: importlib.util.find_spec(name) is not None


def _command(*names: str, bzt_dir: str | None = None):
    def installed() -> bool:
        if any(shutil.which(name) for name in names):
            return True
        return bool(bzt_dir and list((Path.home() / ".bzt").glob(f"{bzt_dir}*/bin/*")))

    return installed


TOOL_CHECKS = {
    "locust": _module("locust"),
    "apiritif": _module("apiritif"),
    "nose": _module("apiritif"),
    "pytest": _module("pytest"),
    "molotov": _module("molotov"),
    "robot": _module("robot"),
    "jmeter": _command("jmeter", bzt_dir="jmeter-taurus"),
    "gatling": _command("gatling.sh", bzt_dir="gatling-taurus"),
    "k6": _command("k6"),
    "newman": _command("newman"),
    "siege": _command("siege"),
    "ab": _command("ab"),
    "tsung": _command("tsung"),
    "vegeta": _command("vegeta"),
}


def check_executors_installed(names: list[str]) -> None:
    for name in dict.fromkeys(names):
        check = TOOL_CHECKS.get(name)
        if check is None:
            raise ScenarioError(f"unknown bzt executor {name!r}; known: {', '.join(sorted(TOOL_CHECKS))}")
        if not check():
            raise ScenarioError(
                f"the scenario needs bzt executor {name!r}, which is not installed in this image; nothing is "
                "installed at run time: build an image FROM the salvo executor that adds it"
            )


_LOCUSTFILE_PROBE = """
import inspect, sys
from locust import User
from salvo.locust_plugin import load_user_locustfile
namespace = load_user_locustfile(sys.argv[1])
users = [name for name, value in namespace.items()
         if inspect.isclass(value) and issubclass(value, User) and not getattr(value, "abstract", True)]
print("USERS " + " ".join(users))
"""


def check_locustfile(path: Path, python: str = sys.executable, timeout: float = 120) -> list[str]:
    """Import the locustfile in a subprocess (locust monkey-patches whoever imports it); return its User classes."""
    if not path.is_file():
        raise ScenarioError(f"locustfile {path.name} does not exist in the scenario")
    try:
        result = subprocess.run(
            [python, "-c", _LOCUSTFILE_PROBE, str(path)], cwd=path.parent, capture_output=True, text=True,
            timeout=timeout,
        )
    except subprocess.TimeoutExpired:
        raise ScenarioError(f"{path.name}: importing it took longer than {timeout:g} s") from None
    users_line = next((line for line in result.stdout.splitlines() if line.startswith("USERS")), None)
    if result.returncode != 0 or users_line is None:
        lines = [line for line in result.stderr.strip().splitlines() if line.strip()]
        reason = lines[-1] if lines else f"exit code {result.returncode}"
        raise ScenarioError(f"{path.name}: cannot be imported: {reason}")
    users = users_line.split()[1:]
    if not users:
        raise ScenarioError(
            f"{path.name} defines no locust User class (a subclass of HttpUser, FastHttpUser or User with tasks)"
        )
    return users


def locust_scripts(config: dict[str, Any], config_dir: Path) -> list[Path]:
    """Script paths of the config's locust executions (resolved against the config's folder)."""
    scenarios = config.get("scenarios") or {}
    default = (config.get("settings") or {}).get("default-executor", BZT_DEFAULT_EXECUTOR)
    scripts = []
    for item in _executions(config):
        if item.get("executor", default) != "locust":
            continue
        ref = item.get("scenario")
        scenario = ref if isinstance(ref, dict) else scenarios.get(ref, {}) if isinstance(ref, str) else {}
        if isinstance(ref, str) and ref not in scenarios:
            raise ScenarioError(f"execution refers to scenario {ref!r}, which the scenarios: section does not define")
        script = scenario.get("script") if isinstance(scenario, dict) else None
        if script:
            path = Path(script).expanduser()
            scripts.append(path if path.is_absolute() else config_dir / path)
    return scripts


def check(scenario: Scenario) -> None:
    """Everything that can be known before the start: parse, tools installed, locustfiles import."""
    if scenario.kind is EntryKind.LOCUSTFILE:
        check_locustfile(scenario.entry)
        return
    config = load_taurus_config(scenario.entry)
    try:
        check_executors_installed(bzt_executors(config))
        for script in locust_scripts(config, scenario.entry.parent):
            check_locustfile(script)
    except ScenarioError as exc:
        raise ScenarioError(f"{scenario.entry.name}: {exc}") from None
