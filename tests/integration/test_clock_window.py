"""The controller's clock exchanges with 300 simulated executors over real ZeroMQ: a sliding window of
CLOCK_WINDOW exchanges in flight, each host measured `rounds` times, a silent host given up per exchange."""

from __future__ import annotations

import threading

import pytest
import zmq

from salvo.common import protocol
from salvo.common.clocksync import ClockSample
from salvo.controller.link import CLOCK_WINDOW, ControllerLink
from tests.support.executors import free_port
from tests.support.simexecutor import Behaviour, SimFleet, hosts_from

pytestmark = pytest.mark.integration


@pytest.fixture
def fleet():
    command_port, status_port = free_port(), free_port()
    sims = SimFleet(hosts_from("127.6.0.1", 300), command_port, status_port, None, Behaviour())
    server = threading.Thread(target=sims.serve, args=(120,), daemon=True)
    server.start()
    link = ControllerLink(None, command_port, status_port)
    yield sims, link
    link.close()
    sims.stopping.set()
    server.join(10)
    sims.close()


def counting_in_flight(link: ControllerLink) -> list[int]:
    """Instruments the link: [exchanges in flight now, the most at once]."""
    counts = [0, 0]
    probe, decode = link.probe_clock, link._decode

    def counted_probe(host: str) -> bool:
        sent = probe(host)
        counts[0] += sent
        counts[1] = max(counts)
        return sent

    def counted_decode(host: str, frame: bytes):
        message = decode(host, frame)
        counts[0] -= isinstance(message, ClockSample)
        return message

    link.probe_clock, link._decode = counted_probe, counted_decode
    return counts


def received_by(sock: zmq.Socket, kind: str) -> int:
    """How many frames of type `kind` wait at `sock` (all read)."""
    count = 0
    while sock.poll(100):
        count += protocol.decode_status(sock.recv_multipart()[-1]).type == kind
    return count


def test_every_executor_is_measured_three_times_with_the_window_full_but_never_over(fleet):
    sims, link = fleet
    hosts = [sim.host for sim in sims.sims]
    assert all(link.handshake_many(hosts, timeout=10).values())
    counts = counting_in_flight(link)

    estimates = link.measure_clocks(hosts, rounds=3, answer_timeout=10.0)

    assert sorted(estimates) == sorted(hosts)
    assert {estimate.samples for estimate in estimates.values()} == {3}
    assert all(abs(estimate.offset) <= estimate.uncertainty + 0.001 for estimate in estimates.values())  # one clock
    assert counts == [0, CLOCK_WINDOW]


def test_a_silent_executor_is_given_up_while_the_others_are_measured(fleet):
    sims, link = fleet
    silent_host = "127.6.9.1"
    silent = zmq.Context.instance().socket(zmq.ROUTER)  # takes every probe, answers none
    silent.linger = 0
    silent.bind(f"tcp://{silent_host}:{link.status_port}")
    try:
        hosts = [sim.host for sim in sims.sims[:20]]
        assert all(link.handshake_many(hosts, timeout=10).values())
        assert link.handshake_many([silent_host], timeout=1.0) == {silent_host: None}
        assert received_by(silent, "hello")  # connected: what the controller sends reaches it

        estimates = link.measure_clocks([silent_host, *hosts], rounds=2, answer_timeout=0.3)

        assert estimates[silent_host] is None
        assert all(estimates[host] is not None and estimates[host].samples == 2 for host in hosts)
        assert received_by(silent, "time_probe") == 2  # each exchange tried, and given up
    finally:
        silent.close()
