"""Fleet bookkeeping: majority check, quorum and the controller's own network."""

from __future__ import annotations

import ipaddress

from salvo.common.protocol import ExecutorState, Status
from salvo.controller.discovery import Fleet, Found, Seen, _exclude_minority, own_interface
from salvo.controller.targets import resolve_dns


def member(host: str, executor_id: str, version: str = "0.1.0", sha: str = "a" * 64) -> Found:
    status = Status(executor_id=executor_id, version=version, state=ExecutorState.ARMED, scenario_sha256=sha)
    return Found(host, Seen.MEMBER, status)


def test_executors_differing_from_the_majority_are_left_out_and_reported():
    fleet = Fleet(
        {
            "10.0.0.1": member("10.0.0.1", "a"),
            "10.0.0.2": member("10.0.0.2", "b"),
            "10.0.0.3": member("10.0.0.3", "c", sha="b" * 64),  # stale scenario
            "10.0.0.4": member("10.0.0.4", "d", version="0.0.9"),  # old image
        }
    )
    _exclude_minority(fleet)
    assert sorted(fleet.member_ids()) == ["a", "b"]
    assert fleet.found["10.0.0.3"].seen is Seen.MISMATCH and "majority" in fleet.found["10.0.0.3"].note
    report = fleet.report()
    assert "10.0.0.4: d armed v0.0.9" in report and "left out" in report


def test_report_lists_every_state():
    fleet = Fleet({"10.0.0.9": Found("10.0.0.9", Seen.AUTH_FAILED), "10.0.0.8": Found("10.0.0.8", Seen.NO_ANSWER)})
    assert fleet.report() == "10.0.0.8: no handshake answer; 10.0.0.9: authentication failed"


def test_own_interface_is_a_real_non_loopback_network():
    found = own_interface()
    if found is not None:  # a host with only loopback has no subnet to default to
        address, network = found
        assert ipaddress.IPv4Address(address) in network and not address.startswith("127.")


def test_dns_names_resolve_to_all_a_records():
    assert resolve_dns("localhost") == ["127.0.0.1"]
    assert resolve_dns("no-such-name.invalid") == []
