"""The types of the SALVO_LAUNCH_* settings: the launch mode, comma lists, the ECS capacity, the regions' shares."""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import Enum
from typing import Annotated, Any

from pydantic import BeforeValidator
from pydantic_settings import NoDecode

FARGATE_PROVIDERS = ("FARGATE", "FARGATE_SPOT")


class LaunchMode(str, Enum):
    NONE = "none"
    ECS = "ecs"


def _comma_list(value: Any) -> Any:
    """'a, b,,c' -> ('a', 'b', 'c'); a list or tuple is taken as it is."""
    if isinstance(value, str):
        return tuple(item.strip() for item in value.split(",") if item.strip())
    return value


CommaList = Annotated[tuple[str, ...], NoDecode, BeforeValidator(_comma_list)]


@dataclass(frozen=True)
class ProviderShare:
    """One entry of an ECS capacity provider strategy."""

    provider: str
    weight: int = 1
    base: int = 0


@dataclass(frozen=True)
class Capacity:
    """Plain FARGATE (launchType), or a capacity provider strategy (FARGATE_SPOT, or weighted providers)."""

    strategy: tuple[ProviderShare, ...] = ()

    def run_task_parameters(self) -> dict:
        """The RunTask parameters choosing this capacity: launchType and a strategy exclude each other."""
        if not self.strategy:
            return {"launchType": "FARGATE"}
        return {
            "capacityProviderStrategy": [
                {"capacityProvider": share.provider, "weight": share.weight, "base": share.base}
                for share in self.strategy
            ]
        }

    def __str__(self) -> str:
        return (
            ",".join(f"{s.provider}:{s.weight}" + (f":{s.base}" if s.base else "") for s in self.strategy) or "FARGATE"
        )


def parse_capacity(value: Any) -> Capacity:
    """'FARGATE' | 'FARGATE_SPOT' | 'FARGATE:1,FARGATE_SPOT:3[:base]' -> Capacity; ValueError names the bad part."""
    if isinstance(value, Capacity):
        return value
    text = str(value).strip()
    if text.upper() == "FARGATE":
        return Capacity()
    shares = []
    for item in (part.strip() for part in text.split(",")):
        fields = item.split(":")
        if not item or len(fields) > 3 or not fields[0]:
            raise ValueError(
                f"{item!r}: expected FARGATE, FARGATE_SPOT or provider:weight[:base], e.g. 'FARGATE:1,FARGATE_SPOT:3'"
            )
        try:
            numbers = [int(number) for number in fields[1:]]
        except ValueError:
            raise ValueError(f"{item!r}: weight and base are whole numbers") from None
        if any(number < 0 or number > 100000 for number in numbers):
            raise ValueError(f"{item!r}: weight and base are between 0 and 100000")
        shares.append(ProviderShare(fields[0], *numbers))
    if len({share.provider for share in shares}) != len(shares):
        raise ValueError(f"{text!r} names a capacity provider twice")
    if len(shares) > 20:
        raise ValueError(f"{text!r}: ECS takes at most 20 capacity providers")
    if sum(1 for share in shares if share.base) > 1:
        raise ValueError(f"{text!r}: ECS allows a base on one capacity provider only")
    if not any(share.weight for share in shares):
        raise ValueError(f"{text!r}: at least one provider needs a weight above 0")
    return Capacity(tuple(shares))


REGION = re.compile(r"^[a-z]{2}(-[a-z]+)+-\d{1,2}$")


@dataclass(frozen=True)
class RegionShare:
    """SALVO_LAUNCH_REGIONS entry: this many executor tasks in this region."""

    region: str
    count: int


def parse_regions(value: Any) -> tuple[RegionShare, ...]:
    """'us-east-1:3,eu-west-1:2' -> (RegionShare('us-east-1', 3), RegionShare('eu-west-1', 2))."""
    if isinstance(value, tuple):
        return value
    shares = []
    for item in (part.strip() for part in str(value).split(",") if part.strip()):
        region, colon, count = item.partition(":")
        if not colon or not REGION.match(region.strip()) or not count.strip().isdigit() or int(count) < 1:
            raise ValueError(f"{item!r}: expected region:count, e.g. 'us-east-1:3,eu-west-1:2'")
        shares.append(RegionShare(region.strip(), int(count)))
    if len({share.region for share in shares}) != len(shares):
        raise ValueError(f"{value!r} names a region twice")
    return tuple(shares)


@dataclass(frozen=True)
class LaunchPlan:
    """The executor tasks to start in one region (None: the region the environment configures)."""

    region: str | None
    count: int
    subnets: tuple[str, ...]
    security_groups: tuple[str, ...]


def split_by_region(items: tuple[str, ...]) -> tuple[dict[str, list[str]], list[str]]:
    """'us-east-1/subnet-a' entries by region, and the entries that name no region."""
    qualified: dict[str, list[str]] = {}
    plain = []
    for item in items:
        region, slash, name = item.partition("/")
        if slash:
            qualified.setdefault(region, []).append(name)
        else:
            plain.append(item)
    return qualified, plain
