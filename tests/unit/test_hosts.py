"""Where locust load goes: the User's host, the scenario's default-address or SALVO_TARGET_HOST - else refused."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest

from salvo.executor.scenario.checks import check_scenario
from salvo.executor.scenario.executions import resolve_executions
from salvo.executor.scenario.hosts import apply_target_host, default_address, host_problem
from salvo.executor.scenario.locustprobe import UserClass
from salvo.executor.scenario.unpack import EntryKind, Scenario

TARGET = "http://127.0.0.1:8080"
HOSTLESS = UserClass("Shopper", None, http=True)


def execution_of(tmp_path: Path, scenario: dict, executor: str = "locust"):
    (execution,) = resolve_executions({"execution": [{"executor": executor, "scenario": scenario}]}, tmp_path)
    return execution


def problem(tmp_path, scenario, users=(HOSTLESS,), target=None, executor="locust"):
    return host_problem(execution_of(tmp_path, scenario, executor), list(users), target, "lf.py")


# --- scripts: the User classes' host ---------------------------------------------------------


def test_http_user_without_host_and_nothing_else_is_refused_naming_file_class_and_remedies(tmp_path):
    message = problem(tmp_path, {"script": "lf.py"})
    assert message == (
        "lf.py: User class Shopper has no host and nothing else names one: set `host` on the class, "
        "`default-address` in the Taurus scenario, or SALVO_TARGET_HOST"
    )


@pytest.mark.parametrize(
    ("scenario", "users", "target"),
    [
        ({"script": "lf.py"}, [UserClass("Shopper", "http://127.0.0.1:1", http=True)], None),  # host attribute
        ({"script": "lf.py", "default-address": TARGET}, [HOSTLESS], None),  # the scenario's default-address
        ({"script": "lf.py"}, [HOSTLESS], TARGET),  # SALVO_TARGET_HOST
        ({"script": "lf.py"}, [UserClass("Custom", None, http=False)], None),  # a plain User needs no host
    ],
    ids=["user-host", "default-address", "target-host", "not-http"],
)
def test_script_with_a_host_from_somewhere_is_accepted(tmp_path, scenario, users, target):
    assert problem(tmp_path, scenario, users, target) is None


def test_empty_host_counts_as_none_and_the_first_hostless_class_is_named(tmp_path):
    users = [UserClass("Fine", "http://h", http=True), UserClass("Blank", " ", http=True), HOSTLESS]
    assert "User class Blank has no host" in problem(tmp_path, {"script": "lf.py", "default-address": ""}, users)


def test_other_executors_are_not_judged(tmp_path):
    assert problem(tmp_path, {"script": "plan.jmx", "requests": ["/x"]}, [], executor="jmeter") is None


# --- requests: bzt generates the locustfile -----------------------------------------------------


def test_relative_request_urls_without_address_are_refused(tmp_path):
    message = problem(tmp_path, {"requests": ["http://127.0.0.1/ok", {"url": "/cart", "method": "POST"}]}, [])
    assert message == (
        "the inline scenario of execution item 1: request URL '/cart' is relative and nothing names "
        "a host: set `default-address` in the Taurus scenario, or SALVO_TARGET_HOST"
    )


@pytest.mark.parametrize(
    ("scenario", "target"),
    [
        ({"requests": ["http://127.0.0.1/a", {"url": "HTTPS://example.test/b"}, {"transaction": "t", "do": []}]}, None),
        ({"requests": ["/a"], "default-address": TARGET}, None),
        ({"requests": ["/a"]}, TARGET),
    ],
    ids=["absolute", "default-address", "target-host"],
)
def test_requests_with_a_host_are_accepted(tmp_path, scenario, target):
    assert problem(tmp_path, scenario, [], target) is None


# --- SALVO_TARGET_HOST becomes the default-address of every scenario naming none ----------------


def test_target_host_fills_every_scenario_without_overriding_the_users(tmp_path):
    (tmp_path / "lf.py").write_text("")
    config = {
        "execution": [
            {"executor": "locust", "scenario": "named"},
            {"executor": "locust", "scenario": "lf.py"},
            {"executor": "locust", "scenario": {"script": "i.py"}},
            {"executor": "locust", "scenario": "own"},
        ],
        "scenarios": {
            "named": {"script": "n.py"},
            "own": {"script": "o.py", "default-address": "http://own:1"},
            "unused": {"requests": ["/"]},
        },
    }
    executions = resolve_executions(config, tmp_path)
    written = copy.deepcopy(config)
    apply_target_host(written, executions, TARGET)
    assert written["scenarios"]["named"]["default-address"] == TARGET
    assert written["execution"][1]["scenario"] == {"script": "lf.py", "default-address": TARGET}
    assert written["execution"][2]["scenario"]["default-address"] == TARGET
    assert written["scenarios"]["unused"]["default-address"] == TARGET
    assert written["scenarios"]["own"]["default-address"] == "http://own:1"  # never overridden
    unchanged = copy.deepcopy(config)
    apply_target_host(unchanged, executions, None)
    assert unchanged == config
    assert default_address({"default-address": "http://own:1"}, TARGET) == "http://own:1"
    assert default_address({}, TARGET) == TARGET and default_address({}, None) is None


# --- through check_scenario, with a real locustfile ---------------------------------------------


def test_check_scenario_reports_hostless_load_unless_the_target_host_is_given(tmp_path):
    (tmp_path / "lf.py").write_text(
        "from locust import HttpUser, task\n"
        "class Hosted(HttpUser):\n    host = 'http://127.0.0.1:9'\n    @task\n    def t(self):\n        pass\n"
        "class Visitor(HttpUser):\n    @task\n    def t(self):\n        pass\n"
    )
    entry = tmp_path / "test.json"
    entry.write_text(json.dumps({"execution": [{"executor": "locust", "scenario": "lf.py"}]}))
    scenario = Scenario(root=tmp_path, entry=entry, kind=EntryKind.TAURUS, sha256="0" * 64)
    checked = check_scenario(scenario)
    assert checked.users[tmp_path / "lf.py"] == [
        UserClass("Hosted", "http://127.0.0.1:9", True),
        UserClass("Visitor", None, True),
    ]
    assert checked.unaddressed == [
        "test.json: lf.py: User class Visitor has no host and nothing else names one: set `host` on the class, "
        "`default-address` in the Taurus scenario, or SALVO_TARGET_HOST"
    ]
    assert check_scenario(scenario, target_host=TARGET).unaddressed == []
