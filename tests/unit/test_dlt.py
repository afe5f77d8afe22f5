"""Every key AWS DLT writes into test.json, honoured or redirected: what bzt is handed for each."""

from __future__ import annotations

import csv
import logging
import time
import xml.etree.ElementTree as ElementTree
from pathlib import Path

import pytest

from salvo.common.errors import ExitCode, ScenarioError
from salvo.common.fleetload import LoadMode
from salvo.common.protocol import Start
from salvo.common.settings import load
from salvo.executor.results.aggregate import SummaryBuilder
from salvo.executor.results.finalstatus import write_final_stats
from salvo.executor.run.fleetplace import take_place
from salvo.executor.scenario.bztconfig import RunPlan
from salvo.executor.scenario.dlt import drop_task_counts, fleet_warning, task_counts
from salvo.executor.scenario.locustprobe import probe_locustfile
from salvo.executor.scenario.reportfiles import ReportOutput, parse_report_outputs, redirect_report_outputs
from salvo.executor.scenario.requestscript import locustfile_source, parse_requests
from salvo.executor.settings import ExecutorSettings
from salvo.executor.tool.samples import Sample
from tests.support.dlt import DLT_REPORTING, dlt_request, dlt_test_json
from tests.unit.test_bztconfig import (
    LOCUSTFILE,
    NO_TARGET,
    PROFILE,
    TARGET,
    jmeter_home,
    prepared,
    refusal,
    written,
)

URL = "http://127.0.0.1:8080/orders"
JSON_BODY = '{"sku": "a\\"b", "qty": 2}'  # quotes inside: bzt's own generator would write broken Python


def test_the_builder_writes_what_dlts_api_stores():
    text = dlt_test_json(
        "shop smoke", concurrency=3, task_count=2, hold_for="1m", ramp_up="30s", requests=[dlt_request(URL)]
    )
    assert text == (
        b'{"execution":[{"ramp-up":"30s","hold-for":"1m","scenario":"shop smoke","taskCount":2,"concurrency":3}],'
        b'"scenarios":{"shop smoke":{"requests":[{"url":"http://127.0.0.1:8080/orders","method":"GET","headers":{}}]}},'
        b'"reporting":[{"module":"final-stats","summary":true,"percentiles":true,"summary-labels":true,'
        b'"test-duration":true,"dump-xml":"/tmp/artifacts/results.xml"}]}'
    )


def dlt_locust(tmp_path: Path, **fields) -> tuple:
    written(tmp_path / "ABCDE12345.py", LOCUSTFILE)
    entry = tmp_path / "test.json"
    entry.write_bytes(dlt_test_json("shop smoke", executor="locust", script="ABCDE12345.py", **fields))
    return prepared(tmp_path, entry)


# --- execution: executor, concurrency, ramp-up, hold-for, scenario, taskCount ---------------------


def test_executor_locust_runs_the_named_script_gated(tmp_path):
    plan, config, _ = dlt_locust(tmp_path, concurrency=3, task_count=2)
    assert plan.executors == ["locust"] and plan.gated and plan.gates == 1
    assert "ABCDE12345.py" in Path(config["scenarios"]["shop smoke"]["script"]).read_text()  # the wrapper loads it


def test_no_executor_is_bzts_default_jmeter_gated_with_bzt_building_the_plan(tmp_path, monkeypatch):
    home = jmeter_home(tmp_path)
    monkeypatch.setenv("PATH", f"{home / 'bin'}:{monkeypatch.delenv('PATH', raising=False) or ''}")
    entry = tmp_path / "test.json"
    entry.write_bytes(
        dlt_test_json(
            "api",
            concurrency=4,
            task_count=2,
            requests=[dlt_request(URL, "POST", {"Content-Type": "application/json"}, JSON_BODY)],
        )
    )
    plan, config, overrides = prepared(tmp_path, entry, profile=NO_TARGET)
    assert plan.executors == ["jmeter"] and plan.gated and plan.gates == 1
    assert config["scenarios"]["api"]["requests"] == [
        {"url": URL, "method": "POST", "headers": {"Content-Type": "application/json"}, "body": JSON_BODY}
    ]
    assert "script" not in config["scenarios"]["api"]  # bzt builds the JMeter plan from requests:
    assert overrides["modules"]["jmeter"]["path"] == str(home / "bin" / "jmeter")


def test_concurrency_ramp_up_and_hold_for_are_bzts_and_run_on_every_executor(tmp_path):
    plan, config, _ = dlt_locust(tmp_path, concurrency=7, task_count=1, ramp_up="10s", hold_for="2m")
    item = config["execution"][0]
    assert (item["concurrency"], item["ramp-up"], item["hold-for"]) == (7, "10s", "2m")
    assert plan.concurrencies == [7]  # per-executor mode: each executor runs DLT's per-task concurrency


def test_numbers_dlts_api_stores_for_unitless_durations_reach_bzt_as_they_are(tmp_path):
    # createTest's validateTimeUnit stores "90" as the number 90 (parseInt): bzt reads a number as seconds
    plan, config, _ = dlt_locust(tmp_path, concurrency=2, task_count=1, ramp_up=0, hold_for=90)
    item = config["execution"][0]
    assert (item["ramp-up"], item["hold-for"]) == (0, 90) and plan.concurrencies == [2]


def test_the_scenario_is_named_by_the_test_name_spaces_and_all(tmp_path):
    _, config, _ = dlt_locust(tmp_path, concurrency=1, task_count=1)
    assert config["execution"][0]["scenario"] == "shop smoke" and list(config["scenarios"]) == ["shop smoke"]


def test_task_count_is_taken_out_of_bzts_config_and_kept_for_the_start(tmp_path):
    plan, config, _ = dlt_locust(tmp_path, concurrency=3, task_count=4)
    assert "taskCount" not in config["execution"][0] and plan.task_counts == [4]


def test_task_count_is_checked_against_the_fleet_that_started():
    assert fleet_warning([2], 2, LoadMode.PER_EXECUTOR) is None
    assert fleet_warning([], 5, LoadMode.FLEET) is None  # not a DLT scenario
    short = fleet_warning([4], 3, LoadMode.PER_EXECUTOR)
    assert "taskCount 4 but 3 executor(s) started" in short and "SALVO_EXPECTED_EXECUTORS" in short
    split = fleet_warning([2], 2, LoadMode.FLEET)
    assert "concurrency is per task" in split and "per-executor mode" in split


@pytest.mark.parametrize("value", [0, "two", True, 1.5])
def test_a_task_count_that_is_not_a_number_of_tasks_is_refused(value):
    with pytest.raises(ScenarioError, match="taskCount must be a whole number of tasks"):
        task_counts({"execution": [{"scenario": "s", "taskCount": value}]})
    config = {"execution": {"scenario": "s", "taskCount": "3"}}
    assert task_counts(config) == [3]
    drop_task_counts(config)
    assert config == {"execution": {"scenario": "s"}}


def test_a_bad_task_count_is_refused_while_arming_naming_the_file(tmp_path):
    written(tmp_path / "ABCDE12345.py", LOCUSTFILE)
    entry = tmp_path / "test.json"
    entry.write_bytes(dlt_test_json("shop", executor="locust", script="ABCDE12345.py", concurrency=1, task_count=0))
    assert refusal(tmp_path, entry, profile=PROFILE) == (
        "test.json: execution item 1: taskCount must be a whole number of tasks, not 0"
    )


# --- reporting: final-stats dump-xml and friends --------------------------------------------------


def test_dlts_results_xml_is_written_into_the_artifacts_with_dlts_options(tmp_path, caplog):
    caplog.set_level(logging.INFO)
    _, config, overrides = dlt_locust(tmp_path, concurrency=1, task_count=1)
    artifacts = tmp_path / "artifacts"
    assert config["reporting"] == [{**DLT_REPORTING[0], "dump-xml": str(artifacts / "results.xml")}]
    assert overrides["reporting"][0]["dump-xml"] == str(artifacts / "final-stats.xml")  # Salvo's own, beside it
    assert "final-stats dump-xml: /tmp/artifacts/results.xml is written as results.xml" in caplog.text


def test_every_output_path_moves_and_names_never_collide(tmp_path):
    config = {
        "reporting": [
            "final-stats",
            {"module": "final-stats", "dump-xml": "relative/results.xml", "dump-csv": "C:\\out\\stats.csv"},
            {"module": "final-stats", "dump-xml": "/elsewhere/results.xml"},
            {"module": "junit-xml", "filename": "/tmp/artifacts/final-stats.xml"},
            {"module": "final-stats", "dump-xml": "/tmp/.."},
            {"module": "passfail", "criteria": ["avg-rt>10s"]},
        ]
    }
    moved = parse_report_outputs(config)
    redirect_report_outputs(config, moved, tmp_path)
    assert [(m.module, m.key, m.given, m.name) for m in moved] == [
        ("final-stats", "dump-xml", "relative/results.xml", "results.xml"),
        ("final-stats", "dump-csv", "C:\\out\\stats.csv", "stats.csv"),
        ("final-stats", "dump-xml", "/elsewhere/results.xml", "report-1-results.xml"),
        ("junit-xml", "filename", "/tmp/artifacts/final-stats.xml", "report-1-final-stats.xml"),
        ("final-stats", "dump-xml", "/tmp/..", "final-stats-dump-xml"),
    ]
    assert [config["reporting"][m.position][m.key] for m in moved] == [str(tmp_path / m.name) for m in moved]
    assert config["reporting"][0] == "final-stats" and config["reporting"][5] == {
        "module": "passfail",
        "criteria": ["avg-rt>10s"],
    }


def test_a_reporting_section_of_the_wrong_shape_is_refused_while_arming(tmp_path):
    with pytest.raises(ScenarioError, match="reporting: must be a list"):
        parse_report_outputs({"reporting": {"module": "final-stats"}})
    written(tmp_path / "locustfile.py", LOCUSTFILE)
    entry = written(
        tmp_path / "test.json",
        {
            "execution": [{"executor": "locust", "scenario": "locustfile.py"}],
            "reporting": [{"module": "final-stats", "dump-xml": 3}],
        },
    )
    assert refusal(tmp_path, entry, profile=PROFILE) == (
        "test.json: reporting: final-stats dump-xml: must be a file path, not a int"
    )


# --- scenarios: requests with url, method, headers, body ------------------------------------------


def dlt_locust_requests(tmp_path: Path, requests: list, profile=PROFILE) -> tuple:
    entry = tmp_path / "test.json"
    entry.write_bytes(dlt_test_json("api", executor="locust", concurrency=2, task_count=1, requests=requests))
    return prepared(tmp_path, entry, profile=profile)


def test_locust_requests_become_a_gated_locustfile_with_every_value_a_literal(tmp_path):
    plan, _config, _ = dlt_locust_requests(
        tmp_path,
        [
            dlt_request(URL, "POST", {"Content-Type": "application/json", "X-Tenant": "a'b"}, JSON_BODY),
            dlt_request(URL + "?page=1"),
        ],
        profile=NO_TARGET,
    )
    assert plan.gated and plan.gates == 1
    source = (tmp_path / "plan" / "salvo_requests_1.py").read_text()
    # locust loads it, whatever the body holds
    users = probe_locustfile(tmp_path / "plan" / "salvo_requests_1.py").users
    assert [(user.name, user.http, user.host) for user in users] == [("Requests", True, "")]  # absolute URLs
    assert (
        f"self.client.request('POST', {URL!r}, name={URL!r}, timeout=30.0, headers="
        f"{{'Content-Type': 'application/json', 'X-Tenant': \"a'b\"}}, data={JSON_BODY!r})"
    ) in source
    assert f"self.client.request('GET', {URL + '?page=1'!r}" in source


def test_requests_keep_bzts_meaning_of_scenario_headers_timeouts_think_time_and_labels():
    scenario = {
        "requests": [
            {"url": "/a", "label": "first", "think-time": "250ms", "timeout": "5s", "headers": {"X-B": "2"}},
            "/b",
            {"url": "/c", "method": "put", "body": {"k": "v"}},
            {
                "url": "/d",
                "method": "PATCH",
                "body": {"k": "v"},
                "headers": {"content-type": "application/json; charset=utf-8"},
            },
        ],
        "headers": {"X-A": "1"},
        "timeout": "10s",
        "think-time": "1s",
        "keepalive": False,
        "default-address": TARGET,
    }
    first, second, third, fourth = parse_requests(scenario, "scenario 'api'")
    assert (first.name, first.timeout, first.think_time, first.headers) == (
        "first",
        5.0,
        0.25,
        {"X-A": "1", "Connection": "close", "X-B": "2"},
    )
    assert (second.method, second.url, second.name, second.timeout, second.think_time) == ("GET", "/b", "/b", 10.0, 1.0)
    assert third.method == "PUT" and third.body == {"k": "v"}  # form-encoded, as JMeter sends a mapping
    assert fourth.body == '{"k": "v"}'  # declared JSON: sent as JSON
    source = locustfile_source([first, second], TARGET)
    assert f"host = {TARGET!r}" in source and "sleep(0.25)" in source and "sleep(1.0)" in source


@pytest.mark.parametrize(
    ("request_item", "reason"),
    [
        ({"url": "/a", "assert": ["ok"]}, "request 1: 'assert' is not run by locust's requests"),
        ({"transaction": "t", "do": ["/a"]}, "request 1: 'transaction' blocks are not run by locust's requests"),
        ({"url": "/a", "method": "TRACE"}, "request 1: method 'TRACE' is not one of GET, POST"),
        ({"url": "/a", "body": 3}, "request 1: body must be a string or a mapping"),
        ({"url": "/a", "timeout": "soon"}, "request 1: timeout: 'soon' is not a duration"),
        ({"url": "/a", "headers": ["X: 1"]}, "request 1: headers: must be a mapping"),
    ],
)
def test_a_request_form_salvo_would_not_send_as_written_is_refused_while_arming(tmp_path, request_item, reason):
    entry = written(
        tmp_path / "test.json",
        {"execution": [{"executor": "locust", "scenario": "api"}], "scenarios": {"api": {"requests": [request_item]}}},
    )
    message = refusal(tmp_path, entry, profile=PROFILE)
    assert message.startswith(f"test.json: scenario 'api', {reason}"), message


def test_relative_dlt_urls_take_the_target_host(tmp_path):
    _, config, _ = dlt_locust_requests(tmp_path, [dlt_request("/orders")])
    assert config["scenarios"]["api"]["default-address"] == TARGET
    assert f"host = {TARGET!r}" in (tmp_path / "plan" / "salvo_requests_1.py").read_text()


def test_an_empty_requests_list_is_refused(tmp_path):
    entry = written(
        tmp_path / "test.json",
        {"execution": [{"executor": "locust", "scenario": "api"}], "scenarios": {"api": {"requests": []}}},
    )
    assert "has neither script: nor requests:" in refusal(tmp_path, entry)
    with pytest.raises(ScenarioError) as caught:
        parse_requests({"requests": []}, "scenario 'api'")
    assert caught.value.exit_code == ExitCode.SCENARIO


# --- results.xml of a gated locust run, from Salvo's own count ------------------------------------


def test_final_stats_files_are_written_from_the_runs_count_in_bzts_format(tmp_path):
    run = SummaryBuilder()
    for number in range(10):
        run.add(Sample(start=1000.0 + number, elapsed_ms=10.0 * (number + 1), label="/orders", code="200", bytes=5))
    run.add(Sample(start=1010.0, elapsed_ms=500.0, label="/pay", code="500", success=False, message="boom"))
    outputs = [
        ReportOutput(0, "final-stats", "dump-xml", "/tmp/artifacts/results.xml", "results.xml"),
        ReportOutput(0, "final-stats", "dump-csv", "out.csv", "out.csv"),
        ReportOutput(1, "junit-xml", "filename", "junit.xml", "junit.xml"),
    ]
    assert write_final_stats(outputs, tmp_path, run, concurrency=3) == [tmp_path / "results.xml", tmp_path / "out.csv"]

    root = ElementTree.parse(tmp_path / "results.xml").getroot()
    assert root.tag == "FinalStatus" and root.findtext("TestDuration") == "10.5"
    groups = {group.get("label"): group for group in root.findall("Group")}
    assert list(groups) == ["/orders", "/pay", ""]  # labels, then all of them (DLT's parser reads label "")
    total = groups[""]
    values = {(e.tag, e.get("param")): e.get("value") for e in total}
    assert values[("throughput", None)] == "11" and values[("succ", None)] == "10" and values[("fail", None)] == "1"
    assert values[("concurrency", None)] == "3" and values[("bytes", None)] == "50"
    assert values[("rc", "200")] == "10" and values[("rc", "500")] == "1"
    assert values[("avg_rt", None)] == "0.09545"  # (550 + 500) ms / 11, in seconds as bzt writes it
    assert [param for tag, param in values if tag == "perc"] == ["0.0", "50.0", "90.0", "95.0", "99.0", "99.9", "100.0"]
    assert float(values[("perc", "100.0")]) == pytest.approx(0.5, rel=0.01)
    first = total.find("throughput")
    assert (first.findtext("name"), first.findtext("value")) == ("throughput", "11")
    assert total.find("rc[@param='500']").findtext("name") == "rc/500"

    with open(tmp_path / "out.csv") as out:
        rows = list(csv.DictReader(out))
    assert [row["label"] for row in rows] == ["/orders", "/pay", ""]
    assert list(rows[0])[:10] == [
        "label",
        "avg_ct",
        "avg_lt",
        "avg_rt",
        "bytes",
        "concurrency",
        "fail",
        "stdev_rt",
        "succ",
        "throughput",
    ]
    assert rows[2]["perc_95.0"] and rows[2]["rc_500"] == "1" and rows[0]["rc_500"] == ""


def test_the_start_warns_when_the_fleet_is_not_dlts_task_count(tmp_path, caplog):
    settings = load(
        ExecutorSettings,
        {"SALVO_SCENARIO_URI": "s3://bucket/scenarios/test.json", "SALVO_RESULTS_URI": "s3://bucket/results/"},
    )
    plan = RunPlan(configs=[], cwd=tmp_path, gates=1, executors=["locust"], concurrencies=[5], task_counts=[3])
    start = Start(run_id="dlt-run", fleet=["a", "b"], start_at=time.time() + 5)
    with caplog.at_level(logging.WARNING):
        place = take_place(start, "a", settings, plan, None)
    assert place.size == 2
    assert "taskCount 3 but 2 executor(s) started" in caplog.text
    caplog.clear()
    take_place(Start(run_id="dlt-run", fleet=["a", "b", "c"], start_at=time.time() + 5), "a", settings, plan, None)
    assert "taskCount" not in caplog.text


def test_dlt_v3_bodies_are_mappings_and_an_empty_one_sends_nothing():
    empty, form = parse_requests(
        {
            "requests": [
                {"url": URL, "method": "GET", "body": {}, "headers": {}},
                {"url": URL, "method": "POST", "body": {"a": "1"}},
            ]
        },
        "scenario 'v3'",
    )
    assert empty.body is None and empty.headers == {}
    assert form.body == {"a": "1"} and "data={'a': '1'}" in locustfile_source([form], None)
