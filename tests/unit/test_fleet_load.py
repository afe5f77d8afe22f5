"""Fleet-wide load: how shares are computed, what an executor is told at the start, how data rows are split."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from salvo.common.errors import ExitCode, SalvoError
from salvo.common.fleetload import LoadMode, Slot, fleet_index, has_row, share_of_count, split_count
from salvo.common.protocol import FleetLoad, Start
from salvo.common.s3location import S3Location
from salvo.executor.scenario.testdata import DataFileError, fetch_test_data
from tests.support.fakes import FakeStore
from tests.unit.test_executor import make_executor, summary


@given(total=st.integers(0, 10**6), size=st.integers(1, 3000))
def test_shares_sum_exactly_and_differ_by_at_most_one(total, size):
    shares = split_count(total, size)
    assert sum(shares) == total and len(shares) == size
    assert max(shares) - min(shares) <= 1
    assert shares == sorted(shares, reverse=True)  # the extra units go to the first indexes
    assert all(share_of_count(total, i, size) == shares[i] for i in (0, size // 2, size - 1))


@given(rows=st.integers(0, 500), size=st.integers(1, 40))
def test_every_row_belongs_to_exactly_one_executor(rows, size):
    owners = [[i for i in range(size) if has_row(row, i, size)] for row in range(rows)]
    assert all(len(o) == 1 for o in owners)
    assert [sum(1 for o in owners if o == [i]) for i in range(size)] == split_count(rows, size)


def test_an_executors_index_is_its_place_among_the_sorted_ids():
    fleet = ["exec-c", "exec-a", "exec-b"]
    assert [fleet_index(fleet, i) for i in ("exec-a", "exec-b", "exec-c")] == [0, 1, 2]


@pytest.mark.parametrize(("executor_id", "users", "index"), [("exec-1", 3, 0), ("exec-2", 2, 1), ("exec-3", 2, 2)])
def test_fleet_users_give_each_executor_its_share_at_release(tmp_path, executor_id, users, index):
    executor, controller, runners, store, clock = make_executor(tmp_path, run_seconds=1)
    executor.id = executor_id
    executor.presence.executor_id = executor_id
    the_start = Start(
        run_id="run-1",
        fleet=["exec-3", "exec-1", "exec-2"],
        start_at=clock.time() + 0.5,
        load=FleetLoad(mode=LoadMode.FLEET, users=7, spawn_rate=3.0),
    )
    controller.at(clock.time() + 0.1, the_start)
    assert executor.run() == ExitCode.OK
    (runner,) = runners.runners
    go = runner.go
    assert (go.index, go.size, go.users, go.mode, go.run_id) == (index, 3, users, "fleet", "run-1")
    assert go.rate == pytest.approx(1.0)
    assert go.scenario_environment() == {
        "SALVO_EXECUTOR_INDEX": str(index),
        "SALVO_FLEET_SIZE": "3",
        "SALVO_RUN_ID": "run-1",
    }
    share = json.loads(store.objects[f"s3://results-bucket/results/run-1/executors/{executor_id}/summary.json"])[
        "share"
    ]
    assert share == {"index": index, "size": 3, "mode": "fleet", "users": users, "spawn_rate": 1.0, "rows": None}


def test_per_executor_mode_still_tells_the_scenario_its_place(tmp_path):
    executor, controller, runners, store, clock = make_executor(tmp_path, run_seconds=1)
    controller.at(clock.time() + 0.1, Start(run_id="run-1", fleet=["exec-0", "exec-1"], start_at=clock.time() + 0.5))
    assert executor.run() == ExitCode.OK
    go = runners.runners[0].go
    assert (go.index, go.size, go.users, go.split) == (1, 2, None, False)
    assert summary(store)["share"]["mode"] == "per-executor"


CSV = "id,name\n" + "".join(f'{i},"row {i}{chr(10) + "second line" if i == 4 else ""}"\n' for i in range(9))


def test_data_rows_are_split_without_overlap_and_the_header_kept(tmp_path):
    store = FakeStore({"s3://data/users.csv": CSV.encode()})
    seen = []
    for index in range(3):
        data = fetch_test_data(
            store, S3Location.parse("s3://data/users.csv"), tmp_path / f"run{index}", header=True, max_bytes=1 << 20
        )
        assert data.rows == 9
        assert data.write_slice(Slot(position=index, members=3)) == 3
        rows = list(csv.reader(io.StringIO(data.slice_path.read_text())))
        assert rows[0] == ["id", "name"]
        seen += [int(row[0]) for row in rows[1:]]
        assert [int(row[0]) % 3 for row in rows[1:]] == [index] * 3
    assert sorted(seen) == list(range(9))  # every row once: the quoted two-line row too
    assert "row 4\nsecond line" in (tmp_path / "run1" / "data" / "users.csv").read_text()


def test_a_missing_data_file_fails_while_arming_with_exit_3(tmp_path, caplog):
    executor, _controller, runners, _store, _clock = make_executor(
        tmp_path, env={"SALVO_DATA_URI": "s3://data/absent.csv"}
    )
    assert executor.run() == ExitCode.SCENARIO
    assert "absent.csv" in caplog.text
    assert runners.runners == []  # nothing launched


def test_a_data_file_that_is_not_csv_is_refused(tmp_path):
    store = FakeStore({"s3://data/bad.csv": b'id,name\n1,"unterminated\n', "s3://data/bin.csv": b"\xff\xfe\x00"})
    with pytest.raises(DataFileError, match="not a well-formed CSV"):
        fetch_test_data(store, S3Location.parse("s3://data/bad.csv"), tmp_path, header=True, max_bytes=1 << 20)
    with pytest.raises(DataFileError, match="not UTF-8"):
        fetch_test_data(store, S3Location.parse("s3://data/bin.csv"), tmp_path, header=True, max_bytes=1 << 20)


def test_executor_writes_its_rows_before_release_and_names_them_for_the_scenario(tmp_path, caplog):
    store = FakeStore({"s3://data/users.csv": b"id\n1\n2\n"})
    executor, controller, runners, _, clock = make_executor(
        tmp_path, store=store, run_seconds=1, env={"SALVO_DATA_URI": "s3://data/users.csv"}
    )
    controller.at(
        clock.time() + 0.1, Start(run_id="run-1", fleet=["exec-0", "exec-1", "exec-9"], start_at=clock.time() + 0.5)
    )
    assert executor.run() == ExitCode.OK
    (runner,) = runners.runners
    data_file = runner.env["SALVO_DATA_FILE"]
    assert Path(data_file).read_text() == "id\n2\n"  # index 1 of 3: row 1
    assert executor.presence.status().data_rows == 2
    assert summary(store)["share"]["rows"] == 1


# --- the controller's side ----------------------------------------------------------------


def test_controller_starts_the_fleet_with_its_totals_and_reports_every_share(tmp_path):
    from tests.unit.test_controller import make, members, report

    controller, fleet = make(members(3, rate=20, data_rows=9), tmp_path, fleet_users=7, fleet_spawn_rate=7)
    assert controller.run() == ExitCode.OK
    (start,) = fleet.links[-1].of_type(Start)
    assert start.load == FleetLoad(mode=LoadMode.FLEET, users=7, spawn_rate=7.0)
    data = report(tmp_path)
    assert data["fleet_load"] == {
        "mode": "fleet",
        "users": 7,
        "spawn_rate": 7.0,
        "executors": 3,
        "data_rows": 9,
        "region_weights": None,
    }
    shares = {executor_id: entry["share"] for executor_id, entry in data["executors"].items()}
    assert [shares[f"node-{n}"]["users"] for n in range(3)] == [3, 2, 2]
    assert [shares[f"node-{n}"]["rows"] for n in range(3)] == [3, 3, 3]


@pytest.mark.parametrize(
    ("behaviour", "env", "culprit"),
    [
        ({}, {"fleet_users": 2}, "node-2 would run no users"),
        ({"users_set": True}, {"fleet_users": 30}, "SALVO_USERS on executor(s) node-0, node-1, node-2"),
        ({"executions": 2}, {"fleet_users": 30}, "several executions"),
    ],
    ids=["fewer-users-than-executors", "both-user-counts", "several-executions"],
)
def test_controller_refuses_a_split_it_cannot_run_before_any_load(tmp_path, caplog, behaviour, env, culprit):
    from tests.unit.test_controller import make, members

    controller, fleet = make(members(3, **behaviour), tmp_path, **env)
    with pytest.raises(SalvoError) as refused:
        controller.run()
    assert refused.value.exit_code == ExitCode.CONFIG and culprit in str(refused.value)
    assert not fleet.links[-1].of_type(Start)


def test_controller_names_executors_left_without_data_rows(tmp_path, caplog):
    from tests.unit.test_controller import make, members

    controller, _ = make(members(4, rate=20, data_rows=2), tmp_path)
    assert controller.run() == ExitCode.OK
    assert "the data file has 2 row(s) for 4 executors: node-2, node-3 get(s) none" in caplog.text


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"SALVO_FLEET_SPAWN_RATE": "5"}, "SALVO_FLEET_SPAWN_RATE needs SALVO_FLEET_USERS"),
        ({"SALVO_FLEET_USERS": "5", "SALVO_LOAD_MODE": "per-executor"}, "SALVO_LOAD_MODE=per-executor does not"),
        ({"SALVO_FLEET_USERS": "0"}, "SALVO_FLEET_USERS"),
    ],
)
def test_contradictory_fleet_settings_exit_2_naming_them(env, message):
    from salvo.common.errors import ConfigError
    from salvo.common.settings import load
    from salvo.controller.settings import ControllerSettings

    with pytest.raises(ConfigError) as refused:
        load(ControllerSettings, {"SALVO_RESULTS_URI": "s3://results-bucket/r/", **env})
    assert message in str(refused.value) and refused.value.exit_code == ExitCode.CONFIG


# --- inside the locust process and in bzt's config -----------------------------------------


def test_a_gated_locust_takes_its_share_of_the_scenarios_own_users():
    from types import SimpleNamespace

    from salvo.executor.tool.gate import Go
    from salvo.executor.tool.locust_gate import _take_share

    for index, users in ((0, 4), (1, 3), (2, 3)):
        environment = SimpleNamespace(shape_class=None, parsed_options=SimpleNamespace(num_users=10, spawn_rate=6.0))
        _take_share(environment, Go(start_at=1.0, index=index, size=3, mode=LoadMode.FLEET))
        assert (environment.parsed_options.num_users, environment.parsed_options.spawn_rate) == (users, 2.0)
    environment = SimpleNamespace(shape_class=None, parsed_options=SimpleNamespace(num_users=10, spawn_rate=6.0))
    _take_share(environment, Go(start_at=1.0, index=2, size=3, mode=LoadMode.FLEET, users=5, rate=1.5))
    assert (environment.parsed_options.num_users, environment.parsed_options.spawn_rate) == (5, 1.5)


def test_a_load_shape_is_the_fleets_and_each_executor_runs_its_share_of_every_tick():
    from types import SimpleNamespace

    from salvo.executor.tool.gate import Go
    from salvo.executor.tool.locust_gate import _take_share

    steps = iter([(10, 8.0), (40, 8.0, ["UserA"]), None])
    shape = SimpleNamespace(tick=lambda: next(steps))
    _take_share(
        SimpleNamespace(shape_class=shape, parsed_options=None), Go(start_at=1.0, index=3, size=4, mode=LoadMode.FLEET)
    )
    assert shape.tick() == (2, 2.0)
    assert shape.tick() == (10, 2.0, ["UserA"])
    assert shape.tick() is None


def test_a_run_bzt_launches_at_start_at_gets_its_share_of_concurrency_and_throughput(tmp_path):
    import yaml

    from salvo.executor.scenario.bztconfig import RunPlan, write_fleet_share

    config = tmp_path / "scenario.yml"
    config.write_text(
        yaml.safe_dump(
            {
                "execution": [
                    {"executor": "jmeter", "concurrency": 10, "throughput": 7, "scenario": "a"},
                    {"executor": "jmeter", "concurrency": "5", "throughput": 2.5, "scenario": "b"},
                    {"executor": "jmeter", "concurrency": "${USERS}", "scenario": "c"},
                ]
            }
        )
    )
    write_fleet_share(RunPlan(configs=[config], cwd=tmp_path, gates=0), Slot(position=2, members=3))
    items = yaml.safe_load(config.read_text())["execution"]
    assert [(i.get("concurrency"), i.get("throughput")) for i in items] == [
        (3, 2),
        (1, pytest.approx(2.5 / 3)),
        ("${USERS}", None),
    ]
