"""A zip's entry count is read from its end records, before zipfile builds its index, and a lie is caught."""

from __future__ import annotations

import io
import time
import tracemalloc
import zipfile
from pathlib import Path

import pytest

from salvo.common.errors import ExitCode
from salvo.executor.scenario.bundle import BundleLimits, safe_extract
from salvo.executor.scenario.zipindex import NotAZip, TooManyEntries, check_entry_count, count_central_entries, read_end
from tests.support.bundles import zip_bytes
from tests.support.zips import many_entries, with_claimed_count, with_zip64_end

URI = "s3://bucket/scenarios/b.zip"


def write(tmp_path: Path, data: bytes, name: str = "b.zip") -> Path:
    path = tmp_path / name
    path.write_bytes(data)
    return path


def zipfile_start_dir(data: bytes) -> tuple[int, int]:
    """What zipfile itself makes of the bundle: (start of the central directory, entries)."""
    with zipfile.ZipFile(io.BytesIO(data)) as bundle:
        return bundle.start_dir, len(bundle.infolist())


@pytest.mark.parametrize(
    "comment",
    [b"", b"hello", b"PK\x05\x06 looks like a record" * 10, b"c" * 65535],
    ids=["none", "short", "signature-in-comment", "longest"],
)
def test_end_record_agrees_with_zipfile(tmp_path, comment):
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as bundle:
        for n in range(7):
            bundle.writestr(f"f{n}.txt", b"x" * n)
        bundle.comment = comment
    data = buffer.getvalue()
    if b"PK\x05\x06" in comment:  # zipfile takes the last signature too: both read the same (bogus) record
        # zipfile's refusal varies with the bytes (BadZipFile, ValueError, struct.error): any will do
        with pytest.raises(Exception):  # noqa: B017, PT011
            zipfile_start_dir(data)
        return
    with open(write(tmp_path, data), "rb") as handle:
        end = read_end(handle, "bundle b.zip")
        assert (end.cd_start, end.entries) == zipfile_start_dir(data)
        assert count_central_entries(handle, end, 100) == 7
    assert not end.zip64


def test_zip64_end_records_are_read_where_zipfile_reads_them(tmp_path):
    data = with_zip64_end(many_entries(5))
    with open(write(tmp_path, data), "rb") as handle:
        end = read_end(handle, "bundle b.zip")
    assert end.zip64 and (end.cd_start, end.entries) == zipfile_start_dir(data) == (end.cd_start, 5)


def test_data_before_the_zip_is_allowed_as_zipfile_allows_it(tmp_path):
    data = b"#!/bin/sh\nexit 0\n" + many_entries(3)  # a self-extracting style prefix
    path = write(tmp_path, data)
    assert check_entry_count(path, 3, name="b.zip").cd_start == zipfile_start_dir(data)[0]


def test_a_claimed_count_over_the_limit_is_refused_naming_uri_count_and_limit(tmp_path):
    path = write(tmp_path, many_entries(11))
    with pytest.raises(TooManyEntries) as caught:
        check_entry_count(path, 10, name="b.zip", source=URI)
    assert str(caught.value) == f"bundle {URI}: 11 entries, over SALVO_BUNDLE_MAX_FILES=10"
    assert caught.value.exit_code == ExitCode.SCENARIO


def test_a_zip64_record_claiming_a_huge_count_is_refused(tmp_path):
    path = write(tmp_path, with_zip64_end(many_entries(2), claimed=1 << 40))
    with pytest.raises(TooManyEntries, match=f"^bundle b.zip: {1 << 40} entries, over SALVO_BUNDLE_MAX_FILES=10$"):
        check_entry_count(path, 10, name="b.zip")


def test_an_end_record_understating_its_count_is_caught_by_the_walk(tmp_path):
    path = write(tmp_path, with_claimed_count(many_entries(50), 1))
    with pytest.raises(TooManyEntries) as caught:
        check_entry_count(path, 10, name="b.zip", source=URI)
    assert str(caught.value) == (
        f"bundle {URI}: more than 10 entries in its central directory (its end record "
        "claims 1), over SALVO_BUNDLE_MAX_FILES=10"
    )


def test_the_walk_stops_one_past_the_limit(tmp_path):
    with open(write(tmp_path, many_entries(1000)), "rb") as handle:
        end = read_end(handle, "b")
        assert count_central_entries(handle, end, 10) == 11
        assert count_central_entries(handle, end, 5000) == 1000


@pytest.mark.parametrize(
    "data",
    [
        b"",
        b"PK",
        b"garbage " * 20_000,
        b"PK\x05\x06" + b"\0" * 10,
        many_entries(3)[:-10],  # the end record cut in half
        many_entries(3)[:-40],  # the end record and part of the directory gone
    ],
    ids=["empty", "two-bytes", "garbage", "record-cut-short", "truncated-record", "truncated-tail"],
)
def test_no_end_record_is_not_a_zip(tmp_path, data):
    with pytest.raises(NotAZip, match=r"^bundle s3://bucket/scenarios/b\.zip: not a readable zip file"):
        check_entry_count(write(tmp_path, data), 10, name="b.zip", source=URI)


def test_a_directory_said_to_start_before_the_file_is_not_a_zip(tmp_path):
    data = bytearray(many_entries(1))
    data[-10:-6] = (1 << 30).to_bytes(4, "little")  # cd size
    with pytest.raises(NotAZip, match="would start before the file does"):
        check_entry_count(write(tmp_path, bytes(data)), 10, name="b.zip")


def test_two_hundred_thousand_entries_are_refused_fast_and_without_reading_the_index(tmp_path):
    path = write(tmp_path, many_entries(200_000))
    dest = tmp_path / "out"
    tracemalloc.start()
    started = time.perf_counter()
    try:
        with pytest.raises(TooManyEntries, match="200000 entries, over SALVO_BUNDLE_MAX_FILES=10000"):
            safe_extract(path, dest, BundleLimits(max_bytes=1 << 30, max_files=10_000), source=URI)
        elapsed = time.perf_counter() - started
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert elapsed < 0.5, f"{elapsed:.2f} s"
    assert peak < 1 << 20, f"peak {peak} bytes"  # the tail (64 KiB) and change; zipfile's index would be ~100 MB
    assert not any(dest.iterdir())


def test_a_lying_count_is_walked_in_constant_memory(tmp_path):
    path = write(tmp_path, with_claimed_count(many_entries(200_000, zip64=False), 3))
    tracemalloc.start()
    try:
        with pytest.raises(TooManyEntries, match="more than 10000 entries"):
            check_entry_count(path, 10_000, name="b.zip")
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 1 << 20, f"peak {peak} bytes"


def test_a_bundle_within_the_limit_still_extracts(tmp_path):
    path = write(tmp_path, zip_bytes({"locustfile.py": b"# hi\n", "data/a.csv": b"a\n"}))
    written = safe_extract(path, tmp_path / "out", BundleLimits(max_bytes=1 << 20, max_files=2), source=URI)
    assert len(written) == 2
