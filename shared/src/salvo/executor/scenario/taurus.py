"""Read a Taurus config as bzt reads it: YAML, JSON, several documents merged.

Only reading lives here; what each execution runs is `salvo.executor.scenario.executions`.
Every problem is a ScenarioError with one line naming the file.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import yaml

from salvo.common.errors import ScenarioError

__all__ = ["TAURUS_KEYS", "load_taurus_config", "parse_documents", "section"]

TAURUS_KEYS = {"execution", "scenarios", "included-configs"}  # top-level keys that make a file a config
_TAB_INDENT = re.compile(r"^( *)(\t+)( *\S*)", re.MULTILINE)  # bzt turns tab indents into 4 spaces


def load_taurus_config(path: Path) -> dict[str, Any]:
    """The file's documents merged into one mapping, as bzt merges them.

    Raises ScenarioError naming the file, with line and column for broken syntax,
    when the file is not UTF-8, or when it is not a mapping.
    """
    config: dict[str, Any] = {}
    for document in parse_documents(path):
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


def parse_documents(path: Path) -> list[Any]:
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


def section(config: dict[str, Any], name: str) -> dict[str, Any]:
    """A top-level mapping such as settings: or scenarios: ({} when absent)."""
    value = config.get(name)
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise ScenarioError(f"{name}: must be a mapping, not a {type(value).__name__}")
    return value


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
