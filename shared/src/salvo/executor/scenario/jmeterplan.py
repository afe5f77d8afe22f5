"""JMeter executions held at Salvo's start gate.

JMeter starts (JVM, plan loading) while the executor arms; Salvo's gate
(jmeter/salvo-gate, in the JMeter of scripts/install-jmeter.sh) is a JMeter
TestStateListener that installs itself as JMeter loads its functions, before the
engine runs, when $SALVO_GATE_SOCKET is set. It blocks the engine before any
thread group starts and lets go at start_at, speaking the lines of
`salvo.executor.tool.gate`. `bin/salvo-gate.groovy` beside `bin/jmeter` marks a JMeter
that has the gate (and, as jsr223.init.file, installs it too where JMeter runs
start-up scripts before the engine).

Fleet mode: an execution's `concurrency: N` becomes `${__P(salvo.share.of.N,N)}`,
a JMeter property the gate sets to this executor's share of N when the start
arrives (`salvo.share.totals` lists the Ns); bzt evaluates the property's default
for its own arithmetic, JMeter the property when the thread groups start.
"""

from __future__ import annotations

import os
import shutil
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from salvo.common.errors import ScenarioError
from salvo.executor.scenario.executions import Execution

__all__ = [
    "GATE_SCRIPT",
    "JMETER",
    "JMeterInstall",
    "gate_jmeter_executions",
    "jmeter_overrides",
    "locate_jmeter",
    "share_expression",
]

JMETER = "jmeter"
GATE_SCRIPT = "salvo-gate.groovy"


@dataclass(frozen=True)
class JMeterInstall:
    command: Path  # bin/jmeter
    gate_script: Path  # bin/salvo-gate.groovy beside it

    @property
    def version(self) -> str | None:
        """JMeter's version, from its core jar's manifest (lib/ext/ApacheJMeter_core*.jar); None if unreadable."""
        home = self.command.resolve().parent.parent
        for jar in sorted((home / "lib" / "ext").glob("ApacheJMeter_core*.jar")):
            try:
                with zipfile.ZipFile(jar) as archive:
                    manifest = archive.read("META-INF/MANIFEST.MF").decode("utf-8", "replace")
            except (OSError, KeyError, zipfile.BadZipFile):
                continue
            for line in manifest.splitlines():
                name, _, value = line.partition(":")
                if name.strip() == "Implementation-Version" and value.strip():
                    return value.strip()
        return None


def locate_jmeter(configured_path: str | None) -> JMeterInstall:
    """The JMeter bzt will run (modules.jmeter.path, else `jmeter` on PATH) and its start gate."""
    command = os.path.expanduser(configured_path) if configured_path else shutil.which(JMETER)
    if command and Path(command).is_dir():
        command = str(Path(command) / "bin" / JMETER)
    if not command or not Path(command).exists():
        raise ScenarioError(
            "a jmeter execution needs JMeter, which this image does not have: use the salvo-executor-jmeter image"
        )
    script = Path(command).resolve().parent / GATE_SCRIPT
    if not script.is_file():
        raise ScenarioError(
            f"the JMeter at {command} has no Salvo start gate ({script} is missing), so its load could not start "
            "with the fleet: use the salvo-executor-jmeter image or scripts/install-jmeter.sh"
        )
    return JMeterInstall(command=Path(command), gate_script=script)


def share_expression(total: int) -> str:
    return f"${{__P(salvo.share.of.{total},{total})}}"


def gate_jmeter_executions(items: list[dict[str, Any]], executions: list[Execution]) -> list[int]:
    """Point every jmeter execution's concurrency at its share property; the totals the gate must split."""
    totals: list[int] = []
    for item, execution in zip(items, executions, strict=True):
        if execution.executor != JMETER:
            continue
        total = item.get("concurrency")
        if isinstance(total, str) and total.strip().isdigit():
            total = int(total.strip())
        if isinstance(total, int) and not isinstance(total, bool):
            item["concurrency"] = share_expression(total)
            totals.append(total)
    return sorted(set(totals))


def jmeter_overrides(install: JMeterInstall, totals: list[int]) -> dict[str, Any]:
    """bzt settings for a gated JMeter: this JMeter, nothing downloaded or installed at run time
    (no plugins: standard thread groups), the gate's start-up script and the totals it splits."""
    properties = {
        "jsr223.init.file": str(install.gate_script),
        "salvo.share.totals": ",".join(map(str, totals)),
        "sampleresult.timestamp.start": True,  # as JMeter ships it, but Salvo's reading depends on it
    }
    return {
        "modules": {
            JMETER: {
                "path": str(install.command),
                "detect-plugins": False,
                "force-ctg": False,
                "plugins": [],
                "properties": properties,
            }
        }
    }
