"""The versions of the load tools installed beside this executor, for its summary (and so the report)."""

from __future__ import annotations

from importlib import metadata

TOOLS = ("locust", "bzt")


def load_tool_versions() -> dict[str, str | None]:
    """Each tool's installed version; None for one that is not installed."""
    versions: dict[str, str | None] = {}
    for tool in TOOLS:
        try:
            versions[tool] = metadata.version(tool)
        except metadata.PackageNotFoundError:
            versions[tool] = None
    return versions
