"""Reading a fleet's arrivals as an independent target stamped them: per second, against a plan, and a step."""

from __future__ import annotations


def per_second(times: list[float], start_at: float, seconds: int) -> list[int]:
    counts = [0] * seconds
    for t in times:
        k = int(t - start_at)
        if t - start_at >= 0 and k < seconds:
            counts[k] += 1
    return counts


def kept_to_plan(counts: list[int], plan: list[int], tolerance: int) -> bool:
    """Every one-second window from the second on within `tolerance` of its plan, but for one boundary that a
    hiccup of the shared test machine (all its processes late by tens of ms) may have moved requests across:
    the two windows around it still add up to their plan."""
    off = [
        k for k, (count, planned) in enumerate(zip(counts, plan, strict=True)) if k and abs(count - planned) > tolerance
    ]
    if not off:
        return True
    if len(off) > 2 or off[-1] - off[0] > 1:
        return False
    pairs = [(off[0], off[1])] if len(off) == 2 else [(off[0] - 1, off[0]), (off[0], off[0] + 1)]
    return any(
        a >= 0 and b < len(counts) and abs(counts[a] + counts[b] - plan[a] - plan[b]) <= tolerance for a, b in pairs
    )


def step_time(times: list[float], after: float, spacing: float) -> float:
    """The first arrival from `after` on whose next three gaps are all shorter than `spacing`."""
    ordered = sorted(t for t in times if t >= after)
    for i in range(len(ordered) - 3):
        if all(b - a < spacing for a, b in zip(ordered[i : i + 3], ordered[i + 1 : i + 4], strict=True)):
            return ordered[i]
    raise AssertionError(f"no step to arrivals closer than {spacing * 1000:.1f} ms")
