"""The images install on linux/amd64 and linux/arm64: every lock pin has an installable artifact hashed
for each, checked offline (requirements/artifacts.json names the file behind each hash; scripts/lock.py
writes both), and the Dockerfiles name no architecture."""

from __future__ import annotations

import importlib.util
import json
import re
from pathlib import Path

import pytest
from packaging.utils import canonicalize_name
from packaging.version import Version

REPO = Path(__file__).resolve().parents[2]
LOCKS = sorted((REPO / "requirements").glob("*.lock"))
FILES: dict[str, str] = json.loads((REPO / "requirements" / "artifacts.json").read_text())["files"]
# No arm64 wheel on PyPI (C extensions): on arm64 the images build these from the locked sdist, with the
# C toolchain images/install-locked.sh installs for that build.
COMPILED_ON_ARM64 = {"hdrhistogram", "fuzzyset2"}
OLDEST_GLIBC = (2, 36)  # Debian bookworm, the stand-in base image

_spec = importlib.util.spec_from_file_location("salvo_lock_script", REPO / "scripts" / "lock.py")
lock_script = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(lock_script)


def pins(lock: Path) -> dict[tuple[str, str], list[str]]:
    _, blocks = lock_script.split_blocks(lock.read_text())
    found = {}
    for block in blocks:
        pin = lock_script.PIN.match(block[0])
        found[(pin["name"], pin["version"])] = lock_script.HASH.findall("\n".join(block))
    return found


def test_there_are_locks_to_check():
    assert {lock.name for lock in LOCKS} >= {"executor.lock", "controller.lock", "rehearsal.lock"}


@pytest.mark.parametrize("lock", LOCKS, ids=lambda lock: lock.name)
def test_every_hash_is_a_known_file_of_its_own_pin(lock):
    for (name, version), hashes in pins(lock).items():
        assert hashes, f"{lock.name}: {name}=={version} has no hash"
        for sha256 in hashes:
            assert sha256 in FILES, f"{lock.name}: {name}=={version}: unknown hash {sha256}: run scripts/lock.py"
            file_name, file_version, _ = lock_script.artifact(FILES[sha256])
            assert (file_name, file_version) == (canonicalize_name(name), Version(version)), FILES[sha256]


@pytest.mark.parametrize("python", [(3, 11), (3, 12)], ids=["cp311", "cp312"])
@pytest.mark.parametrize("arch", ["x86_64", "aarch64"])
def test_every_pin_installs_on_each_architecture(arch, python):
    tags = lock_script.installable_tags(arch, python, OLDEST_GLIBC)
    problems = []
    for lock in LOCKS:
        for (name, version), hashes in pins(lock).items():
            files = [lock_script.artifact(FILES[h]) for h in hashes]
            if any(tags_ is not None and tags_ & tags for _, _, tags_ in files):
                continue  # a wheel
            has_sdist = any(tags_ is None for _, _, tags_ in files)
            pure = all(tags_ is None or any(t.platform == "any" for t in tags_) for _, _, tags_ in files)
            if has_sdist and (pure or (arch == "aarch64" and canonicalize_name(name) in COMPILED_ON_ARM64)):
                continue  # built from its sdist
            problems.append(f"{lock.name}: {name}=={version} ({[FILES[h] for h in hashes][:3]} ...)")
    assert not problems, f"no installable artifact on {arch} for CPython {python}:\n" + "\n".join(problems)


def test_the_packages_compiled_on_arm64_really_lack_a_wheel_there():
    tags = lock_script.installable_tags("aarch64", (3, 12), OLDEST_GLIBC)
    locked = {canonicalize_name(name): hashes for lock in LOCKS for (name, _), hashes in pins(lock).items()}
    for name in COMPILED_ON_ARM64:
        assert name in locked, f"{name} is no longer locked: drop it from COMPILED_ON_ARM64"
        assert not any((lock_script.artifact(FILES[h])[2] or set()) & tags for h in locked[name]), (
            f"{name} now has an arm64 wheel: drop it from COMPILED_ON_ARM64"
        )


@pytest.mark.parametrize("dockerfile", sorted((REPO / "images").glob("*/Dockerfile")), ids=lambda p: p.parent.name)
def test_dockerfiles_name_no_architecture_and_no_invented_source(dockerfile):
    text = dockerfile.read_text()
    assert not re.search(r"amd64|x86_64|x86-64|aarch64|arm64", text, re.IGNORECASE)
    assert re.search(r'org\.opencontainers\.image\.source="\$\{\w+\}"', text), "the source label is a build argument"
    assert "ARG SOURCE_URL=\n" in text
