"""From a fetched S3 object to a scenario: its folder, its entry and the entry's kind.

`unpack` places the object in the work folder (bundles through
`salvo.executor.scenario.bundle`) and finds its entry. What is checked before the start
is `salvo.executor.scenario.checks`; the run's bzt config, `salvo.executor.scenario.bztconfig`.
Every problem is a ScenarioError (exit 3) with one line naming the object.
"""

from __future__ import annotations

import logging
import shutil
from dataclasses import dataclass
from enum import Enum
from pathlib import Path

from salvo.common.errors import ScenarioError
from salvo.executor.scenario.bundle import BundleLimits, safe_extract
from salvo.executor.scenario.taurus import TAURUS_KEYS, parse_documents

__all__ = ["BundleLimits", "EntryKind", "Scenario", "safe_extract", "unpack"]

log = logging.getLogger(__name__)

TAURUS_SUFFIXES = (".yml", ".yaml", ".json")
SNIFF_MAX_BYTES = 1 << 20  # bigger .yml/.json files in a bundle are data, not configs


class EntryKind(str, Enum):
    TAURUS = "taurus"
    LOCUSTFILE = "locustfile"


@dataclass(frozen=True)
class Scenario:
    root: Path  # folder holding the scenario
    entry: Path  # absolute path of the Taurus config or locustfile inside root
    kind: EntryKind
    sha256: str  # of the fetched S3 object


# --- unpacking ---------------------------------------------------------------------


def unpack(
    object_path: Path,
    object_name: str,
    sha256: str,
    workdir: Path,
    *,
    entry: str | None,
    limits: BundleLimits,
    source: str | None = None,
) -> Scenario:
    """Place the object under workdir/scenario (extracting bundles) and find its entry.

    The kind follows the object name's suffix. Raises ScenarioError for an
    unsupported suffix, an unsafe bundle, or a bundle without a clear entry.
    `source` (the s3:// URI it came from) names the bundle in a refusal of its index.
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
        safe_extract(object_path, root, limits, name=name, source=source)
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
        documents = parse_documents(path)
    except ScenarioError:
        return True
    return any(isinstance(doc, dict) and {str(k).lstrip("~^$") for k in doc} & TAURUS_KEYS for doc in documents)
