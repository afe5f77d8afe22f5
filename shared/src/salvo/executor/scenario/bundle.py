"""Safe extraction of scenario bundles (.zip).

The entry count is checked from the zip's end records before zipfile reads its
index (`salvo.executor.scenario.zipindex`). Every member is checked before anything is
written. Refused, with the member named: absolute paths and `..` traversal,
links of any kind (a zip symlink could point anywhere, so none are kept),
encrypted members, duplicate names, a file where a folder is needed, more
members than allowed, and more bytes than allowed, declared or actual: the
bytes are counted while inflating, and a member that inflates to something
other than its header says fails its CRC. Nothing is ever written outside the
destination, and a refused bundle leaves the destination empty.
"""

from __future__ import annotations

import lzma
import shutil
import stat
import struct
import zipfile
import zlib
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from salvo.common.errors import ScenarioError
from salvo.executor.scenario.zipindex import check_entry_count

CHUNK = 1 << 16
# What zipfile raises on a damaged or unsupported member while reading it.
_READ_ERRORS = (
    zipfile.BadZipFile,
    zlib.error,
    lzma.LZMAError,
    EOFError,
    RuntimeError,
    NotImplementedError,
    ValueError,
    struct.error,
)


@dataclass(frozen=True)
class BundleLimits:
    max_bytes: int  # total uncompressed bytes (SALVO_BUNDLE_MAX_BYTES)
    max_files: int  # members, folders included (SALVO_BUNDLE_MAX_FILES)


def safe_extract(
    zip_path: Path, dest: Path, limits: BundleLimits, *, name: str | None = None, source: str | None = None
) -> list[Path]:
    """Extract `zip_path` into `dest` (created if missing; must be empty) and return the files written.

    Raises ScenarioError naming the bundle (`name`, default the file's name; a
    refused entry count names `source`, its s3:// URI, when given), the
    offending member and the reason; `dest` is then left empty. A non-empty
    `dest` is a programming error (ValueError).
    """
    name = name or zip_path.name
    root = _empty_dir(dest)
    check_entry_count(zip_path, limits.max_files, name=name, source=source)  # before zipfile reads the index
    try:
        bundle = zipfile.ZipFile(zip_path)
    except Exception as exc:  # the constructor only parses: whatever it raises means "not a zip we can read"
        raise ScenarioError(f"{name}: not a readable zip file ({exc})") from None
    with bundle:
        members = bundle.infolist()
        _check_totals(members, limits, name)
        planned = _plan(members, root, name)
        try:
            return _write_all(bundle, planned, limits.max_bytes, name)
        except BaseException:
            _clear(root)
            raise


def _check_totals(members: list[zipfile.ZipInfo], limits: BundleLimits, bundle_name: str) -> None:
    if len(members) > limits.max_files:
        raise ScenarioError(
            f"{bundle_name}: {len(members)} members, more than SALVO_BUNDLE_MAX_FILES={limits.max_files}"
        )
    declared = sum(m.file_size for m in members)
    if declared > limits.max_bytes:
        raise ScenarioError(
            f"{bundle_name}: unpacks to {declared} bytes, more than SALVO_BUNDLE_MAX_BYTES={limits.max_bytes}"
        )


def _empty_dir(dest: Path) -> Path:
    dest.mkdir(parents=True, exist_ok=True)
    if any(dest.iterdir()):
        raise ValueError(f"safe_extract needs an empty destination, {dest} is not")
    return dest.resolve()


def _plan(members: list[zipfile.ZipInfo], root: Path, bundle_name: str) -> list[tuple[zipfile.ZipInfo, Path]]:
    """Where each member goes; refuses the whole bundle on the first unsafe member."""
    planned = [(member, _target(member, root, bundle_name)) for member in members]
    files: dict[Path, str] = {}
    for member, target in planned:
        if not member.is_dir():
            if target in files or target == root:
                raise ScenarioError(f"{bundle_name}: member {member.filename!r} appears twice or names the bundle root")
            files[target] = member.filename
    for member, target in planned:
        folders = target.parents if not member.is_dir() else (target, *target.parents)
        clash = next((files[p] for p in folders if p in files), None)
        if clash is not None:
            raise ScenarioError(
                f"{bundle_name}: member {member.filename!r} needs a folder where member {clash!r} is a file"
            )
    return planned


def _target(member: zipfile.ZipInfo, root: Path, bundle_name: str) -> Path:
    filename = member.filename
    if not filename.strip("/"):
        raise ScenarioError(f"{bundle_name}: a member has an empty name")
    if stat.S_ISLNK(member.external_attr >> 16):
        raise ScenarioError(f"{bundle_name}: member {filename!r} is a symbolic link; bundles may not contain links")
    if member.flag_bits & 0x1:
        raise ScenarioError(f"{bundle_name}: member {filename!r} is encrypted; bundles may not use passwords")
    posix = PurePosixPath(filename.replace("\\", "/"))
    if posix.is_absolute() or (posix.parts and ":" in posix.parts[0]):
        raise ScenarioError(f"{bundle_name}: member {filename!r} has an absolute path")
    if ".." in posix.parts:
        raise ScenarioError(f"{bundle_name}: member {filename!r} would be written outside the bundle (path traversal)")
    target = (root / Path(*posix.parts)).resolve() if posix.parts else root
    if not target.is_relative_to(root):
        raise ScenarioError(f"{bundle_name}: member {filename!r} would be written outside the bundle")
    return target


def _write_all(
    bundle: zipfile.ZipFile, planned: list[tuple[zipfile.ZipInfo, Path]], max_bytes: int, bundle_name: str
) -> list[Path]:
    written: list[Path] = []
    budget = max_bytes
    for member, target in planned:
        try:
            if member.is_dir():
                target.mkdir(parents=True, exist_ok=True)
                continue
            target.parent.mkdir(parents=True, exist_ok=True)
            budget = _copy_bounded(bundle, member, target, budget, bundle_name, max_bytes)
        except OSError as exc:
            raise ScenarioError(
                f"{bundle_name}: member {member.filename!r} cannot be written ({exc.strerror or exc})"
            ) from None
        if (member.external_attr >> 16) & 0o111:
            target.chmod(0o755)  # keep scripts executable; never setuid/setgid
        written.append(target)
    return written


def _copy_bounded(
    bundle: zipfile.ZipFile, member: zipfile.ZipInfo, target: Path, budget: int, bundle_name: str, max_bytes: int
) -> int:
    with open(target, "wb") as out:
        try:
            with bundle.open(member) as source:
                while chunk := source.read(CHUNK):
                    budget -= len(chunk)
                    if budget < 0:
                        raise ScenarioError(
                            f"{bundle_name}: member {member.filename!r} inflates past "
                            f"SALVO_BUNDLE_MAX_BYTES={max_bytes} (zip bomb?)"
                        )
                    out.write(chunk)
        except _READ_ERRORS as exc:
            # zipfile stops at the declared size and then fails the CRC: a bomb lying in its headers lands here
            raise ScenarioError(
                f"{bundle_name}: member {member.filename!r} is corrupt or lies about its size ({exc})"
            ) from None
    return budget


def _clear(root: Path) -> None:
    for child in root.iterdir():
        if child.is_dir() and not child.is_symlink():
            shutil.rmtree(child, ignore_errors=True)
        else:
            child.unlink(missing_ok=True)
