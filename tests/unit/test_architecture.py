"""The package tree is the architecture: two sides over a common floor, no import across the sides; inside the
executor, stages that import each other one way only, and a light floor for what runs inside the load tool."""

from __future__ import annotations

import ast
import json
import os
import subprocess
import sys
from graphlib import TopologicalSorter
from pathlib import Path

import salvo

PACKAGE = Path(salvo.__file__).parent
EXECUTOR = PACKAGE / "executor"
ALLOWED = {
    "common": {"common"},
    "executor": {"common", "executor"},
    "controller": {"common", "controller"},
}

# The executor's parts, and which others each may import (its own, salvo.common and the standard library always).
# The run drives every stage; results read what the tool wrote and what the scenario declared; the scenario plans
# the tool's run; the tool, inside the load tool's process, knows none of them. parts.py holds the Protocols of
# what an Executor is given (typed in the scenario's plan and the gate's GO); settings.py stands on common alone.
EXECUTOR_IMPORTS = {
    "run": {"scenario", "tool", "results", "presence", "parts", "settings"},
    "presence": {"parts"},
    "results": {"scenario", "tool"},
    "scenario": {"tool"},
    "tool": set(),
    "parts": {"scenario", "tool"},
    "settings": set(),
}
EXECUTOR_TOP = {"__init__.py", "parts.py", "settings.py"}

# Every module of executor/tool/ is imported inside the load tool's process: the wrapper locustfile bzt runs
# imports tool.locust_plugin, which loads locust_gate (gate), locust_recorder (statsfile, and samples with
# SALVO_RAW_SAMPLES), and the locustfile probe imports it as the run will. Locust there has gevent-patched
# everything; an import of boto3, zmq, pydantic or the controller would cost every locust process seconds of
# start-up and memory, and could patch what locust patched. So: the standard library, what the load tool
# brings (locust, gevent), hdrh for the recorder's histograms, tool/ itself and these light modules of common.
TOOL_THIRD_PARTY = {"locust", "gevent", "hdrh"}
TOOL_COMMON = {
    "salvo.common.arrivals",
    "salvo.common.defaults",
    "salvo.common.fleetload",
    "salvo.common.histogram",
    "salvo.common.summary",
}


def imported_modules(path: Path) -> set[str]:
    """Every module a file imports by an absolute import, anywhere in it (`from salvo.x import y` is salvo.x.y
    where salvo/x is a folder, else salvo.x); a relative import is reported as `.` and the level's dots."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level:
            found.add("." * node.level + (node.module or ""))
        elif isinstance(node, ast.ImportFrom) and node.module:
            is_folder = (PACKAGE.parent / node.module.replace(".", "/")).is_dir()
            found |= {f"{node.module}.{a.name}" for a in node.names} if is_folder else {node.module}
    return found


def salvo_imports(path: Path) -> set[str]:
    """The salvo subpackages a module imports (`salvo.x.y` -> x; `from salvo import x` -> x)."""
    return {name.split(".")[1] for name in imported_modules(path) if name.startswith("salvo.")} - {"__version__"}


def executor_part(path: Path) -> str:
    """The part of the executor a file of it belongs to: its subpackage, or parts/settings at the top."""
    relative = path.relative_to(EXECUTOR)
    return relative.parts[0] if len(relative.parts) > 1 else relative.stem


def executor_imports(path: Path) -> set[str]:
    """The parts of the executor a module imports (`salvo.executor.run.executor` -> run)."""
    return {name.split(".")[2] for name in imported_modules(path) if name.startswith("salvo.executor.")}


def heavy_imports(path: Path) -> set[str]:
    """What a module imports that may not come into the load tool's process (see TOOL_THIRD_PARTY)."""
    return {
        name
        for name in imported_modules(path)
        if name.split(".")[0] not in sys.stdlib_module_names | TOOL_THIRD_PARTY
        and name not in TOOL_COMMON
        and not (name + ".").startswith("salvo.executor.tool.")
    }


def test_no_module_imports_across_the_two_sides():
    crossings = []
    for side, allowed in ALLOWED.items():
        for module in sorted((PACKAGE / side).rglob("*.py")):
            for imported in sorted(salvo_imports(module) - allowed):
                crossings.append(f"{module.relative_to(PACKAGE)} imports salvo.{imported}")
    assert not crossings, "\n".join(crossings)


def test_the_rule_sees_an_import_across(tmp_path):
    module = tmp_path / "m.py"
    module.write_text("from salvo.controller.merge import merge_summaries\nimport salvo.common.s3\n")
    assert salvo_imports(module) == {"controller", "common"}


def test_sides_and_floor_hold_every_module_but_the_cli_and_operator_verbs():
    top = sorted(p.name for p in PACKAGE.glob("*.py"))
    assert top == ["__init__.py", "cli.py", "fleet.py", "rate.py", "upload.py"]
    assert all((PACKAGE / side / "__init__.py").is_file() for side in ALLOWED)


def test_the_scenario_helper_stands_on_the_common_floor_alone():
    # `salvo.fleet` is imported inside the load tool's process: nothing of either side may come with it
    assert salvo_imports(PACKAGE / "fleet.py") == {"common"}
    assert imported_modules(PACKAGE / "rate.py") - {"__future__"} == {"salvo.common.arrivals"}  # a light one


def test_the_executor_is_its_parts_and_nothing_beside_them():
    top = {p.name for p in EXECUTOR.glob("*.py")}
    folders = {p.name for p in EXECUTOR.iterdir() if p.is_dir() and p.name != "__pycache__"}
    assert top == EXECUTOR_TOP
    assert folders == set(EXECUTOR_IMPORTS) - {Path(name).stem for name in EXECUTOR_TOP}
    assert all((EXECUTOR / folder / "__init__.py").is_file() for folder in folders)
    assert not [p for p in EXECUTOR.rglob("*.py") if len(p.relative_to(EXECUTOR).parts) > 2], "one level deep"


def test_the_executor_parts_import_each_other_one_way():
    tuple(TopologicalSorter(EXECUTOR_IMPORTS).static_order())  # the stated matrix has no loop (CycleError)
    crossings = []
    for module in sorted(EXECUTOR.rglob("*.py")):
        part = executor_part(module)
        name = module.relative_to(PACKAGE)
        for imported in sorted(executor_imports(module) - EXECUTOR_IMPORTS.get(part, set()) - {part}):
            crossings.append(f"{name} ({part}) imports salvo.executor.{imported}")
        crossings += [f"{name}: relative import {n}" for n in imported_modules(module) if n.startswith(".")]
    assert not crossings, "\n".join(crossings)


def test_the_part_rule_sees_a_stage_import_and_a_relative_one(tmp_path):
    module = tmp_path / "m.py"
    module.write_text(
        "from salvo.executor.run.executor import Executor\nfrom salvo.executor.tool import gate\n"
        "import salvo.executor.settings\nfrom . import sibling\n"
    )
    assert executor_imports(module) == {"run", "tool", "settings"}
    assert "." in imported_modules(module)


def test_what_runs_inside_the_load_tool_imports_only_light_modules():
    modules = sorted((EXECUTOR / "tool").glob("*.py")) + [
        PACKAGE.parent / (m.replace(".", "/") + ".py") for m in TOOL_COMMON
    ]
    heavy = [f"{p.relative_to(PACKAGE)} imports {name}" for p in modules for name in sorted(heavy_imports(p))]
    assert not heavy, "\n".join(heavy)


def test_the_light_rule_sees_a_heavy_import(tmp_path):
    module = tmp_path / "m.py"
    module.write_text(
        "import json\nfrom locust import events\nfrom salvo.executor.tool import gate\n"
        "from salvo.common.fleetload import Slot\ndef later():\n    import boto3\n"
        "from salvo.common.s3 import S3Store\nfrom salvo.executor.run.runner import BztRunner\n"
    )
    assert heavy_imports(module) == {"boto3", "salvo.common.s3", "salvo.executor.run.runner"}


def test_the_load_tool_process_gets_nothing_heavy_from_salvo():
    # what the wrapper locustfile's import (and the recorder's raw-sample writer) adds to a fresh interpreter
    tool = [f"salvo.executor.tool.{p.stem}" for p in sorted((EXECUTOR / "tool").glob("*.py")) if p.stem != "__init__"]
    code = (
        # the load tool's process has locust (and gevent) loaded already: what salvo adds is what counts
        "import json, sys\nimport gevent, locust\nbefore = set(sys.modules)\n"
        + "".join(f"import {name}\n" for name in tool)
        + "print(json.dumps(sorted(set(sys.modules) - before)))\n"
    )
    path = os.pathsep.join(filter(None, [str(PACKAGE.parent), os.environ.get("PYTHONPATH")]))
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, env={**os.environ, "PYTHONPATH": path}
    )
    assert result.returncode == 0, result.stderr
    loaded = set(json.loads(result.stdout))
    assert set(tool) <= loaded
    salvo_allowed = {"salvo", "salvo.common", "salvo.executor", "salvo.executor.tool", *TOOL_COMMON, *tool}
    brought = sorted(
        name
        for name in loaded
        if name.split(".")[0] not in sys.stdlib_module_names | {"hdrh", "pyhdrh"} and name not in salvo_allowed
    )
    assert not brought, brought
