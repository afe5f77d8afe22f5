"""How fleet-wide load is split: the one definition of every executor's share, used by both ends.

An executor's index is its position in the fleet sorted by executor id (0 … N-1).
A count (users, CSV rows, Taurus concurrency) is split by largest remainder with
equal weights: every executor gets ⌊total/N⌋ and the first total mod N indexes
one more, so the shares always sum to the total. A rate (spawn rate, Taurus
throughput given as a fraction) is divided evenly.

With region weights (SALVO_REGION_WEIGHTS) a count is first split among the
regions by largest remainder on their weights, then each region's share among
its executors as above (in index order): both steps are exact, so the shares
still sum to the total, and each region's to its own. A `Slot` is one
executor's place in that two-step split (a fleet without weights is one region).

Stdlib only: this module is imported inside the locust process (and by
`salvo.fleet`, the scenario's helper).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from enum import Enum

__all__ = [
    "ENV_DATA_FILE",
    "ENV_EXECUTOR_INDEX",
    "ENV_FLEET_SIZE",
    "ENV_FLEET_SLOT",
    "ENV_RUN_ID",
    "LoadMode",
    "Slot",
    "fleet_index",
    "fleet_slots",
    "has_row",
    "share_of_count",
    "share_of_rate",
    "split_count",
    "split_weighted",
]

# Set for the scenario (the load tool's environment) before its first user starts.
ENV_EXECUTOR_INDEX = "SALVO_EXECUTOR_INDEX"
ENV_FLEET_SIZE = "SALVO_FLEET_SIZE"
ENV_RUN_ID = "SALVO_RUN_ID"
ENV_DATA_FILE = "SALVO_DATA_FILE"
ENV_FLEET_SLOT = "SALVO_FLEET_SLOT"  # with region weights only: Slot.encode(), for salvo.fleet.share


class LoadMode(str, Enum):
    PER_EXECUTOR = "per-executor"  # every executor runs the scenario's load (DLT's "per task")
    FLEET = "fleet"  # the scenario's load numbers are the fleet's totals, split across it


def fleet_index(fleet: Sequence[str], executor_id: str) -> int:
    """This executor's index: its position in the fleet ordered by executor id."""
    return sorted(fleet).index(executor_id)


def split_count(total: int, size: int) -> list[int]:
    """Every index's share of `total`, in index order; they sum to `total` exactly."""
    if size < 1:
        raise ValueError(f"a fleet has at least one executor, not {size}")
    if total < 0:
        raise ValueError(f"cannot split a negative count ({total})")
    base, extra = divmod(total, size)
    return [base + (1 if index < extra else 0) for index in range(size)]


def share_of_count(total: int, index: int, size: int) -> int:
    """Index `index`'s share of `total` (see split_count), without building the whole list."""
    if not 0 <= index < size:
        raise ValueError(f"index {index} is outside a fleet of {size}")
    base, extra = divmod(int(total), size)
    return base + (1 if index < extra else 0)


def share_of_rate(total: float, size: int) -> float:
    return float(total) / size


def has_row(row_number: int, index: int, size: int) -> bool:
    """Whether data row `row_number` (0-based, header not counted) belongs to executor `index`."""
    return row_number % size == index


def split_weighted(total: int, weights: Sequence[int]) -> list[int]:
    """`total` split in proportion to `weights` by largest remainder; the parts sum to `total` exactly.

    Each part is ⌊total·w/W⌋; what is left goes one each to the largest remainders, the earlier weight
    first on a tie (integer arithmetic throughout: no float rounding decides a share)."""
    if not weights or any(w < 1 for w in weights):
        raise ValueError(f"weights must be positive integers, not {list(weights)}")
    if total < 0:
        raise ValueError(f"cannot split a negative count ({total})")
    whole = sum(weights)
    parts = [total * w // whole for w in weights]
    left = total - sum(parts)
    by_remainder = sorted(range(len(weights)), key=lambda i: (-(total * weights[i] % whole), i))
    for i in by_remainder[:left]:
        parts[i] += 1
    return parts


@dataclass(frozen=True)
class Slot:
    """One executor's place in the split: its region (an index into `weights`) and its position among that
    region's `members`. Without weights the fleet is one region: position = index, members = fleet size."""

    position: int
    members: int
    weights: tuple[int, ...] = (1,)
    region: int = 0

    def __post_init__(self) -> None:
        if not 0 <= self.region < len(self.weights) or not 0 <= self.position < self.members:
            raise ValueError(
                f"no such slot: position {self.position} of {self.members} in region {self.region} "
                f"of {len(self.weights)}"
            )

    def encode(self) -> str:
        """position/members/region/w0,w1,...: one word for a GO line or an environment variable."""
        return f"{self.position}/{self.members}/{self.region}/{','.join(map(str, self.weights))}"

    @classmethod
    def decode(cls, text: str) -> Slot:
        """The slot `encode` wrote; ValueError for anything else."""
        parts = text.split("/")
        if len(parts) != 4:
            raise ValueError(f"expected position/members/region/weights, got {text[:80]!r}")
        position, members, region = (int(part) for part in parts[:3])
        weights = tuple(int(weight) for weight in parts[3].split(","))
        if any(weight < 1 for weight in weights):
            raise ValueError(f"weights must be positive, got {parts[3][:80]!r}")
        return cls(position=position, members=members, weights=weights, region=region)

    def region_count(self, total: int) -> int:
        """This executor's region's share of `total`."""
        if len(self.weights) == 1:
            return int(total)
        return split_weighted(int(total), self.weights)[self.region]

    def count(self, total: int) -> int:
        """This executor's share of `total`: its region's, split evenly (exactly) among the region's members."""
        return share_of_count(self.region_count(total), self.position, self.members)

    def rate(self, total: float) -> float:
        """This executor's share of a rate: its region's weighted part, divided evenly."""
        return float(total) * self.weights[self.region] / sum(self.weights) / self.members

    def row_filter(self, rows: int) -> Callable[[int], bool]:
        """Whether data row n (of `rows`, 0-based) is this executor's: its region's rows are one block in region
        order, dealt in turn to the region's members (without weights: `has_row`). Worked out once per file."""
        if len(self.weights) == 1:
            return lambda number: has_row(number, self.position, self.members)
        parts = split_weighted(rows, self.weights)
        first = sum(parts[: self.region])
        end = first + parts[self.region]
        return lambda number: first <= number < end and (number - first) % self.members == self.position


def fleet_slots(size: int, weights: Sequence[int] = (), member_regions: Sequence[int] = ()) -> list[Slot]:
    """Every index's slot: `member_regions[i]` is index i's region (an index into `weights`); no weights: one region."""
    if not weights:
        return [Slot(position=i, members=size) for i in range(size)]
    if len(member_regions) != size:
        raise ValueError(f"{len(member_regions)} regions given for a fleet of {size}")
    members = [0] * len(weights)
    for region in member_regions:
        members[region] += 1
    seen = [0] * len(weights)
    slots = []
    for region in member_regions:
        slots.append(Slot(position=seen[region], members=members[region], weights=tuple(weights), region=region))
        seen[region] += 1
    return slots
