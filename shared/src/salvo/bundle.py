"""Safe extraction of scenario bundles (.zip).

Refused, with the member named: absolute paths and `..` traversal, links (a zip
symlink could point anywhere), more members than allowed, and more bytes than
allowed — counted while decompressing, because a zip bomb lies in its headers.
Nothing is ever written outside the destination.
"""

from __future__ import annotations

import shutil
import stat
import zipfile
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from salvo.errors import ScenarioError

CHUNK = 1 << 16


@dataclass(frozen=True)
class BundleLimits:
    max_bytes: int
    max_files: int


def safe_extract(zip_path: Path, dest: Path, limits: BundleLimits) -> list[Path]:
    name = zip_path.name
    try:
        bundle = zipfile.ZipFile(zip_path)
    except (zipfile.BadZipFile, OSError) as exc:
        raise ScenarioError(f"{name}: not a readable zip file ({exc})") from None
    with bundle:
        members = bundle.infolist()
        if len(members) > limits.max_files:
            raise ScenarioError(f"{name}: {len(members)} members, more than SALVO_BUNDLE_MAX_FILES={limits.max_files}")
        declared = sum(m.file_size for m in members)
        if declared > limits.max_bytes:
            raise ScenarioError(
                f"{name}: unpacks to {declared} bytes, more than SALVO_BUNDLE_MAX_BYTES={limits.max_bytes}"
            )
        root = dest.resolve()
        planned = [(member, _target(member, root, name)) for member in members]
        written: list[Path] = []
        budget = limits.max_bytes
        member = None
        try:
            for member, target in planned:
                if member.is_dir():
                    target.mkdir(parents=True, exist_ok=True)
                    continue
                target.parent.mkdir(parents=True, exist_ok=True)
                budget = _copy_bounded(bundle, member, target, budget, name, limits.max_bytes)
                written.append(target)
        except (ScenarioError, zipfile.BadZipFile, OSError, EOFError) as exc:
            shutil.rmtree(dest, ignore_errors=True)
            dest.mkdir(parents=True, exist_ok=True)
            if isinstance(exc, ScenarioError):
                raise
            # zipfile stops at the declared size and fails the CRC: a bomb lying in its headers lands here
            raise ScenarioError(f"{name}: member {member.filename!r} is corrupt or lies about its size ({exc})") from None
    return written


def _target(member: zipfile.ZipInfo, root: Path, bundle_name: str) -> Path:
    filename = member.filename
    mode = member.external_attr >> 16
    if stat.S_ISLNK(mode):
        raise ScenarioError(f"{bundle_name}: member {filename!r} is a symbolic link; bundles may not contain links")
    posix = PurePosixPath(filename.replace("\\", "/"))
    if posix.is_absolute() or (posix.parts and ":" in posix.parts[0]):
        raise ScenarioError(f"{bundle_name}: member {filename!r} has an absolute path")
    if ".." in posix.parts:
        raise ScenarioError(f"{bundle_name}: member {filename!r} would be written outside the bundle (path traversal)")
    target = (root / Path(*posix.parts)).resolve() if posix.parts else root
    if not target.is_relative_to(root):
        raise ScenarioError(f"{bundle_name}: member {filename!r} would be written outside the bundle")
    return target


def _copy_bounded(bundle: zipfile.ZipFile, member: zipfile.ZipInfo, target: Path, budget: int,
                  bundle_name: str, max_bytes: int) -> int:
    with bundle.open(member) as source, open(target, "wb") as out:
        while chunk := source.read(CHUNK):
            budget -= len(chunk)
            if budget < 0:
                raise ScenarioError(
                    f"{bundle_name}: member {member.filename!r} inflates past SALVO_BUNDLE_MAX_BYTES={max_bytes} "
                    "(zip bomb?)"
                )
            out.write(chunk)
    return budget
