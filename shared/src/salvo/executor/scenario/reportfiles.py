"""The files a scenario's own `reporting:` modules write, moved into the run's artifacts folder.

AWS DLT adds `reporting: [{module: final-stats, ..., dump-xml: /tmp/artifacts/results.xml}]`
to every test.json it saves: its container has that folder, Salvo's does not, and
bzt stops with FileNotFoundError at the end of the run. Every output path of a
reporting module (below) becomes a file of the same name in the run's artifacts
folder, which the executor uploads with the run's results
({SALVO_RESULTS_URI}{run}/executors/{id}/results.xml, where DLT's results parser
can read it). The module's other options (summary-labels, test-duration ...)
are kept, so the file is the one DLT would have written.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

from salvo.common.errors import ScenarioError
from salvo.common.layout import SUMMARY

__all__ = ["OUTPUT_KEYS", "RESERVED_NAMES", "ReportOutput", "parse_report_outputs", "redirect_report_outputs"]

OUTPUT_KEYS = {"final-stats": ("dump-xml", "dump-csv"), "junit-xml": ("filename",)}  # bzt's file-writing reporters
RESERVED_NAMES = frozenset({"final-stats.xml", "final-stats.csv", SUMMARY})  # Salvo's own files in the folder


@dataclass(frozen=True)
class ReportOutput:
    position: int  # of the module under reporting:
    module: str
    key: str
    given: str  # the path the scenario names
    name: str  # the file's name in the run's artifacts folder

    def path(self, artifacts_dir: Path) -> Path:
        return artifacts_dir / self.name


def parse_report_outputs(config: dict[str, Any]) -> list[ReportOutput]:
    """Every output file of `config`'s reporting modules, in order, with the name it gets in the artifacts.

    A file keeps its name unless Salvo's own files or an earlier output have it (then report-N-<name>).
    Raises ScenarioError for a reporting section or an output path of the wrong type.
    """
    reporting = config.get("reporting")
    if reporting is None:
        return []
    if not isinstance(reporting, list):
        raise ScenarioError(f"reporting: must be a list of modules, not a {type(reporting).__name__}")
    taken = set(RESERVED_NAMES)
    outputs = []
    for position, item in enumerate(reporting):
        if not isinstance(item, dict):
            continue  # a bare module name ("final-stats") writes no file
        module = str(item.get("module", ""))
        for key in OUTPUT_KEYS.get(module, ()):
            given = item.get(key)
            if given is None or given == "":
                continue
            if not isinstance(given, str):
                raise ScenarioError(f"reporting: {module} {key}: must be a file path, not a {type(given).__name__}")
            base = PurePosixPath(given.replace("\\", "/")).name
            if base in ("", ".", ".."):
                base = f"{module}-{key}"
            name, number = base, 0
            while name in taken:
                number += 1
                name = f"report-{number}-{base}"
            taken.add(name)
            outputs.append(ReportOutput(position, module, key, given, name))
    return outputs


def redirect_report_outputs(config: dict[str, Any], outputs: list[ReportOutput], artifacts_dir: Path) -> None:
    """Point each of `outputs` (parsed from `config` or the config it is a copy of) into `artifacts_dir`, in place."""
    for output in outputs:
        config["reporting"][output.position][output.key] = str(output.path(artifacts_dir))
