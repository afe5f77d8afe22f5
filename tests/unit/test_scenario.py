"""Scenario kinds, bundle entries and arm-time checks (each failure one line, exit 3)."""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

import pytest

from salvo.errors import ExitCode, ScenarioError
from salvo.scenario import (
    BundleLimits, EntryKind, bzt_executors, check, check_executors_installed, check_locustfile,
    load_taurus_config, unpack,
)

LIMITS = BundleLimits(max_bytes=10 << 20, max_files=100)
LOCUSTFILE = "from locust import HttpUser, task\n\nclass Shopper(HttpUser):\n    @task\n    def index(self):\n        self.client.get('/')\n"


def bundle(tmp_path: Path, members: dict[str, str]) -> Path:
    path = tmp_path / "bundle.zip"
    with zipfile.ZipFile(path, "w") as archive:
        for name, text in members.items():
            archive.writestr(name, text)
    return path


def unpacked(tmp_path: Path, members: dict[str, str], entry: str | None = None):
    return unpack(bundle(tmp_path, members), "bundle.zip", "0" * 64, tmp_path / "work", entry=entry, limits=LIMITS)


def failure(callable_, *args, **kwargs) -> str:
    with pytest.raises(ScenarioError) as caught:
        callable_(*args, **kwargs)
    assert caught.value.exit_code == ExitCode.SCENARIO and "\n" not in str(caught.value)
    return str(caught.value)


@pytest.mark.parametrize(("name", "kind"), [("t.yml", EntryKind.TAURUS), ("test.json", EntryKind.TAURUS), ("l.py", EntryKind.LOCUSTFILE)])
def test_kind_from_the_object_name(tmp_path, name, kind):
    source = tmp_path / "obj"
    source.write_text("x")
    scenario = unpack(source, name, "ab" * 32, tmp_path / "work", entry=None, limits=LIMITS)
    assert scenario.kind is kind and scenario.entry.name == name and scenario.entry.read_text() == "x"


def test_unsupported_suffix(tmp_path):
    source = tmp_path / "obj"
    source.write_text("x")
    assert ".jmx" in failure(unpack, source, "plan.jmx", "0", tmp_path / "w", entry=None, limits=LIMITS)


def test_bundle_entry_rules(tmp_path):
    assert unpacked(tmp_path, {"test.yml": "", "data/u.csv": ""}).entry.name == "test.yml"
    assert unpacked(tmp_path, {"locustfile.py": "", "lib/h.py": ""}).kind is EntryKind.LOCUSTFILE
    assert unpacked(tmp_path, {"a.yml": "", "b.yml": ""}, entry="b.yml").entry.name == "b.yml"
    assert "several Taurus configs (a.yml, b.yml)" in failure(unpacked, tmp_path, {"a.yml": "", "b.yml": ""})
    assert "SALVO_SCENARIO_ENTRY='c.yml'" in failure(unpacked, tmp_path, {"a.yml": ""}, entry="c.yml")
    assert "no entry found" in failure(unpacked, tmp_path, {"readme.txt": ""})
    assert "is not a file" in failure(unpacked, tmp_path, {"a.yml": ""}, entry="../../etc/passwd")


def test_broken_yaml_names_line(tmp_path):
    path = tmp_path / "t.yml"
    path.write_text("execution:\n  - executor: locust\n    scenario: [unclosed\n")
    assert "t.yml: invalid YAML at line" in failure(load_taurus_config, path)


def test_broken_json_and_non_mapping(tmp_path):
    bad = tmp_path / "test.json"
    bad.write_text('{"execution": [}')
    assert "invalid JSON at line 1" in failure(load_taurus_config, bad)
    listing = tmp_path / "l.yml"
    listing.write_text("- a\n- b\n")
    assert "must be a mapping" in failure(load_taurus_config, listing)


def test_executors_default_and_missing_section():
    assert bzt_executors({"execution": {"scenario": "s"}}) == ["jmeter"]
    assert bzt_executors({"execution": [{"executor": "locust"}], "settings": {"default-executor": "x"}}) == ["locust"]
    assert "no usable execution" in failure(bzt_executors, {"scenarios": {}})


def test_tools_must_be_installed():
    check_executors_installed(["locust", "pytest"])
    assert "FROM the salvo executor" in failure(check_executors_installed, ["k6"])
    assert "unknown bzt executor 'wrk2'" in failure(check_executors_installed, ["wrk2"])


def test_locustfile_checks(tmp_path):
    good = tmp_path / "locustfile.py"
    good.write_text(LOCUSTFILE)
    assert check_locustfile(good) == ["Shopper"]
    syntax = tmp_path / "syntax.py"
    syntax.write_text("def broken(:\n")
    assert "syntax.py: cannot be imported: SyntaxError" in failure(check_locustfile, syntax)
    missing = tmp_path / "missing.py"
    missing.write_text("import does_not_exist_anywhere\n")
    assert "No module named 'does_not_exist_anywhere'" in failure(check_locustfile, missing)
    empty = tmp_path / "empty.py"
    empty.write_text("from locust import HttpUser\n")
    assert "defines no locust User class" in failure(check_locustfile, empty)


def test_taurus_check_follows_locust_scripts(tmp_path):
    (tmp_path / "locustfile.py").write_text("x = 1\n")
    entry = tmp_path / "test.json"
    entry.write_text(json.dumps({"execution": [{"executor": "locust", "scenario": "s1"}],
                                 "scenarios": {"s1": {"script": "locustfile.py"}}}))
    scenario = unpack(entry, "test.json", "0", tmp_path / "w", entry=None, limits=LIMITS)
    (scenario.root / "locustfile.py").write_text("x = 1\n")
    assert "test.json: locustfile.py defines no locust User class" in failure(check, scenario)
    entry.write_text(json.dumps({"execution": [{"executor": "locust", "scenario": "nope"}], "scenarios": {}}))
    scenario = unpack(entry, "test.json", "0", tmp_path / "w", entry=None, limits=LIMITS)
    assert "scenario 'nope'" in failure(check, scenario)
