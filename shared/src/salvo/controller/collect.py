"""Reading every member's summary.json at the end of a run: concurrently, under one budget, parsed as read.

2,000 executors must not mean 2,000 serial round trips, nor 2,000 retry budgets
when S3 is down: every read shares the phase's deadline, and a signal ends the
phase at once with whatever was read. A summary.json larger than
SALVO_MAX_SUMMARY_BYTES is not read whole: its executor's results count as
unreadable, the reason naming its URI, size and the limit. Each summary is parsed
whole as soon as it is read, and its bytes dropped: a malformed summary is
rejected, never merged, and the phase holds the bytes of a few summaries at a time,
not of the whole fleet (readers wait while the parser is behind). A summary parsed
whole is counted at once (the ledger merges it and keeps only its per-executor
facts), so neither its bytes nor its parsed series wait for the rest of the fleet.
"""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

from salvo.common.bounded import SizeLimit
from salvo.common.clock import Clock
from salvo.common.errors import ObjectTooLarge, SalvoError
from salvo.common.layout import summary_location
from salvo.common.s3 import S3Location
from salvo.common.store import Store
from salvo.common.summary_schema import RejectedSummary, Summary, parse_summary

log = logging.getLogger(__name__)

READERS = 32


class Counter(Protocol):
    """Where a summary parsed whole goes: salvo.controller.ledger.Ledger.count."""

    def __call__(self, executor_id: str, summary: Summary, /) -> None: ...


@dataclass
class Collected:
    counted: list[str] = field(default_factory=list)  # executor ids whose summary was parsed whole and counted
    rejected: dict[str, str] = field(default_factory=dict)  # executor id -> why its summary was refused
    unreadable: dict[str, str] = field(default_factory=dict)  # executor id -> why not read
    abandoned: bool = False

    def accept(self, executor_id: str, data: bytes, run_id: str, count: Counter) -> None:
        """Parse one summary's bytes: counted, or rejected with the reason."""
        try:
            summary = parse_summary(data, run_id, executor_id)
        except RejectedSummary as exc:
            self.reject(executor_id, str(exc))
            return
        except Exception as exc:  # a check that breaks must cost this executor's results, never the report
            log.exception("checking the summary of %s failed", executor_id)
            self.reject(executor_id, f"it could not be checked ({type(exc).__name__})")
            return
        count(executor_id, summary)  # outside the try: a merge that broke halfway must not pass for a rejection
        self.counted.append(executor_id)

    def reject(self, executor_id: str, why: str) -> None:
        log.error("summary of %s rejected: %s", executor_id, why)
        self.rejected[executor_id] = why


def read_summaries(
    store: Store,
    results: S3Location,
    run_id: str,
    executor_ids: list[str],
    *,
    budget_seconds: float,
    clock: Clock,
    max_bytes: int,
    count: Counter,
    should_stop: Callable[[], bool] = lambda: False,
    idle: Callable[[], None] = lambda: None,
) -> Collected:
    """Each executor's summary.json (at most `max_bytes` each, SALVO_MAX_SUMMARY_BYTES) parsed and counted as it
    is read (`count`, the ledger's: in the order they arrive), or why not.

    `idle` runs in the caller's thread between answers: the controller reads its link there, so what
    2,000 executors keep sending while the phase lasts is not queued in the sockets' buffers.
    """
    collected = Collected()
    limit = SizeLimit(max_bytes, "SALVO_MAX_SUMMARY_BYTES")
    if not executor_ids:
        return collected
    deadline = clock.monotonic() + budget_seconds
    work: queue.Queue[str] = queue.Queue()
    for executor_id in executor_ids:
        work.put(executor_id)
    # Bounded: a reader waits while the parser is behind, so only this many summaries' bytes wait at once.
    done: queue.Queue[tuple[str, bytes | None, str]] = queue.Queue(maxsize=READERS)
    left = threading.Event()  # the phase was abandoned: nobody takes answers any more

    def answer(executor_id: str, data: bytes | None, why: str) -> None:
        while not left.is_set():
            try:
                done.put((executor_id, data, why), timeout=0.1)
                return
            except queue.Full:
                continue

    def reader() -> None:
        while True:
            try:
                executor_id = work.get_nowait()
            except queue.Empty:
                return
            if left.is_set():
                return
            remaining = deadline - clock.monotonic()
            if remaining <= 0 or should_stop():
                answer(executor_id, None, "not read: the phase's time or the run ran out")
                continue
            try:
                location = summary_location(results, run_id, executor_id)
                data = store.bounded(remaining).read_bytes(location, what="summary", limit=limit)
                answer(executor_id, data, "")
            except ObjectTooLarge as exc:
                log.error("%s: not read", exc)
                answer(executor_id, None, str(exc))
            except SalvoError as exc:
                answer(executor_id, None, str(exc))
            except Exception as exc:  # a reader must always answer, or the phase would wait for it
                answer(executor_id, None, f"{type(exc).__name__}: {exc}")

    for _ in range(min(READERS, len(executor_ids))):
        threading.Thread(target=reader, name="summary-reader", daemon=True).start()
    pending = set(executor_ids)
    while pending:
        idle()
        if should_stop():
            collected.abandoned = True
            left.set()
            break
        try:
            executor_id, data, why = done.get(timeout=0.1)
        except queue.Empty:
            continue
        pending.discard(executor_id)
        if data is None:
            collected.unreadable[executor_id] = why
        else:
            collected.accept(executor_id, data, run_id, count)
    for executor_id in pending:
        collected.unreadable[executor_id] = "not read: the controller was interrupted"
    return collected
