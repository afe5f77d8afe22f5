"""Controller scan targets: expansion, limits, DLT-style hosts."""

from __future__ import annotations

import pytest

from salvo.controller.targets import TargetSpecError, dlt_hosts, expand


def test_cidr_skips_network_and_broadcast():
    addresses = expand("127.0.1.0/29")
    assert addresses == [f"127.0.1.{n}" for n in range(1, 7)]


def test_ranges_singles_dedup_and_exclusion():
    addresses = expand("127.0.1.5-127.0.1.7, 127.0.1.6, 127.0.2.1", exclude={"127.0.1.7"})
    assert addresses == ["127.0.1.5", "127.0.1.6", "127.0.2.1"]


def test_small_prefixes_keep_every_address():
    assert expand("127.0.1.8/31") == ["127.0.1.8", "127.0.1.9"]
    assert expand("127.0.1.8/32") == ["127.0.1.8"]


@pytest.mark.parametrize("spec", ["10.0.0.0/8", "10.0.0.0-10.2.0.0", "10.0.0.0/15"])
def test_too_large_ranges_are_refused_before_scanning(spec):
    with pytest.raises(TargetSpecError, match="more than"):
        expand(spec)


@pytest.mark.parametrize("spec", ["10.0.0.300", "10.0.0.9-10.0.0.1", "example/24", "1.2.3.4-x"])
def test_malformed_specs_name_the_entry(spec):
    with pytest.raises(TargetSpecError) as caught:
        expand(spec)
    assert repr(spec) in str(caught.value)


def test_dlt_style_hosts():
    assert expand(dlt_hosts("127.0.1", "5,7,10-12")) == [
        "127.0.1.5",
        "127.0.1.7",
        "127.0.1.10",
        "127.0.1.11",
        "127.0.1.12",
    ]
    with pytest.raises(TargetSpecError):
        dlt_hosts("nonsense", "1")
