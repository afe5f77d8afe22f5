"""Which start an executor obeys: one for its fleet, for a run it has not started, on time, while armed."""

from __future__ import annotations

from salvo.common.protocol import ExecutorState, Start


def start_refusal(
    start: Start,
    executor_id: str,
    seen_runs: set[str],
    state: ExecutorState,
    now: float,
    tolerance: float,
    max_delay: float,
) -> str:
    """Why this start must be ignored ("" to obey it). A late start would be out of step with the fleet;
    one far ahead would hold the executor (and its load tool at the gate) for longer than anyone planned.

    Every field of `start` was bounded when it was decoded (salvo.common.protocol); this is what needs
    this executor's own facts: its id, its past runs, its state and its clock."""
    if executor_id not in start.fleet:
        return f"this executor ({executor_id}) is not in the run's fleet"
    if start.run_id in seen_runs:
        return "duplicate start for a run already started"
    if state is not ExecutorState.ARMED:
        return f"not armed (state {state.value})"
    late = now - start.start_at
    if late > tolerance:
        return (
            f"start_at passed {late * 1000:.0f} ms ago (tolerance "
            f"{tolerance * 1000:.0f} ms): starting now would be out of sync"
        )
    if -late > max_delay:
        return f"start_at is {-late:.0f} s ahead, more than SALVO_MAX_START_DELAY={max_delay:g}s allows"
    return ""
