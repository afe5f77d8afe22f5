"""How fleet-wide load is split: the one definition of every executor's share, used by both ends.

An executor's index is its position in the fleet sorted by executor id (0 … N−1).
A count (users, CSV rows, Taurus concurrency) is split by largest remainder with
equal weights: every executor gets ⌊total/N⌋ and the first total mod N indexes
one more, so the shares always sum to the total. A rate (spawn rate, Taurus
throughput given as a fraction) is divided evenly.

Stdlib only: this module is imported inside the locust process (and by
`salvo.fleet`, the scenario's helper).
"""

from __future__ import annotations

from enum import Enum
from typing import Sequence

__all__ = [
    "LoadMode", "fleet_index", "has_row", "share_of_count", "share_of_rate", "split_count",
    "ENV_DATA_FILE", "ENV_EXECUTOR_INDEX", "ENV_FLEET_SIZE", "ENV_RUN_ID",
]

# Set for the scenario (the load tool's environment) before its first user starts.
ENV_EXECUTOR_INDEX = "SALVO_EXECUTOR_INDEX"
ENV_FLEET_SIZE = "SALVO_FLEET_SIZE"
ENV_RUN_ID = "SALVO_RUN_ID"
ENV_DATA_FILE = "SALVO_DATA_FILE"


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
