"""Reading every member's summary.json at the end of a run: concurrently, under one budget for the phase; then parsing.

2,000 executors must not mean 2,000 serial round trips, nor 2,000 retry budgets
when S3 is down: every read shares the phase's deadline, and a signal ends the
phase at once with whatever was read. A summary.json larger than
SALVO_MAX_SUMMARY_BYTES is not read whole: its executor's results count as
unreadable, the reason naming its URI, size and the limit. What was read is parsed
whole before anything counts it (`count_summaries`): a malformed summary is
rejected, never merged.
"""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Callable
from dataclasses import dataclass, field

from salvo.common.bounded import SizeLimit
from salvo.common.clock import Clock
from salvo.common.errors import ObjectTooLarge, SalvoError
from salvo.common.layout import summary_location
from salvo.common.s3 import S3Location
from salvo.common.store import Store
from salvo.common.summary_schema import RejectedSummary, parse_summary
from salvo.controller.ledger import Ledger

log = logging.getLogger(__name__)

READERS = 32


@dataclass
class Collected:
    raw: dict[str, bytes] = field(default_factory=dict)  # executor id -> the bytes of its summary.json
    unreadable: dict[str, str] = field(default_factory=dict)  # executor id -> why not
    abandoned: bool = False


def read_summaries(
    store: Store,
    results: S3Location,
    run_id: str,
    executor_ids: list[str],
    *,
    budget_seconds: float,
    clock: Clock,
    max_bytes: int,
    should_stop: Callable[[], bool] = lambda: False,
) -> Collected:
    """Each executor's summary.json bytes (at most `max_bytes` each, SALVO_MAX_SUMMARY_BYTES), or why not."""
    collected = Collected()
    limit = SizeLimit(max_bytes, "SALVO_MAX_SUMMARY_BYTES")
    if not executor_ids:
        return collected
    deadline = clock.monotonic() + budget_seconds
    work: queue.Queue[str] = queue.Queue()
    for executor_id in executor_ids:
        work.put(executor_id)
    done: queue.Queue[tuple[str, bytes | None, str]] = queue.Queue()

    def reader() -> None:
        while True:
            try:
                executor_id = work.get_nowait()
            except queue.Empty:
                return
            remaining = deadline - clock.monotonic()
            if remaining <= 0 or should_stop():
                done.put((executor_id, None, "not read: the phase's time or the run ran out"))
                continue
            try:
                location = summary_location(results, run_id, executor_id)
                data = store.bounded(remaining).read_bytes(location, what="summary", limit=limit)
                done.put((executor_id, data, ""))
            except ObjectTooLarge as exc:
                log.error("%s: not read", exc)
                done.put((executor_id, None, str(exc)))
            except SalvoError as exc:
                done.put((executor_id, None, str(exc)))
            except Exception as exc:  # a reader must always answer, or the phase would wait for it
                done.put((executor_id, None, f"{type(exc).__name__}: {exc}"))

    for _ in range(min(READERS, len(executor_ids))):
        threading.Thread(target=reader, name="summary-reader", daemon=True).start()
    pending = set(executor_ids)
    while pending:
        if should_stop():
            collected.abandoned = True
            break
        try:
            executor_id, data, why = done.get(timeout=0.1)
        except queue.Empty:
            continue
        pending.discard(executor_id)
        if data is None:
            collected.unreadable[executor_id] = why
        else:
            collected.raw[executor_id] = data
    for executor_id in pending:
        collected.unreadable[executor_id] = "not read: the controller was interrupted"
    return collected


def count_summaries(ledger: Ledger, collected: Collected, run_id: str) -> dict[str, str]:
    """Parse each summary read and count it in the ledger; executor id -> why it was rejected, for the rest."""
    rejected: dict[str, str] = {}
    for executor_id in sorted(collected.raw):
        data = collected.raw.pop(executor_id)  # parsed once, then only the parsed summary is kept
        try:
            summary = parse_summary(data, run_id, executor_id)
        except RejectedSummary as exc:
            rejected[executor_id] = str(exc)
        except Exception as exc:  # a check that breaks must cost this executor's results, never the report
            log.exception("checking the summary of %s failed", executor_id)
            rejected[executor_id] = f"it could not be checked ({type(exc).__name__})"
        else:
            ledger.count(executor_id, summary)
    for executor_id, why in rejected.items():
        log.error("summary of %s rejected: %s", executor_id, why)
    return rejected
