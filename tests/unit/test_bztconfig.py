"""What Salvo hands to bzt: checked once, gated wrappers for locust scripts, the user's config otherwise."""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

import pytest
import yaml

from salvo.common.errors import ExitCode, ScenarioError
from salvo.executor.scenario import checks
from salvo.executor.scenario.bztconfig import LoadProfile, RunPlan, prepare_run, write_plan
from salvo.executor.scenario.checks import CheckedScenario, scenario_config
from salvo.executor.scenario.executions import resolve_executions
from salvo.executor.scenario.unpack import EntryKind, Scenario

TARGET = "http://127.0.0.1:8080"
PROFILE = LoadProfile(users=10, duration=30, spawn_rate=5, target_host=TARGET)
NO_TARGET = LoadProfile(users=10, duration=30)
LOCUSTFILE = (
    "from locust import HttpUser, task\n\nclass Shopper(HttpUser):\n    @task\n    def index(self):\n        pass\n"
)


def scenario(path: Path, kind: EntryKind = EntryKind.TAURUS) -> Scenario:
    return Scenario(root=path.parent, entry=path, kind=kind, sha256="0" * 64)


def written(path: Path, content: str | dict) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(content if isinstance(content, str) else json.dumps(content))
    return path


def prepared(tmp_path: Path, entry: Path, kind: EntryKind = EntryKind.TAURUS, profile: LoadProfile = PROFILE):
    plan = prepare_run(scenario(entry, kind), profile, artifacts_dir=tmp_path / "artifacts", plan_dir=tmp_path / "plan")
    return plan, yaml.safe_load(plan.configs[0].read_text()), yaml.safe_load(plan.configs[1].read_text())


def refusal(tmp_path: Path, entry: Path, kind: EntryKind = EntryKind.TAURUS, profile: LoadProfile = NO_TARGET) -> str:
    with pytest.raises(ScenarioError) as caught:
        prepared(tmp_path, entry, kind, profile)
    assert caught.value.exit_code == ExitCode.SCENARIO and "\n" not in str(caught.value)
    assert not (tmp_path / "plan" / "scenario.yml").exists(), "nothing is planned for a refused scenario"
    return str(caught.value)


def planned_without_checks(tmp_path: Path, entry: Path, profile: LoadProfile) -> tuple[RunPlan, dict]:
    """The plan alone, for executors whose tools this machine lacks."""
    source = scenario(entry)
    config = scenario_config(source)
    checked = CheckedScenario(source, config, resolve_executions(config, entry.parent))
    plan = write_plan(checked, profile, tmp_path / "artifacts", tmp_path / "plan")
    return plan, yaml.safe_load(plan.configs[0].read_text())


# --- gated runs -----------------------------------------------------------------------------------


def test_bare_locustfile_gets_a_generated_gated_config(tmp_path):
    locustfile = written(tmp_path / "src" / "locustfile.py", LOCUSTFILE)
    plan, config, overrides = prepared(tmp_path, locustfile, EntryKind.LOCUSTFILE)
    assert plan.gates == 1 and plan.gated and plan.cwd == locustfile.parent and plan.executors == ["locust"]
    (execution,) = config["execution"]
    assert execution["executor"] == "locust" and execution["concurrency"] == 10
    assert execution["hold-for"] == "30s" and execution["ramp-up"] == "2s"  # 10 users at 5/s
    script = Path(config["scenarios"]["salvo"]["script"])
    assert config["scenarios"]["salvo"]["default-address"] == TARGET
    wrapper = script.read_text()
    assert "_salvo.install()" in wrapper and str(locustfile.resolve()) in wrapper
    assert "from salvo.executor.tool import locust_plugin" in wrapper
    assert overrides["settings"]["check-updates"] is False
    assert overrides["settings"]["artifacts-dir"] == str(tmp_path / "artifacts")


def test_dlt_style_test_json_with_named_scenario_is_gated(tmp_path):
    written(tmp_path / "locustfile.py", LOCUSTFILE)
    entry = written(
        tmp_path / "test.json",
        {
            "execution": [{"executor": "locust", "concurrency": 3, "hold-for": "5s", "scenario": "s1"}],
            "scenarios": {"s1": {"script": "locustfile.py", "default-address": "http://127.0.0.1:1"}},
        },
    )
    plan, config, _ = prepared(tmp_path, entry)
    assert plan.gates == 1
    assert config["execution"][0]["concurrency"] == 3  # the user's load profile is kept
    assert "salvo_gate" in config["scenarios"]["s1"]["script"]
    assert config["scenarios"]["s1"]["default-address"] == "http://127.0.0.1:1"  # not SALVO_TARGET_HOST's


def test_script_path_scenario_is_gated_and_gets_the_target_host(tmp_path):
    """AWS DLT's test.json: `scenario: <script>`, no scenarios: and no host anywhere."""
    locustfile = written(tmp_path / "locustfile.py", LOCUSTFILE)
    entry = written(
        tmp_path / "test.json",
        {
            "execution": [{"executor": "locust", "concurrency": 2, "hold-for": "5s", "scenario": "locustfile.py"}],
        },
    )
    plan, config, _ = prepared(tmp_path, entry)
    assert plan.gated and plan.gates == 1
    inline = config["execution"][0]["scenario"]
    assert inline["default-address"] == TARGET
    wrapper = Path(inline["script"])
    assert wrapper.parent == tmp_path / "plan" and str(locustfile.resolve()) in wrapper.read_text()


def test_two_executions_of_one_scenario_share_a_wrapper_and_hold_two_gates(tmp_path):
    written(tmp_path / "l.py", LOCUSTFILE)
    entry = written(
        tmp_path / "t.yml",
        yaml.safe_dump(
            {
                "execution": [{"executor": "locust", "scenario": "s"}, {"executor": "locust", "scenario": "l.py"}],
                "scenarios": {"s": {"script": "l.py"}},
            }
        ),
    )
    plan, config, _ = prepared(tmp_path, entry)
    assert plan.gates == 2
    assert len(list((tmp_path / "plan").glob("salvo_gate_*.py"))) == 1
    assert config["scenarios"]["s"]["script"] == config["execution"][1]["scenario"]["script"]


# --- runs that cannot be gated --------------------------------------------------------------------


def test_executors_that_cannot_be_gated_run_as_given_but_for_the_target_host(tmp_path):
    entry = tmp_path / "jmx.yml"
    original = {"execution": {"executor": "apiritif", "scenario": {"requests": ["http://127.0.0.1/"]}}}
    entry.write_text(yaml.safe_dump(original))
    plan, config = planned_without_checks(tmp_path, entry, NO_TARGET)
    assert plan.gates == 0 and not plan.gated and plan.executors == ["apiritif"]
    assert config == original
    _, config = planned_without_checks(tmp_path, entry, PROFILE)
    assert config["execution"]["scenario"] == {"requests": ["http://127.0.0.1/"], "default-address": TARGET}


def test_locust_requests_run_gated_from_the_locustfile_salvo_writes(tmp_path):
    entry = written(
        tmp_path / "gen.yml", yaml.safe_dump({"execution": [{"executor": "locust", "scenario": {"requests": ["/"]}}]})
    )
    plan, config, _ = prepared(tmp_path, entry)
    assert plan.gated and plan.gates == 1 and plan.locust_stats
    scenario = config["execution"][0]["scenario"]
    assert scenario["default-address"] == TARGET
    wrapper = Path(scenario["script"])
    assert (
        wrapper.name.startswith("salvo_gate_") and str(tmp_path / "plan" / "salvo_requests_1.py") in wrapper.read_text()
    )


# --- refused while arming ------------------------------------------------------------------------


def test_hostless_locust_user_is_refused_without_any_host(tmp_path):
    written(tmp_path / "locustfile.py", LOCUSTFILE)
    entry = written(tmp_path / "test.json", {"execution": [{"executor": "locust", "scenario": "locustfile.py"}]})
    assert refusal(tmp_path, entry) == (
        "test.json: locustfile.py: User class Shopper has no host and nothing else names one: set `host` on the "
        "class, `default-address` in the Taurus scenario, or SALVO_TARGET_HOST"
    )
    bare = refusal(tmp_path, tmp_path / "locustfile.py", EntryKind.LOCUSTFILE)
    assert bare.startswith("locustfile.py: User class Shopper has no host")


def test_relative_requests_are_refused_without_any_host(tmp_path):
    entry = written(
        tmp_path / "gen.yml",
        yaml.safe_dump(
            {"execution": [{"executor": "locust", "scenario": "gen"}], "scenarios": {"gen": {"requests": ["/index"]}}}
        ),
    )
    assert refusal(tmp_path, entry) == (
        "gen.yml: scenario 'gen': request URL '/index' is relative and nothing names a host: set `default-address` "
        "in the Taurus scenario, or SALVO_TARGET_HOST"
    )


def test_the_config_is_parsed_once_per_arm(tmp_path, monkeypatch):
    written(tmp_path / "locustfile.py", LOCUSTFILE)
    entry = written(tmp_path / "test.json", {"execution": [{"executor": "locust", "scenario": "locustfile.py"}]})
    reads = []
    original = checks.load_taurus_config
    monkeypatch.setattr(checks, "load_taurus_config", lambda path: reads.append(path) or original(path))
    prepared(tmp_path, entry)
    assert reads == [entry]


# --- JMeter, held at its own gate ---------------------------------------------------------------


def jmeter_home(tmp_path: Path, with_gate: bool = True, version: str | None = "5.6.3") -> Path:
    """A stand-in JMeter home: bin/jmeter, its core jar's manifest and, as Salvo's install has it, the gate."""
    home = tmp_path / "jmeter-home"
    written(home / "bin" / "jmeter", "#!/bin/sh\n").chmod(0o755)
    if with_gate:
        written(home / "bin" / "salvo-gate.groovy", "io.salvo.jmeter.StartGate.install()\n")
    if version:
        (home / "lib" / "ext").mkdir(parents=True)
        with zipfile.ZipFile(home / "lib" / "ext" / "ApacheJMeter_core.jar", "w") as jar:
            jar.writestr("META-INF/MANIFEST.MF", f"Manifest-Version: 1.0\r\nImplementation-Version: {version}\r\n")
    return home


def test_jmeter_executions_are_gated_and_their_concurrency_becomes_a_share_property(tmp_path):
    home = jmeter_home(tmp_path)
    entry = written(
        tmp_path / "test.json",
        {
            "execution": [
                {
                    "executor": "jmeter",
                    "concurrency": 10,
                    "ramp-up": "5s",
                    "hold-for": "1m",
                    "scenario": {"script": "a.jmx"},
                },
                {"executor": "jmeter", "concurrency": "4", "scenario": {"requests": ["http://127.0.0.1/"]}},
            ],
            "modules": {"jmeter": {"path": str(home / "bin" / "jmeter")}},
        },
    )
    written(tmp_path / "a.jmx", "<jmeterTestPlan/>")
    plan, config = planned_without_checks(tmp_path, entry, NO_TARGET)
    assert plan.gated and plan.gates == 2 and plan.gate_needs_a_path and not plan.locust_stats
    assert plan.concurrencies == [10, 4] and plan.tools == {"jmeter": "5.6.3"}  # in the summary's tools
    assert [item["concurrency"] for item in config["execution"]] == [
        "${__P(salvo.share.of.10,10)}",
        "${__P(salvo.share.of.4,4)}",
    ]
    assert config["execution"][0]["ramp-up"] == "5s" and config["execution"][0]["hold-for"] == "1m"
    jmeter = yaml.safe_load(plan.configs[1].read_text())["modules"]["jmeter"]
    assert (jmeter["path"], jmeter["detect-plugins"], jmeter["force-ctg"], jmeter["plugins"]) == (
        str(home / "bin" / "jmeter"),
        False,
        False,
        [],
    )  # this JMeter, nothing installed at run time
    properties = jmeter["properties"]
    assert properties == {
        "jsr223.init.file": str((home / "bin" / "salvo-gate.groovy").resolve()),
        "salvo.share.totals": "4,10",
        "sampleresult.timestamp.start": True,
    }


def test_a_jmeter_whose_version_cannot_be_read_still_runs_with_the_version_unknown(tmp_path):
    home = jmeter_home(tmp_path, version=None)
    entry = written(
        tmp_path / "test.json",
        {
            "execution": [{"executor": "jmeter", "scenario": {"requests": ["http://127.0.0.1/"]}}],
            "modules": {"jmeter": {"path": str(home)}},
        },
    )
    plan, _ = planned_without_checks(tmp_path, entry, NO_TARGET)
    assert plan.gated and plan.tools == {"jmeter": None}


def test_a_jmeter_without_salvos_gate_is_refused_rather_than_started_late(tmp_path):
    home = jmeter_home(tmp_path, with_gate=False)
    entry = written(
        tmp_path / "test.yml",
        yaml.safe_dump(
            {
                "execution": [{"executor": "jmeter", "scenario": {"requests": ["http://127.0.0.1/"]}}],
                "modules": {"jmeter": {"path": str(home)}},
            }
        ),
    )
    with pytest.raises(ScenarioError, match="has no Salvo start gate"):
        planned_without_checks(tmp_path, entry, NO_TARGET)


def test_locust_and_jmeter_in_one_config_are_refused(tmp_path):
    home = jmeter_home(tmp_path)
    written(tmp_path / "locustfile.py", LOCUSTFILE)
    entry = written(
        tmp_path / "test.yml",
        yaml.safe_dump(
            {
                "execution": [
                    {"executor": "jmeter", "scenario": {"requests": ["http://127.0.0.1/"]}},
                    {"executor": "locust", "scenario": {"script": "locustfile.py"}},
                ],
                "modules": {"jmeter": {"path": str(home)}},
            }
        ),
    )
    with pytest.raises(ScenarioError, match="mixes locust and jmeter"):
        planned_without_checks(tmp_path, entry, NO_TARGET)
