"""Scenario kinds, bundle entries, Taurus configs, tools and locustfile checks: each failure one line, exit 3.

How executions resolve is tests/unit/test_executions.py; hosts, tests/unit/test_hosts.py.
"""

from __future__ import annotations

import importlib.util
import json
import os
import stat
import subprocess
import sys
import time
import warnings
import zipfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from salvo.common.errors import ExitCode, ScenarioError
from salvo.executor.scenario import bundle as bundle_module
from salvo.executor.scenario.checks import check_scenario as check
from salvo.executor.scenario.executions import bzt_executors, resolve_executions
from salvo.executor.scenario.locustprobe import check_locustfile
from salvo.executor.scenario.taurus import load_taurus_config
from salvo.executor.scenario.toolcheck import check_executors_installed
from salvo.executor.scenario.unpack import BundleLimits, EntryKind, Scenario, safe_extract, unpack

LIMITS = BundleLimits(max_bytes=10 << 20, max_files=100)
SHA = "ab" * 32
LOCUSTFILE = (
    "from locust import HttpUser, task\n\n"
    "class Shopper(HttpUser):\n    @task\n    def index(self):\n        self.client.get('/')\n"
)
DLT_CONFIG = {
    "execution": [{"executor": "locust", "concurrency": 5, "ramp-up": "1s", "hold-for": "10s", "scenario": "s1"}],
    "scenarios": {"s1": {"script": "locustfile.py", "default-address": "http://127.0.0.1:8080"}},
}
YAML_INLINE = (
    "execution:\n  executor: locust\n  concurrency: 2\n  hold-for: 5s\n"
    "  scenario:\n    default-address: http://127.0.0.1:8080\n    script: scripts/shop.py\n"
)


# --- helpers ---------------------------------------------------------------------------


def failure(callable_, *args, **kwargs) -> str:
    """The one-line message of the ScenarioError the call must raise."""
    with pytest.raises(ScenarioError) as caught:
        callable_(*args, **kwargs)
    assert caught.value.exit_code == ExitCode.SCENARIO
    message = str(caught.value)
    assert message and "\n" not in message and "Traceback" not in message
    return message


def make_zip(path: Path, members: dict[str, str | bytes], compression: int = zipfile.ZIP_DEFLATED) -> Path:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # duplicate names are on purpose in one test
        with zipfile.ZipFile(path, "w", compression) as archive:
            for name, data in members.items():
                archive.writestr(name, data)
    return path


def unpacked(tmp_path: Path, members: dict[str, str | bytes], entry: str | None = None) -> Scenario:
    tmp_path.mkdir(parents=True, exist_ok=True)
    source = make_zip(tmp_path / "upload.zip", members)
    return unpack(source, "bundle.zip", SHA, tmp_path / "work", entry=entry, limits=LIMITS)


def written(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def files_under(folder: Path) -> set[str]:
    return {p.relative_to(folder).as_posix() for p in folder.rglob("*")}


@pytest.fixture
def no_tools(tmp_path, monkeypatch) -> Path:
    """An empty PATH and HOME: no command-line load tool is installed. Returns the PATH folder."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    monkeypatch.setenv("PATH", str(bin_dir))
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    return bin_dir


def executable(path: Path) -> Path:
    written(path, "#!/bin/sh\n")
    path.chmod(0o755)
    return path


# --- unpack: kind and placement ---------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "kind"),
    [
        ("t.yml", EntryKind.TAURUS),
        ("t.YAML", EntryKind.TAURUS),
        ("test.json", EntryKind.TAURUS),
        ("shop.py", EntryKind.LOCUSTFILE),
    ],
)
def test_kind_follows_the_object_name(tmp_path, name, kind):
    source = written(tmp_path / "downloaded", "x")
    scenario = unpack(source, name, SHA, tmp_path / "work", entry=None, limits=LIMITS)
    assert scenario.kind is kind and scenario.sha256 == SHA
    assert scenario.entry == tmp_path.resolve() / "work" / "scenario" / name == scenario.root / name
    assert scenario.entry.is_absolute() and scenario.entry.read_text() == "x"


def test_object_name_is_reduced_to_its_basename_and_old_scenarios_are_cleared(tmp_path):
    source = written(tmp_path / "downloaded", "x")
    first = unpack(source, "first.yml", SHA, tmp_path / "work", entry=None, limits=LIMITS)
    second = unpack(source, "../../sub/second.py", SHA, tmp_path / "work", entry=None, limits=LIMITS)
    assert second.entry == second.root / "second.py"
    assert not first.entry.exists()


@pytest.mark.parametrize("name", ["plan.jmx", "scenario", "archive.tar.gz"])
def test_unsupported_suffix_names_the_supported_ones(tmp_path, name):
    source = written(tmp_path / "downloaded", "x")
    message = failure(unpack, source, name, SHA, tmp_path / "work", entry=None, limits=LIMITS)
    assert message.startswith(f"{name}: unsupported scenario type")
    assert all(s in message for s in (".yml", ".yaml", ".json", ".py", ".zip"))
    assert not (tmp_path / "work").exists()


# --- unpack: bundle entries ---------------------------------------------------------


def test_bundle_single_config_beats_data_files_and_locustfile(tmp_path):
    scenario = unpacked(
        tmp_path,
        {
            "test.json": json.dumps(DLT_CONFIG),
            "locustfile.py": LOCUSTFILE,
            "data/users.json": "[1, 2, 3]",
            "data/extra.yml": "- a\n- b\n",
            "data/.hidden.yml": "execution: {}\n",
        },
    )
    assert scenario.kind is EntryKind.TAURUS and scenario.entry == scenario.root / "test.json"


def test_bundle_locustfile_with_json_data_files(tmp_path):
    scenario = unpacked(
        tmp_path, {"locustfile.py": LOCUSTFILE, "data/payload.json": '{"user": "a"}', "lib/helpers.py": ""}
    )
    assert scenario.kind is EntryKind.LOCUSTFILE and scenario.entry == scenario.root / "locustfile.py"


def test_bundle_of_a_zipped_folder_with_macos_debris(tmp_path):
    scenario = unpacked(
        tmp_path,
        {
            "proj/test.yml": YAML_INLINE,
            "proj/configs/other.yml": YAML_INLINE,
            "__MACOSX/proj/._test.yml": b"\x00\x05\x16\x07 binary resource fork",
        },
    )
    assert scenario.entry == scenario.root / "proj" / "test.yml"
    nested = unpacked(tmp_path, {"proj/locustfile.py": LOCUSTFILE, "proj/data/u.csv": "a"})
    assert nested.kind is EntryKind.LOCUSTFILE and nested.entry == nested.root / "proj" / "locustfile.py"


def test_bundle_with_several_configs_must_name_its_entry(tmp_path):
    members = {"a.yml": YAML_INLINE, "b.json": json.dumps(DLT_CONFIG), "deep/c.yml": YAML_INLINE}
    message = failure(unpacked, tmp_path, members)
    assert message == ("bundle.zip: several Taurus configs (a.yml, b.json); set SALVO_SCENARIO_ENTRY to the one to run")
    assert unpacked(tmp_path, members, entry="deep/c.yml").entry.relative_to(tmp_path.resolve()) == Path(
        "work/scenario/deep/c.yml"
    )
    assert "several locustfile.py files (a/locustfile.py, b/locustfile.py)" in failure(
        unpacked, tmp_path, {"a/locustfile.py": LOCUSTFILE, "b/locustfile.py": LOCUSTFILE}
    )


def test_broken_config_in_a_bundle_is_still_its_entry(tmp_path):
    scenario = unpacked(tmp_path, {"test.yml": "execution:\n  - executor: [locust\n", "locustfile.py": LOCUSTFILE})
    assert scenario.entry.name == "test.yml"
    assert "test.yml: invalid YAML at line 3" in failure(check, scenario)


@pytest.mark.parametrize(
    ("entry", "expected"),
    [
        ("missing.yml", "bundle.zip: SALVO_SCENARIO_ENTRY='missing.yml' is not a file in the bundle"),
        ("data", "bundle.zip: SALVO_SCENARIO_ENTRY='data' is not a file in the bundle"),
        ("../../../etc/passwd", "bundle.zip: SALVO_SCENARIO_ENTRY='../../../etc/passwd' points outside the bundle"),
        ("/etc/passwd", "bundle.zip: SALVO_SCENARIO_ENTRY='/etc/passwd' points outside the bundle"),
        ("data/u.csv", "bundle.zip: SALVO_SCENARIO_ENTRY='data/u.csv' is neither a Taurus config"),
    ],
)
def test_bad_explicit_entry(tmp_path, entry, expected):
    assert failure(unpacked, tmp_path, {"a.yml": YAML_INLINE, "data/u.csv": "a"}, entry=entry).startswith(expected)


def test_bundle_without_entry(tmp_path):
    message = failure(unpacked, tmp_path, {"readme.txt": "", "data/users.json": "[]", "main.py": ""})
    assert message.startswith("bundle.zip: no entry found") and "SALVO_SCENARIO_ENTRY" in message


def test_refused_bundle_writes_nothing_outside_its_folder(tmp_path):
    source = make_zip(
        tmp_path / "upload.zip", {"locustfile.py": LOCUSTFILE, "../evil.py": "boom", "../../evil2.py": "boom"}
    )
    before = files_under(tmp_path)
    message = failure(unpack, source, "evil.zip", SHA, tmp_path / "work", entry=None, limits=LIMITS)
    assert message == "evil.zip: member '../evil.py' would be written outside the bundle (path traversal)"
    assert files_under(tmp_path) - before <= {"work", "work/scenario"}
    assert not (tmp_path.parent / "evil2.py").exists()


# --- safe_extract (classic refusals are in test_bundle.py; these are the rest) ------


def refused(tmp_path: Path, zip_path: Path, limits: BundleLimits = LIMITS) -> str:
    dest = tmp_path / "out"
    message = failure(safe_extract, zip_path, dest, limits)
    assert dest.is_dir() and not any(dest.iterdir()), "a refusal leaves the destination empty"
    assert {p.name for p in tmp_path.iterdir()} <= {zip_path.name, "out"}, "nothing written beside it"
    return message


def test_link_inside_the_bundle_is_refused_too(tmp_path):
    path = tmp_path / "b.zip"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("data/users.csv", "a,b")
        link = zipfile.ZipInfo("users.csv")
        link.external_attr = (stat.S_IFLNK | 0o777) << 16
        archive.writestr(link, "data/users.csv")
    assert refused(tmp_path, path) == "b.zip: member 'users.csv' is a symbolic link; bundles may not contain links"


def test_encrypted_duplicate_and_clashing_members_are_refused(tmp_path):
    path = make_zip(tmp_path / "enc.zip", {"secret.py": "x"}, zipfile.ZIP_STORED)
    data = bytearray(path.read_bytes())  # zipfile cannot write encrypted members: set the flag by hand
    local, central = data.index(b"PK\x03\x04"), data.index(b"PK\x01\x02")
    data[local + 6] |= 0x1
    data[central + 8] |= 0x1
    path.write_bytes(bytes(data))
    assert "member 'secret.py' is encrypted" in refused(tmp_path, path)
    path.unlink()
    duplicate = make_zip(tmp_path / "dup.zip", {"a.py": "1"})
    with warnings.catch_warnings(), zipfile.ZipFile(duplicate, "a") as archive:
        warnings.simplefilter("ignore")
        archive.writestr("a.py", "2")
    assert "member 'a.py' appears twice" in refused(tmp_path, duplicate)
    duplicate.unlink()
    clash = make_zip(tmp_path / "clash.zip", {"data": "a file", "data/u.csv": "a"})
    assert "member 'data/u.csv' needs a folder where member 'data' is a file" in refused(tmp_path, clash)


def test_highly_compressible_member_over_the_limit(tmp_path):
    path = make_zip(tmp_path / "bomb.zip", {"ok.py": "x", "zeros.bin": b"\0" * (100 << 20)})
    assert path.stat().st_size < 1 << 20
    message = refused(tmp_path, path, BundleLimits(max_bytes=1 << 20, max_files=10))
    assert message == "bomb.zip: unpacks to 104857601 bytes, more than SALVO_BUNDLE_MAX_BYTES=1048576"


def test_bytes_are_counted_while_inflating_even_if_headers_passed(tmp_path, monkeypatch):
    """The declared-size check is the first line; the counter alone must also stop a bomb."""
    monkeypatch.setattr(bundle_module, "_check_totals", lambda *args: None)
    path = make_zip(tmp_path / "bomb.zip", {"a.txt": "fine", "zeros.bin": b"\0" * (4 << 20)})
    message = refused(tmp_path, path, BundleLimits(max_bytes=1 << 20, max_files=10))
    assert message == "bomb.zip: member 'zeros.bin' inflates past SALVO_BUNDLE_MAX_BYTES=1048576 (zip bomb?)"


def test_lying_bomb_through_unpack_leaves_nothing_behind(tmp_path):
    path = make_zip(tmp_path / "bomb.zip", {"locustfile.py": LOCUSTFILE, "zeros.bin": b"\0" * (4 << 20)})
    data = path.read_bytes()
    real, fake = (4 << 20).to_bytes(4, "little"), (100).to_bytes(4, "little")
    assert data.count(real) == 2  # local header and central directory
    path.write_bytes(data.replace(real, fake))
    message = failure(unpack, path, "bomb.zip", SHA, tmp_path / "work", entry=None, limits=LIMITS)
    assert message.startswith("bomb.zip: member 'zeros.bin' is corrupt or lies about its size")
    assert files_under(tmp_path / "work") == {"scenario"}


def test_executable_bits_survive_extraction_and_dest_must_be_empty(tmp_path):
    path = tmp_path / "b.zip"
    with zipfile.ZipFile(path, "w") as archive:
        script = zipfile.ZipInfo("bin/prepare.sh")
        script.external_attr = (stat.S_IFREG | 0o4755) << 16
        archive.writestr(script, "#!/bin/sh\n")
        archive.writestr("data/u.csv", "a")
    files = safe_extract(path, tmp_path / "out", LIMITS)
    assert sorted(p.relative_to(tmp_path / "out").as_posix() for p in files) == ["bin/prepare.sh", "data/u.csv"]
    assert stat.S_IMODE((tmp_path / "out/bin/prepare.sh").stat().st_mode) == 0o755  # no setuid
    assert not os.access(tmp_path / "out/data/u.csv", os.X_OK)
    with pytest.raises(ValueError):
        safe_extract(path, tmp_path / "out", LIMITS)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_damaged_zips_fail_cleanly(tmp_path_factory, data):
    """Any damage to a bundle is a ScenarioError or a clean extraction - never another exception or a stray file."""
    work = tmp_path_factory.mktemp("fuzz")
    original = make_zip(work / "b.zip", {"test.yml": YAML_INLINE, "data/u.csv": "a,b\n" * 50}).read_bytes()
    damaged = bytearray(original)
    for _ in range(data.draw(st.integers(1, 8))):
        damaged[data.draw(st.integers(0, len(damaged) - 1))] = data.draw(st.integers(0, 255))
    damaged = damaged[: data.draw(st.integers(0, len(damaged)))] if data.draw(st.booleans()) else damaged
    (work / "b.zip").write_bytes(bytes(damaged))
    try:
        safe_extract(work / "b.zip", work / "out", LIMITS)
    except ScenarioError as exc:
        assert "\n" not in str(exc) and not any((work / "out").iterdir())  # noqa: PT017 -- may or may not refuse
    assert {p.name for p in work.iterdir()} <= {"b.zip", "out"}


# --- Taurus configs ---------------------------------------------------------------------


def test_dlt_json_and_inline_yaml_load(tmp_path):
    assert load_taurus_config(written(tmp_path / "test.json", json.dumps(DLT_CONFIG))) == DLT_CONFIG
    config = load_taurus_config(written(tmp_path / "t.yml", YAML_INLINE))
    assert config["execution"]["scenario"]["script"] == "scripts/shop.py"


def test_loading_follows_bzt(tmp_path):
    """bzt accepts tab indents, JSON in a .yml, and several YAML documents (merged)."""
    tabs = load_taurus_config(written(tmp_path / "tabs.yml", "execution:\n\t- executor: locust\n\t  scenario: s\n"))
    assert tabs["execution"] == [{"executor": "locust", "scenario": "s"}]
    assert load_taurus_config(written(tmp_path / "j.yml", json.dumps(DLT_CONFIG, indent="\t"))) == DLT_CONFIG
    merged = load_taurus_config(
        written(
            tmp_path / "multi.yml",
            (
                "execution:\n- executor: locust\n  scenario: a\nsettings:\n  env: {A: 1}\n---\n"
                "execution:\n- executor: locust\n  scenario: b\nsettings:\n  env: {B: 2}\n~modules: {x: 1}\n"
            ),
        )
    )
    assert [e["scenario"] for e in merged["execution"]] == ["a", "b"]
    assert merged["settings"] == {"env": {"A": 1, "B": 2}} and merged["modules"] == {"x": 1}


def test_broken_yaml_names_line_and_column(tmp_path):
    path = written(tmp_path / "t.yml", "execution:\n  - executor: locust\n    scenario: [unclosed\n")
    message = failure(load_taurus_config, path)
    assert message.startswith("t.yml: invalid YAML at line 4, column 1:")


def test_broken_json_names_line_and_column(tmp_path):
    path = written(tmp_path / "test.json", '{\n  "execution": [\n    {"executor": "locust" "scenario": "s1"}\n  ]\n}\n')
    assert failure(load_taurus_config, path) == (
        "test.json: invalid JSON at line 3, column 27: Expecting ',' delimiter"
    )
    # a trailing comma is fine: bzt reads YAML first, and YAML accepts it
    assert load_taurus_config(written(tmp_path / "ok.json", '{"execution": [{"executor": "locust",}]}'))


@pytest.mark.parametrize(
    ("name", "body", "expected"),
    [
        ("test.json", "[1, 2]", "test.json: a Taurus config must be a mapping with an execution: section, not a list"),
        ("t.yml", "just a string\n", "t.yml: a Taurus config must be a mapping with an execution: section, not a str"),
        ("t.yml", "", "t.yml: the Taurus config is empty"),
        ("t.yml", b"execution: \xff\xfe\n", "t.yml: not UTF-8 text (bad byte at offset 11)"),
    ],
)
def test_config_that_is_not_a_mapping(tmp_path, name, body, expected):
    path = tmp_path / name
    path.write_bytes(body if isinstance(body, bytes) else body.encode())
    assert failure(load_taurus_config, path) == expected


def test_executors_default_and_settings():
    assert bzt_executors({"execution": {"scenario": "s"}}) == ["jmeter"]
    assert bzt_executors(
        {"execution": [{"scenario": "s"}, {"executor": "k6"}], "settings": {"default-executor": "locust"}}
    ) == ["locust", "k6"]


@pytest.mark.parametrize(
    ("config", "expected"),
    [
        ({"scenarios": {}}, "config has no execution: section (what bzt should run)"),
        ({"execution": []}, "config has no execution: section (what bzt should run)"),
        ({"execution": "locust"}, "execution: must be a mapping or a list of mappings, not a str"),
        ({"execution": [{"executor": "locust"}, "x"]}, "execution item 2 must be a mapping, not a str"),
        ({"execution": {}, "settings": ["x"]}, "settings: must be a mapping, not a list"),
    ],
)
def test_bad_execution_sections(config, expected):
    assert failure(bzt_executors, config) == expected


_json = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=8) | st.sampled_from(["locust", "s", "x.py"]),
    lambda inner: st.lists(inner, max_size=3)
    | st.dictionaries(
        st.sampled_from(
            [
                "execution",
                "scenarios",
                "executor",
                "scenario",
                "script",
                "requests",
                "settings",
                "default-executor",
                "s",
            ]
        ),
        inner,
        max_size=4,
    ),
    max_leaves=12,
)


@settings(max_examples=300, deadline=None)
@given(config=st.dictionaries(st.sampled_from(["execution", "scenarios", "settings", "modules"]), _json))
def test_any_config_shape_is_a_scenario_error_or_an_answer(config):
    for query in (bzt_executors, lambda c: resolve_executions(c, Path("/nonexistent"))):
        try:
            query(config)
        except ScenarioError as exc:
            assert str(exc) and "\n" not in str(exc)  # noqa: PT017 -- may or may not refuse


# --- load tools ----------------------------------------------------------------------------


def test_python_tools_present_here():
    check_executors_installed(["locust", "pytest", "locust"])


def test_python_tool_missing():
    if importlib.util.find_spec("robot") is not None:
        pytest.skip("robotframework is installed here")
    assert failure(check_executors_installed, ["locust", "robot"]) == (
        "bzt executor 'robot' needs Python module robot, which this image does not have; nothing is installed "
        "at run time: build your own image FROM salvo-executor that adds it"
    )


def test_checking_locust_does_not_import_it():
    code = (
        "import sys; from salvo.executor.scenario.toolcheck import check_executors_installed; "
        "check_executors_installed(['locust']);"
        "assert 'locust' not in sys.modules and 'gevent' not in sys.modules, 'imported'"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)


def test_command_tools_on_path_or_where_bzt_installs_them(no_tools, tmp_path):
    message = failure(check_executors_installed, ["jmeter"])
    assert message.startswith("bzt executor 'jmeter' needs command jmeter (on PATH or ~/.bzt/jmeter-taurus/")
    assert "FROM salvo-executor" in message
    assert "needs command k6 (on PATH)" in failure(check_executors_installed, ["k6"])
    executable(no_tools / "k6")
    executable(tmp_path / "home/.bzt/jmeter-taurus/5.6.3/bin/jmeter")
    check_executors_installed(["k6", "jmeter"])
    assert "command gatling.sh" in failure(check_executors_installed, ["gatling"])
    executable(tmp_path / "opt/gatling/bin/gatling.sh")
    check_executors_installed(["gatling"], {"gatling": str(tmp_path / "opt/gatling")})


def test_unknown_executor_lists_the_known_ones():
    message = failure(check_executors_installed, ["wrk2"])
    assert message.startswith("unknown bzt executor 'wrk2'; known: ab, apiritif, gatling, jmeter, k6, locust")


# --- locustfiles (each check starts a Python with locust: keep them few) -------------------


def test_valid_locustfile_returns_its_user_classes_and_sees_its_folder(tmp_path):
    written(tmp_path / "helpers.py", "PATH = '/'\n")
    written(tmp_path / "users.csv", "alice\n")
    path = written(
        tmp_path / "locustfile.py",
        (
            "from locust import HttpUser, FastHttpUser, User, task\n"
            "from helpers import PATH\n"
            "NAMES = open('users.csv').read().split()\n"
            "class Base(HttpUser):\n    abstract = True\n"
            "class Shopper(Base):\n    @task\n    def index(self):\n        self.client.get(PATH)\n"
            "class Fast(FastHttpUser):\n    @task\n    def index(self):\n        self.client.get(PATH)\n"
            'print(\'@@salvo-locustfile-probe@@ {"users": ["Forged"]}\')\n'
            "print('@@salvo-locustfile-probe@@ not json')\n"
        ),
    )
    assert check_locustfile(path) == ["Shopper", "Fast"]


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        (
            "from locust import HttpUser\n\ndef broken(:\n",
            "bad.py: cannot be imported: SyntaxError: invalid syntax (line 3)",
        ),
        (
            "import os\nimport does_not_exist_anywhere\n",
            "bad.py: cannot be imported: ModuleNotFoundError: No module named 'does_not_exist_anywhere' (line 2)",
        ),
        (
            "from locust import HttpUser\nprint('no user class here')\n",
            "bad.py defines no locust User class (a subclass of HttpUser, FastHttpUser or User with tasks)",
        ),
        (
            "from locust import HttpUser\nclass Idle(HttpUser):\n    pass\n",
            "bad.py: User class Idle has no tasks: add @task methods or set tasks, or set abstract = True",
        ),
    ],
)
def test_broken_locustfiles(tmp_path, body, expected):
    assert failure(check_locustfile, written(tmp_path / "bad.py", body)).startswith(expected)


def test_locustfile_that_hangs_is_stopped(tmp_path):
    path = written(tmp_path / "slow.py", "import time\ntime.sleep(60)\n")
    started = time.monotonic()
    assert failure(check_locustfile, path, timeout=2) == "slow.py: importing it took longer than 2 s"
    assert time.monotonic() - started < 15


def test_locustfile_missing_or_shadowing_locust(tmp_path):
    assert failure(check_locustfile, tmp_path / "absent.py") == "locustfile absent.py does not exist in the scenario"
    shadow = written(tmp_path / "locust.py", LOCUSTFILE)
    assert "may not be named locust.py" in failure(check_locustfile, shadow)


# --- check(): the arm-time check ---------------------------------------------------------------


def test_check_a_dlt_bundle_and_a_yaml_with_a_script_in_a_subfolder(tmp_path):
    check(unpacked(tmp_path, {"test.json": json.dumps(DLT_CONFIG), "locustfile.py": LOCUSTFILE}))
    # bzt runs in the config's folder: the script's own relative reads resolve from there
    script = LOCUSTFILE + "ROWS = open('data/users.csv').read()\n"
    scenario = unpacked(tmp_path / "y", {"test.yml": YAML_INLINE, "scripts/shop.py": script, "data/users.csv": "a"})
    check(scenario)


def test_check_names_the_entry_and_the_script(tmp_path):
    missing = unpacked(tmp_path, {"proj/test.yml": YAML_INLINE})
    assert failure(check, missing) == "proj/test.yml: locust script scripts/shop.py does not exist in the scenario"
    no_users = unpacked(tmp_path / "b", {"test.json": json.dumps(DLT_CONFIG), "locustfile.py": "x = 1\n"})
    assert failure(check, no_users).startswith("test.json: locustfile.py defines no locust User class")
    no_execution = unpacked(tmp_path / "c", {"test.yml": "scenarios:\n  s: {script: a.py}\n"})
    assert failure(check, no_execution) == "test.yml: config has no execution: section (what bzt should run)"


@pytest.mark.parametrize(
    ("config", "expected"),
    [
        (
            {
                "execution": [{"executor": "locust", "scenario": "s1"}],
                "scenarios": {"s1": {"default-address": "http://x"}},
            },
            "t.yml: execution item 1 (locust): scenario 's1' has neither script: nor requests:",
        ),
        (
            {"execution": [{"executor": "locust", "scenario": {"script": "https://example.com/lf.py"}}]},
            "t.yml: script 'https://example.com/lf.py' is a URL; put the script in a .zip bundle so it can be checked",
        ),
        (
            {"execution": [{"executor": "locust", "scenario": "lf.py"}]},
            "t.yml: execution item 1 refers to scenario 'lf.py', which is neither defined under scenarios: "
            "(defined: none) nor a file",
        ),
    ],
)
def test_check_refuses_locust_scenarios_it_cannot_check(tmp_path, config, expected):
    source = written(tmp_path / "t.yml", json.dumps(config))
    scenario = unpack(source, "t.yml", SHA, tmp_path / "work", entry=None, limits=LIMITS)
    assert failure(check, scenario) == expected


def test_check_refuses_a_tool_the_image_lacks(tmp_path, no_tools):
    scenario = unpacked(tmp_path, {"plan.yml": "execution:\n- scenario: {script: plan.jmx}\n", "plan.jmx": "<x/>"})
    message = failure(check, scenario)
    assert message.startswith("plan.yml: bzt executor 'jmeter' needs command jmeter")
    written(tmp_path / "plan2.yml", "execution:\n- executor: wrk\n  scenario: {script: plan.jmx}\n")
    other = unpack(tmp_path / "plan2.yml", "plan2.yml", SHA, tmp_path / "w2", entry=None, limits=LIMITS)
    assert failure(check, other).startswith("plan2.yml: unknown bzt executor 'wrk'")


def test_check_a_bare_locustfile(tmp_path):
    source = written(tmp_path / "downloaded", "import nope_not_here\n")
    scenario = unpack(source, "shop.py", SHA, tmp_path / "work", entry=None, limits=LIMITS)
    assert failure(check, scenario) == (
        "shop.py: cannot be imported: ModuleNotFoundError: No module named 'nope_not_here' (line 1)"
    )


@settings(max_examples=200, deadline=None)
@given(names=st.lists(st.text(alphabet="ab./\\:C", min_size=1, max_size=10), min_size=1, max_size=4))
def test_no_member_name_lands_outside(tmp_path_factory, names):
    work = tmp_path_factory.mktemp("names")
    make_zip(work / "b.zip", dict.fromkeys(names, "x"))
    dest = work / "sub" / "out"
    try:
        files = safe_extract(work / "b.zip", dest, LIMITS)
    except ScenarioError as exc:
        assert "\n" not in str(exc) and not any(dest.iterdir())  # noqa: PT017 -- may or may not refuse
    else:
        assert all(f.resolve().is_relative_to(dest.resolve()) for f in files)
    assert {p.relative_to(work).as_posix() for p in work.rglob("*") if not p.is_relative_to(dest)} == {"b.zip", "sub"}
