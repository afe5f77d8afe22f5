"""JMeter executions held at Salvo's start gate.

JMeter starts (JVM, plan loading) while the executor arms; Salvo's gate, a JMeter
TestStateListener installed by the start-up script `bin/salvo-gate.groovy` of the
image's JMeter (jmeter/salvo-gate), blocks the engine before any thread group
starts and lets go at start_at. It speaks the lines of `salvo.executor.gate`.

Fleet mode: an execution's `concurrency: N` becomes `${__P(salvo.share.of.N,N)}`,
a JMeter property the gate sets to this executor's share of N when the start
arrives (`salvo.share.totals` lists the Ns); bzt evaluates the property's default
for its own arithmetic, JMeter the property when the thread groups start.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Any

from salvo.common.errors import ScenarioError
from salvo.executor.executions import Execution

__all__ = ["GATE_SCRIPT", "JMETER", "gate_script", "jmeter_overrides", "share_expression"]

JMETER = "jmeter"
GATE_SCRIPT = "salvo-gate.groovy"


def gate_script(configured_path: str | None) -> Path:
    """The start-up script of the JMeter bzt will run (modules.jmeter.path, else `jmeter` on PATH)."""
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
    return script


def share_expression(total: int) -> str:
    return f"${{__P(salvo.share.of.{total},{total})}}"


def gate_jmeter_executions(items: list[dict[str, Any]], executions: list[Execution]) -> list[int]:
    """Point every jmeter execution's concurrency at its share property; the totals the gate must split."""
    totals: list[int] = []
    for item, execution in zip(items, executions):
        if execution.executor != JMETER:
            continue
        total = item.get("concurrency")
        if isinstance(total, str) and total.strip().isdigit():
            total = int(total.strip())
        if isinstance(total, int) and not isinstance(total, bool):
            item["concurrency"] = share_expression(total)
            totals.append(total)
    return sorted(set(totals))


def jmeter_overrides(script: Path, totals: list[int]) -> dict[str, Any]:
    """bzt settings for a gated JMeter: the gate's start-up script and the totals it splits."""
    return {"modules": {JMETER: {"properties": {
        "jsr223.init.file": str(script),
        "salvo.share.totals": ",".join(map(str, totals)),
        "sampleresult.timestamp.start": True,  # as JMeter ships it, but Salvo's reading depends on it
    }}}}
