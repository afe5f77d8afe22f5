"""One resolver for what each execution runs: named, inline and script-path scenarios, as bzt reads them."""

from __future__ import annotations

import copy
from pathlib import Path

import pytest

from salvo.common.errors import ExitCode, ScenarioError
from salvo.executor.scenario.executions import Execution, ScenarioForm, resolve_executions, scenario_mapping


def failure(config: dict, config_dir: Path) -> str:
    with pytest.raises(ScenarioError) as caught:
        resolve_executions(config, config_dir)
    assert caught.value.exit_code == ExitCode.SCENARIO and "\n" not in str(caught.value)
    return str(caught.value)


def test_every_form_of_scenario_resolves_to_its_script(tmp_path):
    (tmp_path / "by_path.py").write_text("")
    config = {
        "execution": [
            {"executor": "locust", "scenario": "s1"},
            {"executor": "locust", "scenario": {"script": "/opt/abs.py"}},
            {"executor": "locust", "scenario": "generated"},
            {"executor": "jmeter", "scenario": {"script": "plan.jmx"}},
            {"executor": "locust", "scenario": "by_path.py"},
            {"scenario": {"script": "https://example.com/lf.py"}},
        ],
        "scenarios": {"s1": {"script": "sub/locustfile.py"}, "generated": {"requests": ["http://x/"]}},
        "settings": {"default-executor": "locust"},
    }
    got = resolve_executions(config, tmp_path)
    assert [(e.number, e.executor, e.form, e.name, e.script, e.script_url) for e in got] == [
        (1, "locust", ScenarioForm.NAMED, "s1", tmp_path / "sub/locustfile.py", None),
        (2, "locust", ScenarioForm.INLINE, None, Path("/opt/abs.py"), None),
        (3, "locust", ScenarioForm.NAMED, "generated", None, None),
        (4, "jmeter", ScenarioForm.INLINE, None, tmp_path / "plan.jmx", None),
        (5, "locust", ScenarioForm.SCRIPT_PATH, None, tmp_path / "by_path.py", None),
        (6, "locust", ScenarioForm.INLINE, None, None, "https://example.com/lf.py"),
    ]
    assert got[0].scenario is config["scenarios"]["s1"]  # the config's own mapping, not a copy
    assert got[4].scenario == {"script": "by_path.py"}
    assert got[4].describe() == "scenario 'by_path.py' (execution item 5)"


def test_a_single_execution_mapping_and_the_default_executor(tmp_path):
    (got,) = resolve_executions({"execution": {"scenario": {"script": "plan.jmx"}}}, tmp_path)
    assert got.executor == "jmeter" and got.form is ScenarioForm.INLINE


def test_a_name_under_scenarios_wins_over_a_file_of_that_name(tmp_path):
    (tmp_path / "shop.py").write_text("")
    config = {
        "execution": [{"executor": "locust", "scenario": "shop.py"}],
        "scenarios": {"shop.py": {"script": "other.py"}},
    }
    (got,) = resolve_executions(config, tmp_path)
    assert got.form is ScenarioForm.NAMED and got.script == tmp_path / "other.py"


@pytest.mark.parametrize(
    ("execution", "scenarios", "expected"),
    [
        (
            {"executor": "locust", "scenario": "nope"},
            {"s1": {}},
            "execution item 1 refers to scenario 'nope', which is neither defined under scenarios: (defined: s1) "
            "nor a file",
        ),
        ({"executor": "jmeter", "scenario": "nope"}, {}, "scenario 'nope', which is neither defined"),
        ({"executor": "locust", "scenario": "a_folder"}, {}, "scenario 'a_folder', which is neither defined"),
        ({"executor": "locust"}, {}, "execution item 1 has no scenario:"),
        ({"executor": "locust", "scenario": "s1"}, {"s1": ["script"]}, "scenario 's1' must be a mapping, not a list"),
        ({"executor": "locust", "scenario": {"script": ["a.py"]}}, {}, "script: must be a file path, not a list"),
    ],
)
def test_unresolvable_scenarios(tmp_path, execution, scenarios, expected):
    (tmp_path / "a_folder").mkdir()
    assert expected in failure({"execution": [execution], "scenarios": scenarios}, tmp_path)


def test_scenario_mapping_locates_each_form_in_a_copy_and_extracts_a_script_path(tmp_path):
    (tmp_path / "lf.py").write_text("")
    config = {
        "execution": [
            {"executor": "locust", "scenario": "s"},
            {"executor": "locust", "scenario": {"script": "i.py"}},
            {"executor": "locust", "scenario": "lf.py"},
        ],
        "scenarios": {"s": {"script": "n.py"}},
    }
    executions = resolve_executions(config, tmp_path)
    copied = copy.deepcopy(config)
    named, inline, by_path = (scenario_mapping(copied, e) for e in executions)
    assert named is copied["scenarios"]["s"] and inline is copied["execution"][1]["scenario"]
    assert by_path is copied["execution"][2]["scenario"] == {"script": "lf.py"}  # inline now, as bzt extracts it
    assert scenario_mapping(copied, executions[2]) is by_path  # asking again changes nothing
    assert config["execution"][2]["scenario"] == "lf.py"  # the resolved config itself is untouched


def test_executions_compare_by_what_they_run(tmp_path):
    config = {"execution": [{"executor": "locust", "scenario": "s"}], "scenarios": {"s": {"script": "a.py"}}}
    (got,) = resolve_executions(config, tmp_path)
    assert got == Execution(1, "locust", ScenarioForm.NAMED, "s", {"script": "a.py"}, tmp_path / "a.py")
