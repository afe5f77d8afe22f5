"""The parts' Protocols: the production parts and the tests' fakes both provide what the Executor and Controller use."""

from __future__ import annotations

from salvo.common.s3 import S3Store
from salvo.common.s3location import S3Location
from salvo.common.store import Store
from salvo.controller.link import ControllerLink
from salvo.controller.parts import FleetLink
from tests.support.fake_fleet import FakeControllerLink, FakeFleet
from tests.support.fakes import FakeStore


def test_the_s3_store_and_the_fake_are_stores():
    assert isinstance(S3Store(retry_seconds=1.0), Store)
    assert isinstance(FakeStore(), Store)
    assert not isinstance(object(), Store)


def test_the_fake_lists_folders_as_s3_does():
    store = FakeStore({"s3://b/results/run-1/report.json": b"{}", "s3://b/results/run-2/x/y": b"", "s3://b/top": b""})
    assert store.list_folders(S3Location("b", "results/")) == ["run-1", "run-2"]
    assert store.last_modified(S3Location("b", "top")) == 0.0 and store.last_modified(S3Location("b", "no")) is None


def test_the_controller_link_and_the_fake_are_fleet_links():
    link = ControllerLink(None)
    try:
        assert isinstance(link, FleetLink)
    finally:
        link.close()
    assert isinstance(FakeControllerLink(FakeFleet([], "s3://bucket/results/")), FleetLink)
