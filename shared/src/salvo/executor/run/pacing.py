"""When the executor's run loop wakes: often enough to watch the run, never while the load tool starts."""

from __future__ import annotations

from salvo.common.protocol import START_QUIET_SECONDS

POLL_SECONDS = 0.1
# the last wake before start_at is at least this early: the work it does must be over by then
QUIET_LEAD_SECONDS = 0.02


def poll_timeout(now: float, start_at: float, gated: bool) -> float:
    """How long the run loop may sleep now. Across start_at a gated run sleeps through the quiet window (the load
    tool releases itself; messages still wake the loop); an ungated one wakes at start_at to launch it."""
    if now >= start_at + START_QUIET_SECONDS:
        return POLL_SECONDS
    if not gated:
        return max(0.0, min(POLL_SECONDS, start_at - now)) if now < start_at else POLL_SECONDS
    if start_at - now > POLL_SECONDS + QUIET_LEAD_SECONDS:
        return POLL_SECONDS
    if now < start_at - QUIET_LEAD_SECONDS:
        return start_at - QUIET_LEAD_SECONDS - now  # the last wake before the start, early enough
    return start_at + START_QUIET_SECONDS - now
