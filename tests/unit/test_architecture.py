"""The package tree is the architecture: two sides over a common floor, and no import across the sides."""

from __future__ import annotations

import ast
from pathlib import Path

import salvo

PACKAGE = Path(salvo.__file__).parent
ALLOWED = {
    "common": {"common"},
    "executor": {"common", "executor"},
    "controller": {"common", "controller"},
}


def salvo_imports(path: Path) -> set[str]:
    """The salvo subpackages a module imports (`salvo.x.y` -> x; `from salvo import x` -> x)."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names = [node.module] if node.module != "salvo" else [f"salvo.{a.name}" for a in node.names]
        else:
            continue
        found |= {name.split(".")[1] for name in names if name.startswith("salvo.")}
    return found - {"__version__"}


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
    assert top == ["__init__.py", "cli.py", "fleet.py", "upload.py"]
    assert all((PACKAGE / side / "__init__.py").is_file() for side in ALLOWED)


def test_the_scenario_helper_stands_on_the_common_floor_alone():
    # `salvo.fleet` is imported inside the load tool's process: nothing of either side may come with it
    assert salvo_imports(PACKAGE / "fleet.py") == {"common"}
