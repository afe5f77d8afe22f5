"""A zip's entry count from its end records and a bounded walk of its central directory, before zipfile reads it.

zipfile.ZipFile reads the whole central directory and builds a ZipInfo per entry
before anyone can count them: half a million entries cost hundreds of MB and
seconds. `check_entry_count` reads only the file's tail (the end-of-central-
directory record sits in the last 65,535 + 22 bytes, the ZIP64 locator and
record just before it), refuses a claimed count over the limit at once, then
walks the central directory header by header - constant memory, at most
limit + 1 headers - so that an end record understating its count is refused too.
Records are found where zipfile looks for them, so the count checked is that of
the directory zipfile would read.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from salvo.common.errors import ScenarioError

EOCD = struct.Struct("<4s4H2LH")  # signature, disk, cd disk, entries here, entries total, cd size, cd offset, comment
EOCD_SIGNATURE = b"PK\x05\x06"
ZIP64_LOCATOR = struct.Struct("<4sLQL")  # signature, disk of the ZIP64 record, its offset, disks
ZIP64_LOCATOR_SIGNATURE = b"PK\x06\x07"
ZIP64_EOCD = struct.Struct("<4sQ2H2L4Q")  # signature, size, versions, disks, entries here, total, cd size, cd offset
ZIP64_EOCD_SIGNATURE = b"PK\x06\x06"
CENTRAL_HEADER_SIZE = 46  # fixed part of a central directory header; name, extra, comment lengths at 28, 30, 32
CENTRAL_SIGNATURE = b"PK\x01\x02"
MAX_COMMENT = 0xFFFF
TAIL = EOCD.size + MAX_COMMENT  # the last bytes that can hold the end record


class NotAZip(ScenarioError):
    """The bundle has no readable zip end record (truncated, or not a zip at all).

    Build the bundle again with a zip tool (or `salvo upload`, which checks it) and upload it.
    """


class TooManyEntries(ScenarioError):
    """The bundle holds more entries than SALVO_BUNDLE_MAX_FILES; its index was not read.

    Remove files from the bundle (data belongs in SALVO_DATA_URI), or raise SALVO_BUNDLE_MAX_FILES.
    """


@dataclass(frozen=True)
class ZipEnd:
    """What a zip's end records say about its central directory."""

    entries: int  # the larger of the "on this disk" and "total" counts
    cd_start: int  # where zipfile will start reading the central directory
    cd_size: int
    zip64: bool


def read_end(handle: BinaryIO, label: str) -> ZipEnd:
    """Parse the end-of-central-directory record (and the ZIP64 one, if located) from the file's tail only.

    NotAZip, its message starting with `label`, when there is none.
    """
    size = handle.seek(0, 2)
    tail_start = max(0, size - TAIL)
    handle.seek(tail_start)
    tail = handle.read(size - tail_start)
    if len(tail) >= EOCD.size and tail[-EOCD.size : -EOCD.size + 4] == EOCD_SIGNATURE and tail[-2:] == b"\0\0":
        at = len(tail) - EOCD.size  # no comment: zipfile's first guess
    else:
        at = tail.rfind(EOCD_SIGNATURE)
        if at < 0 or len(tail) - at < EOCD.size:
            raise NotAZip(
                f"{label}: not a readable zip file (no end-of-central-directory record in its last "
                f"{TAIL} bytes: truncated, or not a zip)"
            )
    _, _, _, here, total, cd_size, _cd_offset, _ = EOCD.unpack_from(tail, at)
    position = tail_start + at
    zip64 = _zip64_end(handle, position)
    if zip64 is not None:
        here, total, cd_size = zip64
        cd_start = position - ZIP64_LOCATOR.size - ZIP64_EOCD.size - cd_size
    else:
        cd_start = position - cd_size
    if cd_start < 0:
        raise NotAZip(
            f"{label}: not a readable zip file (its central directory of {cd_size} bytes would start "
            f"before the file does)"
        )
    return ZipEnd(entries=max(here, total), cd_start=cd_start, cd_size=cd_size, zip64=zip64 is not None)


def _zip64_end(handle: BinaryIO, eocd_position: int) -> tuple[int, int, int] | None:
    """(entries here, entries total, cd size) from the ZIP64 record right before the locator, as zipfile reads it."""
    locator_at = eocd_position - ZIP64_LOCATOR.size
    record_at = locator_at - ZIP64_EOCD.size
    if record_at < 0:
        return None
    handle.seek(locator_at)
    locator = handle.read(ZIP64_LOCATOR.size)
    if len(locator) != ZIP64_LOCATOR.size or locator[:4] != ZIP64_LOCATOR_SIGNATURE:
        return None
    handle.seek(record_at)
    record = handle.read(ZIP64_EOCD.size)
    if len(record) != ZIP64_EOCD.size or record[:4] != ZIP64_EOCD_SIGNATURE:
        return None
    _, _, _, _, _, _, here, total, cd_size, _ = ZIP64_EOCD.unpack(record)
    return here, total, cd_size


def count_central_entries(handle: BinaryIO, end: ZipEnd, stop_after: int) -> int:
    """How many headers the central directory really holds, counting no further than `stop_after` + 1.

    A header that is cut short or lacks its signature ends the walk: zipfile
    will refuse that directory itself, with its own message.
    """
    handle.seek(end.cd_start)
    position, stop, count = end.cd_start, end.cd_start + end.cd_size, 0
    while position < stop and count <= stop_after:
        header = handle.read(CENTRAL_HEADER_SIZE)
        if len(header) != CENTRAL_HEADER_SIZE or header[:4] != CENTRAL_SIGNATURE:
            break
        name_length, extra_length, comment_length = struct.unpack_from("<3H", header, 28)
        skip = name_length + extra_length + comment_length
        handle.seek(skip, 1)
        position += CENTRAL_HEADER_SIZE + skip
        count += 1
    return count


def check_entry_count(zip_path: Path, max_files: int, *, name: str, source: str | None = None) -> ZipEnd:
    """Refuse a zip with more than `max_files` entries without zipfile reading its index.

    TooManyEntries names the bundle (`source`, its s3:// URI, else `name`), the
    count and the limit; NotAZip, naming it too, when there is no end record to read.
    """
    label = f"bundle {source or name}"
    with open(zip_path, "rb") as handle:
        end = read_end(handle, label)
        if end.entries > max_files:
            raise TooManyEntries(f"{label}: {end.entries} entries, over SALVO_BUNDLE_MAX_FILES={max_files}")
        found = count_central_entries(handle, end, max_files)
    if found > max_files:
        raise TooManyEntries(
            f"{label}: more than {max_files} entries in its central directory (its end record claims "
            f"{end.entries}), over SALVO_BUNDLE_MAX_FILES={max_files}"
        )
    return end
