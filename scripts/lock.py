"""Give every pin of requirements/*.lock the hashes of its linux/amd64 AND linux/arm64 artifacts.

pip-compile --generate-hashes resolves on, and hashes the files offered to, the machine it runs on;
the images are built for linux/amd64 and linux/arm64 (Graviton). The procedure (`make lock`):

1. To change pins, run the pip-compile command in the lock's header (with --no-emit-index-url
   --no-emit-find-links). The resolution is the same on both architectures: no locked package
   has a dependency marker on the machine. This script keeps the pins as they are.
2. `python scripts/lock.py [LOCK ...]` (default: every requirements/*.lock) asks PyPI's JSON simple
   API (PEP 691) for each pinned version's files and their sha256, and writes as the pin's hashes
   those of the sdist and of every wheel a CPython 3.11 or 3.12 image on manylinux x86_64 or
   aarch64 can install. requirements/artifacts.json records the file behind each hash, so that
   tests/unit/test_locks.py checks offline that every pin installs on both architectures.

Needs `packaging` and network access to https://pypi.org (or PYPI_SIMPLE_URL, a mirror's /simple/).
"""

from __future__ import annotations

import argparse
import concurrent.futures
import json
import os
import re
import sys
import urllib.request
from pathlib import Path

from packaging.tags import Tag, compatible_tags, cpython_tags
from packaging.utils import (
    InvalidSdistFilename,
    InvalidWheelFilename,
    canonicalize_name,
    parse_sdist_filename,
    parse_wheel_filename,
)
from packaging.version import Version

REPO = Path(__file__).resolve().parents[1]
ARTIFACTS = REPO / "requirements" / "artifacts.json"
SIMPLE = os.environ.get("PYPI_SIMPLE_URL", "https://pypi.org/simple/")
PYTHONS = ((3, 11), (3, 12))  # the stand-in base (Debian bookworm) and python:3.12-slim
ARCHITECTURES = ("x86_64", "aarch64")
NEWEST_GLIBC = (2, 41)  # Debian trixie; bookworm has 2.36
PIN = re.compile(r"^(?P<name>[A-Za-z0-9][A-Za-z0-9._\-]*)(?:\[[^\]]*\])?==(?P<version>\S+)")
HASH = re.compile(r"--hash=sha256:([0-9a-f]{64})")
MACHINE_SPECIFIC = ("--extra-index-url file:", "--find-links ", "--index-url file:")


def manylinux_platforms(arch: str, glibc: tuple[int, int] = NEWEST_GLIBC) -> list[str]:
    platforms = [f"manylinux_2_{minor}_{arch}" for minor in range(glibc[1], 4, -1)]
    legacy = {"manylinux2014": 17, "manylinux2010": 12, "manylinux1": 5}
    return platforms + [
        f"{alias}_{arch}"
        for alias, minor in legacy.items()
        if minor <= glibc[1] and (alias == "manylinux2014" or arch == "x86_64")
    ]


def installable_tags(arch: str, python: tuple[int, int], glibc: tuple[int, int] = NEWEST_GLIBC) -> set[Tag]:
    """The wheel tags pip accepts for CPython `python` on manylinux `arch` with that glibc."""
    platforms = manylinux_platforms(arch, glibc)
    return set(cpython_tags(python, platforms=platforms)) | set(
        compatible_tags(python, interpreter=f"cp{python[0]}{python[1]}", platforms=platforms)
    )


def artifact(filename: str) -> tuple[str, Version, frozenset[Tag] | None] | None:
    """(name, version, wheel tags or None for an sdist), or None for anything else."""
    try:
        if filename.endswith(".whl"):
            name, version, _, tags = parse_wheel_filename(filename)
            return name, version, tags
        name, version = parse_sdist_filename(filename)
        return name, version, None
    except (InvalidWheelFilename, InvalidSdistFilename):
        return None


def wanted(filename: str, tags: set[Tag]) -> bool:
    parsed = artifact(filename)
    return parsed is not None and (parsed[2] is None or bool(parsed[2] & tags))


def index_files(name: str) -> list[dict]:
    # the package index's simple API over https (pypi.org, or the operator's PYPI_SIMPLE_URL)
    request = urllib.request.Request(  # noqa: S310
        f"{SIMPLE}{canonicalize_name(name)}/", headers={"Accept": "application/vnd.pypi.simple.v1+json"}
    )
    with urllib.request.urlopen(request, timeout=120) as answer:  # noqa: S310
        return json.load(answer)["files"]


def pinned_files(name: str, version: str, tags: set[Tag]) -> dict[str, str]:
    """sha256 -> file name, for the files of name==version that an image may install."""
    chosen = {}
    for entry in index_files(name):
        parsed = artifact(entry["filename"])
        sha256 = entry.get("hashes", {}).get("sha256")
        if (
            sha256
            and parsed
            and parsed[0] == canonicalize_name(name)
            and parsed[1] == Version(version)
            and wanted(entry["filename"], tags)
        ):
            chosen[sha256] = entry["filename"]
    if not chosen:
        raise SystemExit(f"lock: {name}=={version} has no file on {SIMPLE} that an image could install")
    return chosen


def split_blocks(text: str) -> tuple[list[str], list[list[str]]]:
    """The header lines, then one list of lines per pin (its line, hashes and comments)."""
    header, blocks = [], []
    for line in text.splitlines():
        if PIN.match(line):
            blocks.append([line])
        elif blocks:
            blocks[-1].append(line)
        else:
            header.append(line)
    return header, blocks


def relock(path: Path, files: dict[tuple[str, str], dict[str, str]]) -> str:
    header, blocks = split_blocks(path.read_text())
    out = [line for line in header if not line.startswith(MACHINE_SPECIFIC)]
    for block in blocks:
        pin = PIN.match(block[0])
        hashes = sorted(files[(pin["name"], pin["version"])])
        comments = [line for line in block[1:] if not HASH.search(line)]
        out.append(block[0].rstrip(" \\") + " \\")
        out.extend(f"    --hash=sha256:{h}" + (" \\" if n < len(hashes) - 1 else "") for n, h in enumerate(hashes))
        out.extend(comments)
    while len(out) > 1 and out[-1] == "" and out[-2] == "":
        out.pop()
    return "\n".join(out) + "\n"


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("locks", nargs="*", type=Path, help="default: requirements/*.lock")
    locks = parser.parse_args(argv).locks or sorted((REPO / "requirements").glob("*.lock"))
    tags = set().union(*(installable_tags(arch, python) for arch in ARCHITECTURES for python in PYTHONS))
    pins = sorted(
        {
            (m["name"], m["version"])
            for lock in locks
            for block in split_blocks(lock.read_text())[1]
            if (m := PIN.match(block[0]))
        }
    )
    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        files = dict(zip(pins, pool.map(lambda pin: pinned_files(*pin, tags), pins), strict=True))
    for lock in locks:
        lock.write_text(relock(lock, files))
        print(f"lock: {lock.relative_to(REPO)}: {len(split_blocks(lock.read_text())[1])} pins re-hashed")
    known = json.loads(ARTIFACTS.read_text())["files"] if ARTIFACTS.exists() else {}
    known.update({sha256: filename for chosen in files.values() for sha256, filename in chosen.items()})
    in_use = {h for lock in sorted((REPO / "requirements").glob("*.lock")) for h in HASH.findall(lock.read_text())}
    ARTIFACTS.write_text(
        json.dumps(
            {
                "about": "sha256 -> file name of every artifact hashed in requirements/*.lock "
                "(written by scripts/lock.py)",
                "files": {h: known[h] for h in sorted(in_use) if h in known},
            },
            indent=1,
            sort_keys=True,
        )
        + "\n"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
