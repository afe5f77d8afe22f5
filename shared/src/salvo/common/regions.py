"""Regions: the token that names one (us-east-1), and SALVO_REGION_WEIGHTS, how a fleet's load is divided among them.

Parsed once into types here; the integer split itself is `salvo.common.fleetload.Slot`
(stdlib only, also used inside the load tool).
"""

from __future__ import annotations

import re
from typing import Annotated

from pydantic import AfterValidator

__all__ = [
    "MAX_REGIONS",
    "MAX_REGION_CHARS",
    "MAX_REGION_WEIGHT",
    "REGION_RULE",
    "Region",
    "RegionWeights",
    "check_region",
    "parse_region_weights",
    "region_of_zone",
]

MAX_REGION_CHARS = 32
MAX_REGIONS = 32  # DLT runs up to 5; a bound on the Start, not a plan
MAX_REGION_WEIGHT = 1_000_000
# AWS region names (us-east-1, ap-southeast-2, us-gov-west-1) and like tokens: lower-case words joined by '-'.
_REGION = re.compile(r"[a-z0-9]+(?:-[a-z0-9]+)*")
REGION_RULE = (
    f"expected a region name such as us-east-1 (lower-case letters, digits and '-', at most {MAX_REGION_CHARS})"
)
# An availability zone is its region's name and a letter (us-east-1a);
# a local zone's id carries more (us-west-2-lax-1a).
_ZONE = re.compile(r"([a-z]{2}(?:-gov)?-[a-z]+-\d+)[a-z0-9-]*")


def check_region(value: str) -> str:
    if len(value) > MAX_REGION_CHARS or not _REGION.fullmatch(value):
        raise ValueError(REGION_RULE)
    return value


Region = Annotated[str, AfterValidator(check_region)]

# Region -> weight, in the order given; weights positive integers, regions distinct.
RegionWeights = dict[str, int]


def parse_region_weights(text: object) -> RegionWeights | None:
    """'us-east-1:60,eu-west-1:40' as {region: weight}; None when unset or empty; ValueError naming the fault."""
    if isinstance(text, dict):
        return {check_region(str(region)): _weight(str(region), weight) for region, weight in text.items()} or None
    if text is None or not str(text).strip():
        return None
    weights: RegionWeights = {}
    for item in str(text).split(","):
        region, colon, weight = item.strip().partition(":")
        region = region.strip()
        if not colon:
            raise ValueError(f"{item.strip()!r}: expected region:weight, e.g. us-east-1:60")
        try:
            check_region(region)
        except ValueError as exc:
            raise ValueError(f"{region[:40]!r}: {exc}") from None
        if region in weights:
            raise ValueError(f"{region} is given twice: each region once")
        weights[region] = _weight(region, weight.strip())
    if len(weights) > MAX_REGIONS:
        raise ValueError(f"{len(weights)} regions: at most {MAX_REGIONS}")
    return weights


def _weight(region: str, value: object) -> int:
    text = str(value)
    if isinstance(value, bool) or not (text.isascii() and text.isdigit()) or not 1 <= int(text) <= MAX_REGION_WEIGHT:
        raise ValueError(f"{region}:{text[:20]}: a weight is a whole number from 1 to {MAX_REGION_WEIGHT}")
    return int(text)


def region_of_zone(zone: str) -> str | None:
    """The region of an availability zone name (us-east-1a -> us-east-1), or None when it does not look like one."""
    match = _ZONE.fullmatch(zone)
    return match.group(1) if match else None
