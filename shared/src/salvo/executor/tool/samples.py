"""Samples: one per request (or per exception raised in user code), and their files.

Two formats:
* Salvo's raw sample file, written inside locust by `salvo.executor.tool.locust_recorder` through
  `SampleWriter` only with SALVO_RAW_SAMPLES (the summary comes from the stats lines):
  CSV, header `kind,start,elapsed_ms,label,method,code,success,bytes,message`.
  `start` is when the request began (epoch seconds); `kind` is request or user_error.
* bzt/JMeter `kpi.jtl` CSV (timeStamp in epoch ms: the request's end as bzt's own writers
  put it, its start as JMeter does with sampleresult.timestamp.start=true; elapsed in ms),
  read for JMeter and for bzt executors that Salvo cannot gate.

Stdlib only: this module is imported inside the locust process.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from dataclasses import dataclass
from enum import Enum
from pathlib import Path

SALVO_COLUMNS = ["kind", "start", "elapsed_ms", "label", "method", "code", "success", "bytes", "message"]


class SampleKind(str, Enum):
    REQUEST = "request"
    USER_ERROR = "user_error"  # an exception raised in user code: not a request


@dataclass(frozen=True)
class Sample:
    start: float
    elapsed_ms: float
    label: str
    method: str = ""
    code: str = ""
    success: bool = True
    bytes: int = 0
    message: str = ""
    kind: SampleKind = SampleKind.REQUEST
    users: int = 0  # active threads when it was taken (JMeter's allThreads), where the file says

    @property
    def end(self) -> float:
        return self.start + self.elapsed_ms / 1000


class SampleWriter:
    """Appends samples to a Salvo sample file, flushed per row so a crash loses nothing written."""

    def __init__(self, path: Path):
        # open for the writer's life; close() closes it
        self._file = open(path, "a", newline="", encoding="utf-8")  # noqa: SIM115
        self._csv = csv.writer(self._file)
        if self._file.tell() == 0:
            self._csv.writerow(SALVO_COLUMNS)
            self._file.flush()

    def request(
        self,
        *,
        start: float,
        elapsed_ms: float,
        label: str,
        method: str,
        code: str,
        success: bool,
        nbytes: int,
        message: str,
    ) -> None:
        self._row(SampleKind.REQUEST, start, elapsed_ms, label, method, code, success, nbytes, message)

    def user_error(self, *, start: float, label: str, message: str) -> None:
        self._row(SampleKind.USER_ERROR, start, 0.0, label, "", "", False, 0, message)

    def _row(self, kind, start, elapsed_ms, label, method, code, success, nbytes, message) -> None:
        if self._file.closed:
            return
        self._csv.writerow(
            [
                kind.value,
                f"{start:.6f}",
                f"{elapsed_ms:.3f}",
                label,
                method,
                code,
                "1" if success else "0",
                nbytes,
                message,
            ]
        )
        self._file.flush()

    def close(self) -> None:
        if not self._file.closed:
            self._file.close()


def _from_salvo_row(row: dict[str, str]) -> Sample:
    return Sample(
        start=float(row["start"]),
        elapsed_ms=float(row["elapsed_ms"]),
        label=row["label"],
        method=row["method"],
        code=row["code"],
        success=row["success"] == "1",
        bytes=int(row["bytes"] or 0),
        message=row["message"],
        kind=SampleKind(row["kind"]),
    )


def _from_jtl_row(row: dict[str, str], timestamp_is_start: bool = False, clock_offset: float = 0.0) -> Sample:
    elapsed = float(row["elapsed"])
    return Sample(
        start=(float(row["timeStamp"]) - (0 if timestamp_is_start else elapsed)) / 1000 - clock_offset,
        elapsed_ms=elapsed,
        label=row.get("label", ""),
        method=row.get("method", "") or "",
        code=row.get("responseCode", "") or "",
        success=(row.get("success", "true") or "").lower() == "true",
        bytes=int(float(row.get("bytes") or 0)),
        message="" if (row.get("success", "true") or "").lower() == "true" else row.get("responseMessage", ""),
        users=int(row.get("allThreads") or 0),
    )


def _parser_for(header: list[str], timestamp_is_start: bool = False, clock_offset: float = 0.0):
    if header[: len(SALVO_COLUMNS)] == SALVO_COLUMNS:
        return _from_salvo_row  # written by Salvo's recorder, already in the controller's time
    if {"timeStamp", "elapsed", "label"} <= set(header):
        return lambda row: _from_jtl_row(row, timestamp_is_start, clock_offset)
    raise ValueError(f"unknown sample file header: {','.join(header)[:120]}")


def read_samples(path: Path) -> Iterator[Sample]:
    """Every complete, well-formed sample in the file (malformed rows are skipped)."""
    tail = SampleTail(path)
    yield from tail.read_new(final=True)


class SampleTail:
    """Reads a sample file as it grows: complete rows only, each row once."""

    def __init__(self, path: Path, timestamp_is_start: bool = False, clock_offset: float = 0.0):
        self.path = path
        self.timestamp_is_start = timestamp_is_start  # a JMeter jtl: timeStamp is when the request began
        self.clock_offset = clock_offset  # a jtl's timestamps are this host's: less this, the controller's
        self._offset = 0
        self._header: list[str] | None = None
        self._parse = None
        self.malformed = 0

    def read_new(self, final: bool = False) -> list[Sample]:
        try:
            with open(self.path, "rb") as handle:
                handle.seek(self._offset)
                data = handle.read()
        except FileNotFoundError:
            return []
        end = len(data) if final else data.rfind(b"\n") + 1
        if end <= 0:
            return []
        self._offset += end
        rows = csv.reader(io.StringIO(data[:end].decode("utf-8", errors="replace"), newline=""))
        samples = []
        for row in rows:
            if not row:
                continue
            if self._header is None:
                self._header = row
                self._parse = _parser_for(row, self.timestamp_is_start, self.clock_offset)
                continue
            try:
                # a row shorter than the header lacks a column (KeyError below: malformed); longer: extras unread
                samples.append(self._parse(dict(zip(self._header, row, strict=False))))
            except (KeyError, ValueError, TypeError):
                self.malformed += 1
        return samples
