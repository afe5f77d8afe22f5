"""SALVO_DATA_URI: a CSV fetched while arming, of which each executor keeps its own rows at the start.

Row i (0-based, header not counted) belongs to the executor whose index is i mod N
(`salvo.common.fleetload.has_row`): no row is used by two executors, every row by one.
With region weights each region gets a block of rows by weight, dealt in turn among
its executors (`salvo.common.fleetload.Slot.row_filter`).
Rows are CSV records, so a quoted field may span lines; each is copied byte for byte.
The header line, when there is one (SALVO_DATA_HEADER), is kept in every slice.
The scenario reads its slice from the path in $SALVO_DATA_FILE.
"""

from __future__ import annotations

import csv
import logging
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TextIO

from salvo.common.bounded import SizeLimit
from salvo.common.errors import ScenarioError
from salvo.common.fleetload import Slot
from salvo.common.s3 import S3Location
from salvo.common.store import Store

log = logging.getLogger(__name__)

__all__ = ["DataFileError", "TestData", "fetch_test_data"]


class DataFileError(ScenarioError):
    """SALVO_DATA_URI names a file that is not a readable CSV (UTF-8, well-formed quoting).

    Fix the file or SALVO_DATA_URI; with no header line set SALVO_DATA_HEADER=false.
    """


@dataclass(frozen=True)
class TestData:
    source: Path  # the whole file as fetched
    rows: int  # data rows, header not counted
    header: bool
    slice_path: Path  # this executor's rows, as $SALVO_DATA_FILE names them

    def write_slice(self, slot: Slot) -> int:
        """Write this executor's rows (and the header) to slice_path; how many rows it got."""
        kept = 0
        partial = self.slice_path.with_name(f".{self.slice_path.name}.part")
        with _open(self.source) as source, open(partial, "w", encoding="utf-8", newline="") as out:
            records = _records(source)
            if self.header:
                out.write(_terminated(next(records, "")))
            mine = slot.row_filter(self.rows)
            for number, record in enumerate(records):
                if mine(number):
                    out.write(_terminated(record))
                    kept += 1
        partial.replace(self.slice_path)
        return kept


def fetch_test_data(store: Store, uri: S3Location, run_dir: Path, header: bool, *, max_bytes: int) -> TestData:
    """Download SALVO_DATA_URI (at most `max_bytes`, SALVO_MAX_DATA_BYTES) and count its rows.

    ScenarioFetchError / ObjectTooLarge / DataFileError (exit 3) if it cannot be used.
    """
    name = uri.key.rsplit("/", 1)[-1]
    source = run_dir / "download-data" / name
    store.download(
        uri,
        source,
        what="data file",
        variable="SALVO_DATA_URI",
        limit=SizeLimit(max_bytes, "SALVO_MAX_DATA_BYTES"),
    )
    try:
        with _open(source) as text:
            records = _records(text)
            if header and next(records, None) is None:
                raise DataFileError(f"SALVO_DATA_URI={uri} is empty: not even a header line")
            rows = sum(1 for _ in records)
    except UnicodeDecodeError as exc:
        raise DataFileError(f"SALVO_DATA_URI={uri} is not UTF-8 text (byte {exc.start}): a CSV is expected") from None
    except csv.Error as exc:
        raise DataFileError(f"SALVO_DATA_URI={uri} is not a well-formed CSV: {exc}") from None
    slice_dir = run_dir / "data"
    slice_dir.mkdir(parents=True, exist_ok=True)
    log.info("data file %s: %d row(s)%s", uri, rows, " after its header" if header else "")
    return TestData(source=source, rows=rows, header=header, slice_path=slice_dir / name)


def _open(path: Path) -> TextIO:
    return open(path, encoding="utf-8-sig", newline="")


def _records(text: TextIO) -> Iterator[str]:
    """Each CSV record's raw text (all its lines); blank lines are not records."""
    lines: list[str] = []

    def feed() -> Iterator[str]:
        for line in text:
            lines.append(line)
            yield line

    for fields in csv.reader(feed(), strict=True):
        raw = "".join(lines)
        lines.clear()
        if fields:
            yield raw


def _terminated(record: str) -> str:
    return record if record.endswith(("\n", "\r")) else record + "\n"
