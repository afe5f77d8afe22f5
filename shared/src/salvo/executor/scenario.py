"""From a fetched S3 object to a checked, runnable scenario.

`unpack` places the object in the work folder (bundles via `salvo.executor.bundle`) and
finds its entry; `check` verifies everything that can be known before the
start: the Taurus config parses, each bzt executor's tool is installed, each
locust script imports and defines users. Every problem is a ScenarioError
(exit 3) with one line naming the file and the reason, raised while arming -
before the executor says it is ready, never after the start.
"""

from __future__ import annotations

import glob
import importlib.util
import json
import logging
import os
import re
import shutil
import signal
import subprocess
import sys
from dataclasses import dataclass
from enum import Enum
from pathlib import Path
from typing import Any

import yaml

from salvo.executor.bundle import BundleLimits, safe_extract
from salvo.common.errors import ScenarioError

__all__ = [
    "BundleLimits", "EntryKind", "LocustExecution", "Scenario", "unpack", "safe_extract", "check",
    "load_taurus_config", "bzt_executors", "check_executors_installed", "check_locustfile",
    "locust_executions", "locust_script_paths",
]

log = logging.getLogger(__name__)

TAURUS_SUFFIXES = (".yml", ".yaml", ".json")
BZT_DEFAULT_EXECUTOR = "jmeter"  # bzt's own default (settings.default-executor)
TAURUS_KEYS = {"execution", "scenarios", "included-configs"}  # what makes a .yml/.json in a bundle a config
SNIFF_MAX_BYTES = 1 << 20  # bigger .yml/.json files in a bundle are data, not configs
_TAB_INDENT = re.compile(r"^( *)(\t+)( *\S*)", re.MULTILINE)  # bzt turns tab indents into 4 spaces


class EntryKind(str, Enum):
    TAURUS = "taurus"
    LOCUSTFILE = "locustfile"


@dataclass(frozen=True)
class Scenario:
    root: Path  # folder holding the scenario
    entry: Path  # absolute path of the Taurus config or locustfile inside root
    kind: EntryKind
    sha256: str  # of the fetched S3 object


@dataclass(frozen=True)
class LocustExecution:
    """One `executor: locust` item of a Taurus config."""

    index: int  # position in execution: (0-based)
    scenario: str | None  # its name under scenarios:, None when inline
    script: Path | None  # absolute script path; None when bzt generates the locustfile from requests:


# --- unpacking ---------------------------------------------------------------------


def unpack(object_path: Path, object_name: str, sha256: str, workdir: Path, *, entry: str | None,
           limits: BundleLimits) -> Scenario:
    """Place the object under workdir/scenario (extracting bundles) and find its entry.

    The kind follows the object name's suffix. Raises ScenarioError for an
    unsupported suffix, an unsafe bundle, or a bundle without a clear entry.
    """
    name = Path(object_name).name
    suffix = Path(name).suffix.lower()
    if suffix not in TAURUS_SUFFIXES + (".py", ".zip"):
        raise ScenarioError(
            f"{name or repr(object_name)}: unsupported scenario type {suffix or '(no suffix)'}; expected a Taurus "
            "config (.yml, .yaml, .json), a locustfile (.py) or a bundle (.zip)"
        )
    root = workdir.resolve() / "scenario"
    if root.exists():
        shutil.rmtree(root)
    root.mkdir(parents=True)
    if suffix == ".zip":
        safe_extract(object_path, root, limits, name=name)
        path = _bundle_entry(root, entry, name)
    else:
        if entry:
            log.warning("SALVO_SCENARIO_ENTRY=%s is ignored: %s is not a .zip bundle", entry, name)
        path = root / name
        shutil.copyfile(object_path, path)
    kind = EntryKind.LOCUSTFILE if path.suffix.lower() == ".py" else EntryKind.TAURUS
    return Scenario(root=root, entry=path, kind=kind, sha256=sha256)


def _bundle_entry(root: Path, entry: str | None, bundle_name: str) -> Path:
    """SALVO_SCENARIO_ENTRY, else the single shallowest Taurus config, else the shallowest locustfile.py."""
    if entry:
        return _explicit_entry(root, entry, bundle_name)
    files = sorted(p for p in root.rglob("*") if p.is_file() and not _hidden(p.relative_to(root)))
    configs = [p for p in files if p.suffix.lower() in TAURUS_SUFFIXES and _looks_like_taurus(p)]
    locustfiles = [p for p in files if p.name == "locustfile.py"]
    for group, what in ((configs, "Taurus configs"), (locustfiles, "locustfile.py files")):
        if group:
            depth = min(len(p.parts) for p in group)
            chosen = [p for p in group if len(p.parts) == depth]
            if len(chosen) == 1:
                return chosen[0]
            names = ", ".join(p.relative_to(root).as_posix() for p in chosen)
            raise ScenarioError(f"{bundle_name}: several {what} ({names}); set SALVO_SCENARIO_ENTRY to the one to run")
    raise ScenarioError(
        f"{bundle_name}: no entry found: expected a Taurus config (.yml/.yaml/.json with an execution: section) "
        "or a locustfile.py, or set SALVO_SCENARIO_ENTRY"
    )


def _explicit_entry(root: Path, entry: str, bundle_name: str) -> Path:
    candidate = (root / entry).resolve()
    if not candidate.is_relative_to(root):
        raise ScenarioError(f"{bundle_name}: SALVO_SCENARIO_ENTRY={entry!r} points outside the bundle")
    if not candidate.is_file():
        raise ScenarioError(f"{bundle_name}: SALVO_SCENARIO_ENTRY={entry!r} is not a file in the bundle")
    if candidate.suffix.lower() not in TAURUS_SUFFIXES + (".py",):
        raise ScenarioError(
            f"{bundle_name}: SALVO_SCENARIO_ENTRY={entry!r} is neither a Taurus config (.yml/.yaml/.json) "
            "nor a locustfile (.py)"
        )
    return candidate


def _hidden(relative: Path) -> bool:
    """Dot files and macOS zip debris (__MACOSX/, ._name) are never entries."""
    return any(part.startswith(".") or part == "__MACOSX" for part in relative.parts)


def _looks_like_taurus(path: Path) -> bool:
    """A mapping with bzt's top-level keys; an unparsable one counts too, so its syntax error is shown.

    Files too big for a config, or never mentioning those keys, are data and not parsed at all.
    """
    if path.stat().st_size > SNIFF_MAX_BYTES:
        return False
    head = path.read_bytes()
    if not any(key.encode() in head for key in TAURUS_KEYS):
        return False
    try:
        documents = _parse(path)
    except ScenarioError:
        return True
    return any(isinstance(doc, dict) and {str(k).lstrip("~^$") for k in doc} & TAURUS_KEYS for doc in documents)


# --- Taurus configs ----------------------------------------------------------------


def load_taurus_config(path: Path) -> dict[str, Any]:
    """Read a Taurus config as bzt does (YAML, JSON, several YAML documents merged) into one mapping.

    Raises ScenarioError naming the file, with line and column for broken syntax,
    when the file is not UTF-8, or when it is not a mapping.
    """
    config: dict[str, Any] = {}
    for document in _parse(path):
        if document is None:
            continue
        if not isinstance(document, dict):
            raise ScenarioError(
                f"{path.name}: a Taurus config must be a mapping with an execution: section, "
                f"not a {type(document).__name__}"
            )
        _merge(config, document)
    if not config:
        raise ScenarioError(f"{path.name}: the Taurus config is empty")
    return config


def _parse(path: Path) -> list[Any]:
    """YAML documents of the file; JSON when it is not YAML but looks like JSON (bzt's order)."""
    try:
        text = path.read_bytes().decode("utf-8-sig")
    except OSError as exc:
        raise ScenarioError(f"{path.name}: cannot be read ({exc.strerror or exc})") from None
    except UnicodeDecodeError as exc:
        raise ScenarioError(f"{path.name}: not UTF-8 text (bad byte at offset {exc.start})") from None
    text = _TAB_INDENT.sub(r"\1    \3", text)
    try:
        return list(yaml.safe_load_all(text))
    except yaml.YAMLError as exc:
        yaml_error = exc
    except RecursionError:
        raise ScenarioError(f"{path.name}: nested too deeply") from None
    if text.lstrip().startswith("{"):
        try:
            return [json.loads(text)]
        except json.JSONDecodeError as exc:
            if path.suffix.lower() == ".json":
                raise ScenarioError(
                    f"{path.name}: invalid JSON at line {exc.lineno}, column {exc.colno}: {exc.msg}"
                ) from None
        except RecursionError:
            raise ScenarioError(f"{path.name}: nested too deeply") from None
    mark = getattr(yaml_error, "problem_mark", None)
    where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
    problem = getattr(yaml_error, "problem", None) or str(yaml_error).splitlines()[0]
    raise ScenarioError(f"{path.name}: invalid YAML{where}: {problem}")


def _merge(target: dict[Any, Any], source: dict[Any, Any]) -> dict[Any, Any]:
    """Merge like bzt merges config files: mappings deeply, lists appended.

    Key prefixes as in bzt: ~key replaces, ^key deletes, $key merges list items pairwise.
    """
    for key, value in source.items():
        prefix = key[0] if isinstance(key, str) and key[:1] in ("~", "^", "$") else ""
        key = key[1:] if prefix else key
        if prefix in ("~", "^"):
            target.pop(key, None)
            if prefix == "^":
                continue
        current = target.get(key)
        if isinstance(value, dict) and isinstance(current, dict):
            _merge(current, value)
        elif isinstance(value, list) and isinstance(current, list):
            if prefix == "$":
                for index, item in enumerate(value):
                    if index < len(current) and isinstance(current[index], dict) and isinstance(item, dict):
                        _merge(current[index], item)
                    elif index < len(current):
                        current[index] = item
                    else:
                        current.append(item)
            else:
                current.extend(value)
        else:
            target[key] = value
    return target


def _executions(config: dict[str, Any]) -> list[dict[str, Any]]:
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


def _section(config: dict[str, Any], name: str) -> dict[str, Any]:
    value = config.get(name)
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise ScenarioError(f"{name}: must be a mapping, not a {type(value).__name__}")
    return value


def _executor_of(item: dict[str, Any], default: str) -> str:
    executor = item.get("executor")
    return default if executor is None or executor == "" else str(executor)


def bzt_executors(config: dict[str, Any]) -> list[str]:
    """The bzt executor of every execution item (settings.default-executor, else bzt's jmeter, when unnamed).

    Raises ScenarioError when the config has no (well-formed) execution: section.
    """
    default = str(_section(config, "settings").get("default-executor") or BZT_DEFAULT_EXECUTOR)
    return [_executor_of(item, default) for item in _executions(config)]


def locust_executions(config: dict[str, Any], config_dir: Path) -> list[LocustExecution]:
    """The config's locust executions, scripts resolved against `config_dir` (bzt's working folder).

    A scenario is inline, a name under scenarios:, or (as bzt allows) the path of
    a script. Raises ScenarioError when any execution's scenario cannot be
    resolved, or a locust scenario has neither script: nor requests:.
    """
    scenarios = _section(config, "scenarios")
    executors = bzt_executors(config)
    found = []
    for index, (item, executor) in enumerate(zip(_executions(config), executors)):
        name, scenario = _scenario_of(item, scenarios, config_dir, index + 1)
        if executor != "locust":
            continue
        if scenario.get("script"):
            found.append(LocustExecution(index, name, _script_path(scenario["script"], config_dir)))
        elif scenario.get("requests"):
            found.append(LocustExecution(index, name, None))
        else:
            label = f"scenario {name!r}" if name else "its inline scenario"
            raise ScenarioError(f"execution item {index + 1} (locust): {label} has neither script: nor requests:")
    return found


def locust_script_paths(config: dict[str, Any], config_dir: Path) -> list[Path]:
    """Distinct scripts of the locust executions (those with requests: have none); see locust_executions."""
    scripts = (item.script for item in locust_executions(config, config_dir) if item.script is not None)
    return list(dict.fromkeys(scripts))


def _scenario_of(item: dict[str, Any], scenarios: dict[str, Any], config_dir: Path,
                 number: int) -> tuple[str | None, dict[str, Any]]:
    ref = item.get("scenario")
    if isinstance(ref, dict):
        return None, ref
    if isinstance(ref, str) and ref in scenarios:
        if not isinstance(scenarios[ref], dict):
            raise ScenarioError(f"scenario {ref!r} must be a mapping, not a {type(scenarios[ref]).__name__}")
        return ref, scenarios[ref]
    if isinstance(ref, str) and ref and (config_dir / Path(ref).expanduser()).is_file():
        return None, {"script": ref}  # bzt: a scenario name that is an existing file is its script
    if ref is None:
        raise ScenarioError(f"execution item {number} has no scenario:")
    defined = ", ".join(map(str, scenarios)) or "none"
    raise ScenarioError(
        f"execution item {number} refers to scenario {ref!r}, which is neither defined under scenarios: "
        f"(defined: {defined}) nor a file"
    )


def _script_path(script: Any, config_dir: Path) -> Path:
    if not isinstance(script, str):
        raise ScenarioError(f"script: must be a file path, not a {type(script).__name__}")
    if re.match(r"https?://", script, re.IGNORECASE):
        raise ScenarioError(f"script {script!r} is a URL; put the script in a .zip bundle so it can be checked")
    path = Path(script).expanduser()
    return path if path.is_absolute() else config_dir / path


# --- load tools --------------------------------------------------------------------


@dataclass(frozen=True)
class _Tool:
    module: str | None = None  # a Python module bzt's interpreter must find, or
    command: str | None = None  # a command on PATH ...
    bzt_dirs: tuple[str, ...] = ()  # ... or where bzt itself installs it

    def installed(self, configured_path: str | None) -> bool:
        if self.module:
            return importlib.util.find_spec(self.module) is not None  # never import: locust patches gevent
        if shutil.which(self.command):
            return True
        patterns = list(self.bzt_dirs)
        if configured_path:  # modules.<executor>.path: the tool itself or its home folder
            home = os.path.expanduser(configured_path.replace("{version}", "*")).rstrip("/")
            patterns += [home, f"{home}/bin/{self.command}"]
        found = (Path(p) for pattern in patterns for p in glob.glob(os.path.expanduser(pattern)))
        return any(p.is_file() and os.access(p, os.X_OK) for p in found)

    def describe(self) -> str:
        if self.module:
            return f"Python module {self.module}"
        where = "".join(f" or {d}" for d in self.bzt_dirs)
        return f"command {self.command} (on PATH{where})"


TOOLS = {
    "locust": _Tool(module="locust"),
    "apiritif": _Tool(module="apiritif"),
    "nose": _Tool(module="apiritif"),
    "pytest": _Tool(module="pytest"),
    "molotov": _Tool(module="molotov"),
    "robot": _Tool(module="robot"),
    "jmeter": _Tool(command="jmeter", bzt_dirs=("~/.bzt/jmeter-taurus/*/bin/jmeter",)),
    "gatling": _Tool(command="gatling.sh", bzt_dirs=(
        "~/.bzt/gatling-taurus/*/bin/gatling.sh", "~/.bzt/gatling-taurus/*/gatling.sh")),
    "k6": _Tool(command="k6"),
    "newman": _Tool(command="newman"),
    "siege": _Tool(command="siege"),
    "ab": _Tool(command="ab"),
    "tsung": _Tool(command="tsung"),
    "vegeta": _Tool(command="vegeta"),
}


def tool_paths(config: dict[str, Any]) -> dict[str, str]:
    """modules.<executor>.path settings of the config (where the user says a tool lives)."""
    modules = _section(config, "modules")
    return {name: str(m["path"]) for name, m in modules.items() if isinstance(m, dict) and m.get("path")}


def check_executors_installed(names: list[str], paths: dict[str, str] | None = None) -> None:
    """Every named bzt executor's tool must already be in this image: nothing is installed at run time.

    `paths` maps an executor to its configured modules.<executor>.path. Raises
    ScenarioError for an unknown executor (listing the known ones) or a missing tool.
    """
    for name in dict.fromkeys(names):
        tool = TOOLS.get(name)
        if tool is None:
            raise ScenarioError(f"unknown bzt executor {name!r}; known: {', '.join(sorted(TOOLS))}")
        if not tool.installed((paths or {}).get(name)):
            raise ScenarioError(
                f"bzt executor {name!r} needs {tool.describe()}, which this image does not have; nothing is "
                "installed at run time: build your own image FROM salvo-executor that adds it"
            )


# --- locustfiles -------------------------------------------------------------------

_PROBE_MARK = "@@salvo-locustfile-probe@@ "
# Runs in a fresh interpreter: locust monkey-patches (gevent) whoever imports it.
# It loads the file exactly as the run's wrapper does (salvo.executor.locust_plugin) and
# keeps what locust itself counts as users.
_PROBE = r"""
import json, sys, traceback
MARK = %(mark)r
def report(**result):
    sys.stdout.write("\n" + MARK + json.dumps(result) + "\n")
    sys.stdout.flush()
try:
    from locust import User
    from salvo.executor.locust_plugin import load_user_locustfile
except BaseException as exc:
    report(setup="%%s: %%s" %% (type(exc).__name__, exc))
    sys.exit(3)
path = sys.argv[1]
try:
    namespace = load_user_locustfile(path)
except SystemExit as exc:
    report(error="called sys.exit(%%r) while being imported" %% (exc.code,))
    sys.exit(1)
except BaseException as exc:
    message = "".join(traceback.format_exception_only(type(exc), exc)).strip().splitlines()[-1]
    lines = [f.lineno for f in traceback.extract_tb(exc.__traceback__) if f.filename == path]
    if isinstance(exc, SyntaxError) and exc.filename == path:
        lines.append(exc.lineno)
    report(error=message, line=lines[-1] if lines else None)
    sys.exit(1)
users = [n for n, v in namespace.items() if isinstance(v, type) and issubclass(v, User) and v.abstract is False]
taskless = [n for n in users if not namespace[n].tasks and namespace[n].run is User.run]
report(users=users, taskless=taskless)
""" % {"mark": _PROBE_MARK}


def check_locustfile(path: Path, python: str = sys.executable, timeout: float = 60, *,
                     cwd: Path | None = None) -> list[str]:
    """Import the locustfile in a subprocess, as the run will, and return its User class names.

    The subprocess runs in `cwd` (default: the locustfile's folder, as for a bare
    locustfile; a Taurus config's scripts run in the config's folder) with the
    locustfile's folder first on sys.path. Raises ScenarioError when the file is
    missing, fails to import (the exception's last line and the file's line),
    defines no User class or a User class without tasks, or takes longer than
    `timeout` seconds.
    """
    name = path.name
    if not path.is_file():
        raise ScenarioError(f"locustfile {name} does not exist in the scenario")
    if name == "locust.py":
        raise ScenarioError("locust.py: a locustfile may not be named locust.py (it hides the locust package)")
    result = _run_probe(path, python, timeout, cwd or path.parent)
    if "setup" in result:
        raise ScenarioError(f"{name}: cannot be checked: {python} cannot import locust and salvo: {result['setup']}")
    if "error" in result:
        where = f" (line {result['line']})" if result.get("line") else ""
        raise ScenarioError(f"{name}: cannot be imported: {result['error']}{where}")
    if not result.get("users"):
        raise ScenarioError(
            f"{name} defines no locust User class (a subclass of HttpUser, FastHttpUser or User with tasks)"
        )
    if result.get("taskless"):
        raise ScenarioError(
            f"{name}: User class {result['taskless'][0]} has no tasks: add @task methods or set tasks, "
            "or set abstract = True if it is only a base class"
        )
    return list(result["users"])


def _run_probe(path: Path, python: str, timeout: float, cwd: Path) -> dict[str, Any]:
    env = {k: v for k, v in os.environ.items() if k not in ("SALVO_GATE_SOCKET", "SALVO_SAMPLES_DIR")}
    env["PYTHONDONTWRITEBYTECODE"] = "1"  # leave the scenario folder as it was
    process = subprocess.Popen(
        [python, "-c", _PROBE, str(path.resolve())], cwd=cwd, env=env, stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, errors="replace", start_new_session=True,
    )
    try:
        stdout, stderr = process.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)  # its own session: children it started go too
        process.communicate()
        raise ScenarioError(f"{path.name}: importing it took longer than {timeout:g} s") from None
    for line in reversed(stdout.splitlines()):
        if line.startswith(_PROBE_MARK):
            try:
                return json.loads(line[len(_PROBE_MARK):])
            except ValueError:
                continue  # the locustfile printed something that looks like ours
    lines = [line for line in stderr.splitlines() if line.strip()]
    return {"error": lines[-1] if lines else f"the import ended the interpreter (exit code {process.returncode})"}


# --- the arm-time check ------------------------------------------------------------


def check(scenario: Scenario) -> None:
    """Everything that can be known before the start: the config parses, its tools are installed, locustfiles import.

    Raises ScenarioError prefixed with the entry's path in the scenario.
    """
    if scenario.kind is EntryKind.LOCUSTFILE:
        check_locustfile(scenario.entry)
        return
    config = load_taurus_config(scenario.entry)
    config_dir = scenario.entry.parent
    try:
        check_executors_installed(bzt_executors(config), tool_paths(config))
        for script in locust_script_paths(config, config_dir):
            if not script.is_file():
                shown = script.relative_to(config_dir) if script.is_relative_to(config_dir) else script
                raise ScenarioError(f"locust script {shown.as_posix()} does not exist in the scenario")
            check_locustfile(script, cwd=config_dir)
    except ScenarioError as exc:
        raise ScenarioError(f"{_shown(scenario)}: {exc}") from None


def _shown(scenario: Scenario) -> str:
    entry = scenario.entry
    return entry.relative_to(scenario.root).as_posix() if entry.is_relative_to(scenario.root) else entry.name
