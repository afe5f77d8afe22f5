"""Regions: SALVO_REGION_WEIGHTS parsed once, the two-step split exact, the Start carrying it, executors' regions."""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, HTTPServer

import pytest
from hypothesis import given
from hypothesis import strategies as st

from salvo.common.defaults import ANY_ADDRESS, COMMAND_PORT, STATUS_PORT
from salvo.common.errors import ConfigError, ExitCode, ProtocolError
from salvo.common.fleetload import LoadMode, Slot, fleet_slots, split_weighted
from salvo.common.protocol import FleetLoad, Start, Status, decode_command, decode_status, encode
from salvo.common.regions import parse_region_weights, region_of_zone
from salvo.common.settings import load
from salvo.common.states import ExecutorState
from salvo.controller.metrics import LiveMetrics
from salvo.controller.settings import ControllerSettings
from salvo.controller.sharing import RegionsRefused, fleet_regions
from salvo.executor.presence.identity import (
    ECS_METADATA_ENV,
    ecs_task_metadata,
    executor_id,
    executor_region,
    region_of_task,
)
from tests.unit.test_metrics import samples, stats

WEIGHTS = {"us-east-1": 60, "eu-west-1": 40}


# --- SALVO_REGION_WEIGHTS ------------------------------------------------------------------


def test_weights_parse_into_a_typed_mapping_in_the_order_given():
    assert parse_region_weights("us-east-1:60,eu-west-1:40") == {"us-east-1": 60, "eu-west-1": 40}
    assert parse_region_weights(" us-east-1 : 3 , ap-southeast-2:1 ") == {"us-east-1": 3, "ap-southeast-2": 1}
    assert parse_region_weights("") is None and parse_region_weights(None) is None


@pytest.mark.parametrize(
    ("text", "fault"),
    [
        ("us-east-1:60,us-east-1:40", "us-east-1 is given twice"),
        ("us-east-1:0", "a weight is a whole number from 1"),
        ("us-east-1:-3", "a weight is a whole number from 1"),
        ("us-east-1:1.5", "a weight is a whole number from 1"),
        ("us-east-1:60%", "a weight is a whole number from 1"),
        ("us-east-1", "expected region:weight"),
        ("US-EAST-1:1", "expected a region name"),
        ("us east:1", "expected a region name"),
        (":4", "expected a region name"),
    ],
)
def test_bad_weights_are_refused_naming_the_fault(text, fault):
    with pytest.raises(ValueError, match=fault):
        parse_region_weights(text)


def test_the_controller_setting_is_parsed_once_and_needs_fleet_users():
    settings = load(
        ControllerSettings,
        {
            "SALVO_RESULTS_URI": "s3://results-bucket/r/",
            "SALVO_FLEET_USERS": "10",
            "SALVO_REGION_WEIGHTS": "us-east-1:60,eu-west-1:40",
        },
    )
    assert settings.region_weights == WEIGHTS
    for env, message in [
        ({"SALVO_REGION_WEIGHTS": "us-east-1:60", "SALVO_LOAD_MODE": "fleet"}, "set SALVO_FLEET_USERS too"),
        ({"SALVO_REGION_WEIGHTS": "us-east-1:6,us-east-1:4", "SALVO_FLEET_USERS": "10"}, "twice"),
    ]:
        with pytest.raises(ConfigError) as refused:
            load(ControllerSettings, {"SALVO_RESULTS_URI": "s3://results-bucket/r/", **env})
        assert message in str(refused.value) and refused.value.exit_code == ExitCode.CONFIG


# --- the split -------------------------------------------------------------------------------


@given(st.integers(0, 10**6), st.lists(st.integers(1, 1000), min_size=1, max_size=8))
def test_the_region_split_is_exact_and_within_one_of_the_proportion(total, weights):
    parts = split_weighted(total, weights)
    assert sum(parts) == total
    for part, weight in zip(parts, weights, strict=True):
        assert abs(part - total * weight / sum(weights)) < 1


@given(
    st.integers(0, 10**6),
    st.lists(st.tuples(st.integers(1, 1000), st.integers(1, 40)), min_size=1, max_size=6),
    st.randoms(use_true_random=False),
)
def test_every_executors_share_sums_to_its_regions_and_all_to_the_total(total, regions, random):
    weights = [w for w, _ in regions]
    member_regions = [r for r, (_, size) in enumerate(regions) for _ in range(size)]
    random.shuffle(member_regions)  # a region's executors anywhere in the sorted fleet
    slots = fleet_slots(len(member_regions), weights, member_regions)
    shares = [slot.count(total) for slot in slots]
    assert sum(shares) == total
    for region, part in enumerate(split_weighted(total, weights)):
        mine = [s for s, r in zip(shares, member_regions, strict=True) if r == region]
        assert sum(mine) == part and max(mine) - min(mine) <= 1
    rates = [slot.rate(10.0) for slot in slots]
    assert sum(rates) == pytest.approx(10.0)


@given(st.integers(0, 300), st.lists(st.tuples(st.integers(1, 100), st.integers(1, 6)), min_size=1, max_size=4))
def test_every_data_row_belongs_to_exactly_one_executor_and_as_many_as_its_share(rows, regions):
    weights = [w for w, _ in regions]
    member_regions = [r for r, (_, size) in enumerate(regions) for _ in range(size)]
    slots = fleet_slots(len(member_regions), weights, member_regions)
    filters = [slot.row_filter(rows) for slot in slots]
    owners = [[i for i, mine in enumerate(filters) if mine(row)] for row in range(rows)]
    assert all(len(owner) == 1 for owner in owners)
    assert [sum(1 for o in owners if o == [i]) for i in range(len(slots))] == [s.count(rows) for s in slots]


def test_without_weights_a_slot_is_the_even_split_as_before():
    assert [Slot(position=i, members=3).count(7) for i in range(3)] == [3, 2, 2]
    assert Slot(position=1, members=4).rate(10) == 2.5


def test_the_example_60_40_over_two_and_one_executors():
    # sorted fleet a, b, c: a in eu-west-1 (region 0 of sorted names), b and c in us-east-1
    slots = fleet_slots(3, (40, 60), (0, 1, 1))
    assert [slot.count(10) for slot in slots] == [4, 3, 3]
    assert [slot.count(7) for slot in slots] == [3, 2, 2]  # 2.8 -> 3 (larger remainder), 4.2 -> 4 -> 2 + 2


# --- on the wire -------------------------------------------------------------------------------


def start(fleet, fleet_regions, regions=WEIGHTS, users=10) -> Start:
    return Start(
        run_id="run-1",
        fleet=fleet,
        start_at=time.time() + 5,
        load=FleetLoad(mode=LoadMode.FLEET, users=users, regions=regions),
        fleet_regions=fleet_regions,
    )


def test_the_start_carries_a_region_number_per_member_and_each_executor_finds_its_slot():
    # fleet order as sent need not be sorted: fleet_regions follows it
    sent = start(["c", "a", "b"], [1, 0, 1])
    received = decode_command(encode(sent))
    assert received == sent and received.load.region_names == ["eu-west-1", "us-east-1"]
    assert {member: received.slot(member).count(10) for member in "abc"} == {"a": 4, "b": 3, "c": 3}
    assert len(encode(start([f"executor-{n:05d}" for n in range(2000)], [n % 2 for n in range(2000)]))) < 60_000


@pytest.mark.parametrize(
    ("fleet_regions", "regions", "fault"),
    [
        ([0, 1], WEIGHTS, "fleet_regions: 2 for a fleet of 3"),
        ([0, 0, 0], WEIGHTS, "a weighted region has no executor"),
        ([0, 1, 2], WEIGHTS, "beyond the 2 weighted regions"),
        (None, WEIGHTS, "both or neither"),
        ([0, 0, 0], None, "both or neither"),
    ],
)
def test_a_start_whose_regions_do_not_cover_the_fleet_is_refused(fleet_regions, regions, fault):
    frame = json.loads(encode(start(["a", "b", "c"], [0, 1, 1])))
    frame["fleet_regions"], frame["load"]["regions"] = fleet_regions, regions
    with pytest.raises(ProtocolError, match=fault):
        decode_command(json.dumps(frame).encode())


def test_regions_need_fleet_users_and_bounded_weights():
    frame = json.loads(encode(start(["a", "b"], [0, 1])))
    for changed, fault in [
        ({"users": None}, "regions split users"),
        ({"regions": {"us-east-1": 0, "eu-west-1": 1}}, "greater than or equal to 1"),
    ]:
        with pytest.raises(ProtocolError, match=fault):
            decode_command(json.dumps({**frame, "load": {**frame["load"], **changed}}).encode())


def test_a_status_says_its_region_and_a_malformed_one_is_refused():
    status = Status(executor_id="node-0", version="1", state=ExecutorState.ARMED, region="eu-west-1")
    assert decode_status(encode(status)).region == "eu-west-1"
    frame = json.loads(encode(status))
    with pytest.raises(ProtocolError, match="region"):
        decode_status(json.dumps({**frame, "region": "eu-west-1\nforged log line"}).encode())


# --- where an executor runs ----------------------------------------------------------------------


class Settings:
    executor_id = None
    region = None
    bind_host = ANY_ADDRESS
    command_port, status_port = COMMAND_PORT, STATUS_PORT


def settings(region=None) -> Settings:
    chosen = Settings()
    chosen.region = region
    return chosen


def test_region_comes_from_the_task_arn_then_the_zone_then_salvo_region_then_aws_region():
    arn = "arn:aws:ecs:eu-west-1:123456789012:task/load/0f1e2d3c"
    assert region_of_task({"TaskARN": arn, "AvailabilityZone": "us-east-1a"}) == "eu-west-1"
    assert region_of_task({"AvailabilityZone": "us-east-1a"}) == "us-east-1"
    assert region_of_zone("us-west-2-lax-1a") == "us-west-2" and region_of_zone("us-gov-west-1b") == "us-gov-west-1"
    assert executor_region(settings("ap-south-1"), {"TaskARN": arn}, {"AWS_REGION": "sa-east-1"}) == "eu-west-1"
    assert executor_region(settings("ap-south-1"), {}, {"AWS_REGION": "sa-east-1"}) == "ap-south-1"
    assert executor_region(settings(), {}, {"AWS_REGION": "sa-east-1"}) == "sa-east-1"
    assert executor_region(settings(), {}, {}) is None
    assert executor_region(settings(), {}, {"AWS_REGION": "Not A Region"}) is None


def test_the_ecs_metadata_is_read_once_for_the_id_and_the_region(monkeypatch):
    reads = []

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):
            reads.append(self.path)
            body = {
                "TaskARN": "arn:aws:ecs:ap-southeast-2:123456789012:task/load/abc123",
                "AvailabilityZone": "ap-southeast-2b",
            }
            self.send_response(200)
            self.end_headers()
            self.wfile.write(json.dumps(body).encode())

        def log_message(self, *args):
            pass

    server = HTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    monkeypatch.setenv(ECS_METADATA_ENV, f"http://127.0.0.1:{server.server_address[1]}/v4/x")
    try:
        metadata = ecs_task_metadata()
        assert executor_id(settings(), metadata=metadata) == "abc123"
        assert executor_region(settings("us-east-1"), metadata, {}) == "ap-southeast-2"
        assert reads == ["/v4/x/task"]
    finally:
        server.shutdown()


# --- the controller ------------------------------------------------------------------------------


def armed(**regions) -> dict[str, Status]:
    return {
        executor: Status(executor_id=executor, version="1", state=ExecutorState.ARMED, region=region)
        for executor, region in regions.items()
    }


def test_the_controller_numbers_each_members_region_in_the_starts_fleet_order():
    load = FleetLoad(mode=LoadMode.FLEET, users=10, regions=WEIGHTS)
    assert fleet_regions(load, armed(c="us-east-1", a="eu-west-1", b="us-east-1")) == [0, 1, 1]
    assert fleet_regions(FleetLoad(), armed(a="us-east-1")) is None


@pytest.mark.parametrize(
    ("members", "fault"),
    [
        ({"a": "us-east-1", "b": "eu-west-1", "c": "ap-south-1"}, "c (ap-south-1) run elsewhere"),
        ({"a": "us-east-1", "b": None}, "b (region unknown) run elsewhere"),
        ({"a": "us-east-1", "b": "us-east-1"}, "gives load to eu-west-1, where no executor was found"),
    ],
)
def test_a_fleet_that_does_not_match_the_weights_is_refused_with_exit_3(members, fault):
    with pytest.raises(RegionsRefused) as refused:
        fleet_regions(FleetLoad(mode=LoadMode.FLEET, users=10, regions=WEIGHTS), armed(**members))
    assert fault in str(refused.value) and refused.value.exit_code == ExitCode.SCENARIO
    assert "\n" not in str(refused.value)


def test_the_controller_starts_by_region_and_reports_each_region(tmp_path):
    from tests.support.fake_fleet import FakeMember
    from tests.unit.test_controller import make, report

    fleet_members = [
        FakeMember(host=f"10.9.0.{10 + n}", executor_id=f"node-{n}", rate=20, region=region)
        for n, region in enumerate(["us-east-1", "eu-west-1", "us-east-1"])
    ]
    controller, fleet = make(fleet_members, tmp_path, fleet_users=10, region_weights="us-east-1:60,eu-west-1:40")
    assert controller.run() == ExitCode.OK
    (sent,) = fleet.links[-1].of_type(Start)
    assert sent.fleet == ["node-0", "node-1", "node-2"] and sent.fleet_regions == [1, 0, 1]
    data = report(tmp_path)
    assert {e: entry["share"]["users"] for e, entry in data["executors"].items()} == {
        "node-0": 3,
        "node-1": 4,
        "node-2": 3,
    }
    assert {e: entry["region"] for e, entry in data["executors"].items()} == {
        "node-0": "us-east-1",
        "node-1": "eu-west-1",
        "node-2": "us-east-1",
    }
    assert data["fleet_load"]["region_weights"] == WEIGHTS
    regions = data["regions"]
    assert list(regions) == ["eu-west-1", "us-east-1"]
    assert regions["us-east-1"]["executors"] == 2 and regions["eu-west-1"]["executors"] == 1
    assert sum(r["requests"] for r in regions.values()) == data["overall"]["requests"]
    assert regions["us-east-1"]["requests"] == sum(data["per_executor"][e]["requests"] for e in ("node-0", "node-2"))
    assert set(data["region_series"]) == {"eu-west-1", "us-east-1"}
    html = (tmp_path / "report" / "report.html").read_text()
    assert 'id="regions"' in html and 'id="chart-regions"' in html


def test_a_fleet_in_the_wrong_regions_starts_nothing(tmp_path):
    from tests.support.fake_fleet import FakeMember
    from tests.unit.test_controller import make

    fleet_members = [FakeMember(host="10.9.0.10", executor_id="node-0", region="us-east-1")]
    controller, fleet = make(fleet_members, tmp_path, fleet_users=10, region_weights="us-east-1:60,eu-west-1:40")
    with pytest.raises(RegionsRefused):
        controller.run()
    assert not fleet.links[-1].of_type(Start)


def test_prometheus_counts_and_quantiles_per_region():
    metrics = LiveMetrics("run-1")
    metrics.started(
        start_at=1_700_000_000.0,
        fleet_size=3,
        regions={"node-0": "us-east-1", "node-1": "eu-west-1", "node-2": "us-east-1"},
    )
    metrics.add(stats("node-0", **{"/": (10, 1, [10.0] * 10)}))
    metrics.add(stats("node-2", **{"/": (10, 0, [30.0] * 10)}))
    metrics.add(stats("node-1", **{"/": (5, 0, [100.0] * 5)}))
    metrics.interval(rps=25.0, failure_ratio=0.04, latency_ms={50: 30.0, 95: 100.0, 99: 100.0})
    found = samples(metrics)
    assert found[("salvo_region_requests_total", (("region", "us-east-1"),))] == 20
    assert found[("salvo_region_requests_total", (("region", "eu-west-1"),))] == 5
    assert found[("salvo_region_failures_total", (("region", "us-east-1"),))] == 1
    assert found[("salvo_region_executors", (("region", "us-east-1"),))] == 2
    assert found[("salvo_region_latency_seconds", (("quantile", "0.5"), ("region", "eu-west-1")))] == pytest.approx(
        0.1, rel=0.01
    )
    assert found[("salvo_region_latency_seconds", (("quantile", "0.99"), ("region", "us-east-1")))] == pytest.approx(
        0.03, rel=0.01
    )


# --- inside the load tool ------------------------------------------------------------------------


def test_a_weighted_slot_travels_on_the_go_line_and_into_the_scenarios_environment(monkeypatch):
    from salvo import fleet
    from salvo.executor.tool.gate import Go, check_go, decode_go, encode_go

    slot = fleet_slots(3, (40, 60), (0, 1, 1))[2]
    go = Go(
        start_at=1_800_000_000.0, index=2, size=3, run_id="run-1", mode=LoadMode.FLEET, users=3, rate=1.5, weighted=slot
    )
    check_go(go)
    line = encode_go(go).decode()
    assert "slot=1/2/1/40,60" in line
    assert decode_go(line.rstrip("\n")).slot == slot
    for bad in ("slot=2/2/1/40,60", "slot=0/1/2/40,60", "slot=0/1/0/0,60", "slot=0/1/0", "slot=a/1/0/1"):
        with pytest.raises(ValueError):
            decode_go(line.rstrip("\n").replace("slot=1/2/1/40,60", bad))
    for name, value in go.scenario_environment().items():
        monkeypatch.setenv(name, value)
    assert fleet.share(10) == 3 and fleet.share(7) == 2  # region us-east-1's 6 (or 4) halved, not 10/3


def test_a_load_shape_is_split_by_region_then_by_executor():
    from salvo.executor.tool import locust_gate
    from salvo.executor.tool.gate import Go

    class Shape:
        def tick(self):
            return (10, 5.0)

    ticks = []
    for slot in fleet_slots(3, (40, 60), (0, 1, 1)):
        shape = Shape()
        go = Go(start_at=1.0, index=0, size=3, mode=LoadMode.FLEET, weighted=slot)
        locust_gate._share_the_shape(shape, go.slot)
        ticks.append(shape.tick())
    assert [users for users, _ in ticks] == [4, 3, 3]
    assert sum(rate for _, rate in ticks) == pytest.approx(5.0)


def test_the_executor_tells_its_load_tool_its_weighted_slot():
    from salvo.common.settings import load as load_settings
    from salvo.executor.run.fleetplace import place_in
    from salvo.executor.settings import ExecutorSettings

    executor_settings = load_settings(
        ExecutorSettings,
        {
            "SALVO_SCENARIO_URI": "s3://scenario-bucket/s.py",
            "SALVO_RESULTS_URI": "s3://results-bucket/r/",
            "SALVO_INSECURE": "true",
        },
    )
    place = place_in(start(["a", "b", "c"], [0, 1, 1]), "b", executor_settings, [None])
    assert (place.users, place.weighted) == (3, Slot(position=0, members=2, weights=(40, 60), region=1))
    assert place.go(1_800_000_000.0).slot.count(10) == 3
    plain = place_in(
        Start(
            run_id="run-1",
            fleet=["a", "b", "c"],
            start_at=time.time() + 5,
            load=FleetLoad(mode=LoadMode.FLEET, users=10),
        ),
        "b",
        executor_settings,
        [None],
    )
    assert plain.weighted is None and plain.users == 3


def test_a_region_whose_share_leaves_an_executor_idle_is_refused_as_a_setting():
    from salvo.controller.sharing import FleetLoadRefused, check_fleet_load

    load = FleetLoad(mode=LoadMode.FLEET, users=4, regions={"us-east-1": 95, "eu-west-1": 5})
    with pytest.raises(FleetLoadRefused) as refused:  # eu-west-1: 0.2 of a user -> 0
        check_fleet_load(load, armed(a="eu-west-1", b="us-east-1"))
    assert "leaves a with no users" in str(refused.value) and refused.value.exit_code == ExitCode.CONFIG
    check_fleet_load(
        FleetLoad(mode=LoadMode.FLEET, users=20, regions={"us-east-1": 95, "eu-west-1": 5}),
        armed(a="eu-west-1", b="us-east-1"),
    )  # 1 and 19: runs
