"""What Salvo hands to bzt: gated wrappers for locust scripts, the user's config otherwise."""

from __future__ import annotations

import json
from pathlib import Path

import yaml

from salvo.executor.bztconfig import LoadProfile, plan_run
from salvo.executor.scenario import EntryKind, Scenario

PROFILE = LoadProfile(users=10, duration=30, spawn_rate=5, target_host="http://127.0.0.1:8080")


def scenario(path: Path, kind: EntryKind) -> Scenario:
    return Scenario(root=path.parent, entry=path, kind=kind, sha256="0" * 64)


def planned(tmp_path: Path, entry: Path, kind: EntryKind):
    plan = plan_run(scenario(entry, kind), PROFILE, tmp_path / "artifacts", tmp_path / "plan")
    return plan, yaml.safe_load(plan.configs[0].read_text()), yaml.safe_load(plan.configs[1].read_text())


def test_bare_locustfile_gets_a_generated_gated_config(tmp_path):
    locustfile = tmp_path / "src" / "locustfile.py"
    locustfile.parent.mkdir()
    locustfile.write_text("from locust import HttpUser\n")
    plan, config, overrides = planned(tmp_path, locustfile, EntryKind.LOCUSTFILE)
    assert plan.gates == 1 and plan.cwd == locustfile.parent
    (execution,) = config["execution"]
    assert execution["executor"] == "locust" and execution["concurrency"] == 10
    assert execution["hold-for"] == "30s" and execution["ramp-up"] == "2s"  # 10 users at 5/s
    script = Path(config["scenarios"]["salvo"]["script"])
    assert config["scenarios"]["salvo"]["default-address"] == "http://127.0.0.1:8080"
    wrapper = script.read_text()
    assert "_salvo.install()" in wrapper and str(locustfile.resolve()) in wrapper
    assert overrides["settings"]["check-updates"] is False
    assert overrides["settings"]["artifacts-dir"] == str(tmp_path / "artifacts")


def test_dlt_style_test_json_with_named_scenario_is_gated(tmp_path):
    (tmp_path / "locustfile.py").write_text("")
    entry = tmp_path / "test.json"
    entry.write_text(json.dumps({
        "execution": [{"executor": "locust", "concurrency": 3, "hold-for": "5s", "scenario": "s1"}],
        "scenarios": {"s1": {"script": "locustfile.py", "default-address": "http://x"}},
    }))
    plan, config, _ = planned(tmp_path, entry, EntryKind.TAURUS)
    assert plan.gates == 1
    assert config["execution"][0]["concurrency"] == 3  # the user's load profile is kept
    assert "salvo_gate" in config["scenarios"]["s1"]["script"]


def test_two_executions_of_one_scenario_share_a_wrapper_and_hold_two_gates(tmp_path):
    (tmp_path / "l.py").write_text("")
    entry = tmp_path / "t.yml"
    entry.write_text(yaml.safe_dump({
        "execution": [{"executor": "locust", "scenario": "s"}, {"executor": "locust", "scenario": "s"}],
        "scenarios": {"s": {"script": "l.py"}},
    }))
    plan, config, _ = planned(tmp_path, entry, EntryKind.TAURUS)
    assert plan.gates == 2
    assert len(list((tmp_path / "plan").glob("salvo_gate_*.py"))) == 1


def test_executors_that_cannot_be_gated_run_as_given(tmp_path):
    entry = tmp_path / "jmx.yml"
    original = {"execution": {"executor": "jmeter", "scenario": {"requests": ["http://127.0.0.1/"]}}}
    entry.write_text(yaml.safe_dump(original))
    plan, config, _ = planned(tmp_path, entry, EntryKind.TAURUS)
    assert plan.gates == 0 and not plan.gated and plan.executors == ["jmeter"]
    assert config == original


def test_locust_without_script_is_not_gated(tmp_path):
    entry = tmp_path / "gen.yml"
    entry.write_text(yaml.safe_dump({"execution": [{"executor": "locust", "scenario": {"requests": ["/"]}}]}))
    plan, _, _ = planned(tmp_path, entry, EntryKind.TAURUS)
    assert plan.gates == 0
