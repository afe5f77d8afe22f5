"""Hostile zips for tests: many entries built fast with struct, and end records that lie or are cut off."""

from __future__ import annotations

import struct
import zlib

EOCD = struct.Struct("<4s4H2LH")
LOCAL = struct.Struct("<4s5H3L2H")  # 30 bytes
CENTRAL = struct.Struct("<4s6H3L5H2L")  # 46 bytes
ZIP64_EOCD = struct.Struct("<4sQ2H2L4Q")  # 56 bytes
ZIP64_LOCATOR = struct.Struct("<4sLQL")  # 20 bytes
EMPTY_CRC = zlib.crc32(b"")


def many_entries(count: int, first: dict[str, bytes] | None = None, *, zip64: bool | None = None) -> bytes:
    """A valid zip (stored, no compression) of the `first` members then `count` empty files d/0, d/1, …

    Built with struct, not zipfile: 200,000 entries take a fraction of a second.
    Ended the ZIP64 way when more than 65,535 entries (as zip tools do), unless `zip64` says otherwise.
    """
    local: list[bytes] = []
    central: list[bytes] = []
    offset = 0
    members = [(name.encode(), data) for name, data in (first or {}).items()]
    members += [(f"d/{n}".encode(), b"") for n in range(count)]
    for name, data in members:
        crc = zlib.crc32(data) if data else EMPTY_CRC
        header = LOCAL.pack(b"PK\x03\x04", 20, 0, 0, 0, 0x21, crc, len(data), len(data), len(name), 0) + name + data
        central.append(
            CENTRAL.pack(
                b"PK\x01\x02",
                20,
                20,
                0,
                0,
                0,
                0x21,
                crc,
                len(data),
                len(data),
                len(name),
                0,
                0,
                0,
                0,
                0o644 << 16,
                offset,
            )
            + name
        )
        local.append(header)
        offset += len(header)
    directory = b"".join(central)
    total = len(members)
    end = EOCD.pack(b"PK\x05\x06", 0, 0, min(total, 0xFFFF), min(total, 0xFFFF), len(directory), offset, 0)
    data = b"".join(local) + directory + end
    return with_zip64_end(data, claimed=total) if (total > 0xFFFF if zip64 is None else zip64) else data


def _end(data: bytes) -> tuple[int, int, int]:
    """(position, cd size, cd offset) of a comment-less zip's end record."""
    at = len(data) - EOCD.size
    signature, _, _, _, _, cd_size, cd_offset, _ = EOCD.unpack_from(data, at)
    assert signature == b"PK\x05\x06", "expects a zip without an archive comment"
    return at, cd_size, cd_offset


def with_claimed_count(data: bytes, claimed: int) -> bytes:
    """The same zip, its end record stating `claimed` entries (at most 65,535) whatever the directory holds."""
    at, _, _ = _end(data)
    raw = bytearray(data)
    struct.pack_into("<2H", raw, at + 8, claimed, claimed)
    return bytes(raw)


def with_zip64_end(data: bytes, claimed: int | None = None) -> bytes:
    """The same zip ended the ZIP64 way (record, locator, then an end record of 0xFFFF markers).

    `claimed`: the count the ZIP64 record states (default: the truth).
    """
    at, cd_size, cd_offset = _end(data)
    if claimed is None:
        claimed = EOCD.unpack_from(data, at)[4]
    record = ZIP64_EOCD.pack(b"PK\x06\x06", ZIP64_EOCD.size - 12, 45, 45, 0, 0, claimed, claimed, cd_size, cd_offset)
    locator = ZIP64_LOCATOR.pack(b"PK\x06\x07", 0, at, 1)
    end = EOCD.pack(b"PK\x05\x06", 0, 0, 0xFFFF, 0xFFFF, 0xFFFFFFFF, 0xFFFFFFFF, 0)
    return data[:at] + record + locator + end
