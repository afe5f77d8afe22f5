"""The types of the SALVO_LAUNCH_* settings: the launch mode, comma lists and the ECS capacity to start on."""

from __future__ import annotations

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
        return {"capacityProviderStrategy": [
            {"capacityProvider": share.provider, "weight": share.weight, "base": share.base} for share in self.strategy
        ]}

    def __str__(self) -> str:
        return ",".join(f"{s.provider}:{s.weight}" + (f":{s.base}" if s.base else "") for s in self.strategy) \
            or "FARGATE"


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
            raise ValueError(f"{item!r}: expected FARGATE, FARGATE_SPOT or provider:weight[:base], e.g. "
                             "'FARGATE:1,FARGATE_SPOT:3'")
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
    if not any(share.weight for share in shares):
        raise ValueError(f"{text!r}: at least one provider needs a weight above 0")
    return Capacity(tuple(shares))
