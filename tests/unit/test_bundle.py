"""Bundle extraction refuses everything that could escape, bloat or lie."""

from __future__ import annotations

import stat
import zipfile
from pathlib import Path

import pytest

from salvo.common.errors import ExitCode, ScenarioError
from salvo.executor.scenario.bundle import BundleLimits, safe_extract

LIMITS = BundleLimits(max_bytes=1 << 20, max_files=10)


def make_zip(path: Path, members: list[tuple[str, bytes]], link: tuple[str, str] | None = None) -> Path:
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as bundle:
        for name, data in members:
            bundle.writestr(name, data)
        if link:
            info = zipfile.ZipInfo(link[0])
            info.external_attr = (stat.S_IFLNK | 0o777) << 16
            bundle.writestr(info, link[1])
    return path


def refused(tmp_path: Path, zip_path: Path, limits: BundleLimits = LIMITS) -> str:
    dest = tmp_path / "out"
    dest.mkdir(exist_ok=True)
    with pytest.raises(ScenarioError) as caught:
        safe_extract(zip_path, dest, limits)
    assert caught.value.exit_code == ExitCode.SCENARIO
    assert not list(dest.rglob("*")), "nothing may stay behind after a refusal"
    outside = [p for p in tmp_path.rglob("*") if p.is_file() and p.suffix != ".zip" and dest not in p.parents]
    assert not outside, outside
    return str(caught.value)


def test_extracts_a_normal_bundle(tmp_path):
    dest = tmp_path / "out"
    written = safe_extract(make_zip(tmp_path / "b.zip", [("test.yml", b"x"), ("data/users.csv", b"a,b")]), dest, LIMITS)
    assert sorted(p.relative_to(dest).as_posix() for p in written) == ["data/users.csv", "test.yml"]


@pytest.mark.parametrize("name", ["../evil.py", "data/../../evil.py", "/etc/evil.py", "C:/evil.py"])
def test_paths_leaving_the_bundle_are_refused(tmp_path, name):
    message = refused(tmp_path, make_zip(tmp_path / "b.zip", [("ok.py", b"x"), (name, b"boom")]))
    assert repr(name) in message


def test_links_are_refused(tmp_path):
    message = refused(tmp_path, make_zip(tmp_path / "b.zip", [("ok.py", b"x")], link=("data", "/etc")))
    assert "link" in message and "'data'" in message


def test_too_many_files(tmp_path):
    members = [(f"f{n}.txt", b"x") for n in range(11)]
    assert "SALVO_BUNDLE_MAX_FILES" in refused(tmp_path, make_zip(tmp_path / "b.zip", members))


def test_declared_size_over_limit(tmp_path):
    members = [("zeros.bin", b"\0" * (2 << 20))]
    assert "SALVO_BUNDLE_MAX_BYTES" in refused(tmp_path, make_zip(tmp_path / "b.zip", members))


def test_bomb_that_lies_about_its_size_is_stopped_while_inflating(tmp_path):
    path = make_zip(tmp_path / "bomb.zip", [("ok.txt", b"fine"), ("zeros.bin", b"\0" * (4 << 20))])
    data = bytearray(path.read_bytes())
    real = (4 << 20).to_bytes(4, "little")
    fake = (100).to_bytes(4, "little")
    assert data.count(real) == 2  # local header and central directory
    path.write_bytes(bytes(data).replace(real, fake))
    with zipfile.ZipFile(path) as bundle:
        assert sum(i.file_size for i in bundle.infolist()) < LIMITS.max_bytes  # the headers lie
    message = refused(tmp_path, path)
    assert "zeros.bin" in message


def test_corrupt_zip(tmp_path):
    path = tmp_path / "broken.zip"
    path.write_bytes(b"PK\x03\x04 this is not really a zip")
    assert "not a readable zip" in refused(tmp_path, path)
