"""Is each bzt executor's load tool already in this image? Nothing is installed at run time."""

from __future__ import annotations

import glob
import importlib.util
import os
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from salvo.common.errors import ScenarioError
from salvo.executor.scenario.taurus import section

__all__ = ["TOOLS", "check_executors_installed", "tool_paths"]


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
    "gatling": _Tool(
        command="gatling.sh", bzt_dirs=("~/.bzt/gatling-taurus/*/bin/gatling.sh", "~/.bzt/gatling-taurus/*/gatling.sh")
    ),
    "k6": _Tool(command="k6"),
    "newman": _Tool(command="newman"),
    "siege": _Tool(command="siege"),
    "ab": _Tool(command="ab"),
    "tsung": _Tool(command="tsung"),
    "vegeta": _Tool(command="vegeta"),
}


def tool_paths(config: dict[str, Any]) -> dict[str, str]:
    """modules.<executor>.path settings of the config (where the user says a tool lives)."""
    modules = section(config, "modules")
    return {name: str(m["path"]) for name, m in modules.items() if isinstance(m, dict) and m.get("path")}


def check_executors_installed(names: list[str], paths: dict[str, str] | None = None) -> None:
    """Every named bzt executor's tool must already be in this image.

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
