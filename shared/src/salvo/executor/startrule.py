"""Which start an executor obeys: one for its fleet, for a run it has not started, on time, while armed."""

from __future__ import annotations

from salvo.common.protocol import ExecutorState, Start


def start_refusal(start: Start, executor_id: str, seen_runs: set[str], state: ExecutorState, now: float,
                  tolerance: float) -> str:
    """Why this start must be ignored ("" to obey it). A late start would be out of step with the fleet."""
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
    return ""
