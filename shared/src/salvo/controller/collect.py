"""Reading every member's summary.json at the end of a run: concurrently, under one budget, parsed as read.

2,000 executors must not mean 2,000 serial round trips, nor 2,000 retry budgets
when S3 is down: every read shares the phase's deadline, and a signal ends the
phase at once with whatever was read. A summary.json larger than
SALVO_MAX_SUMMARY_BYTES is not read whole: its executor's results count as
unreadable, the reason naming its URI, size and the limit. Each summary is parsed
whole as soon as it is read, and its bytes dropped: a malformed summary is
rejected, never merged, and the phase holds the bytes of a few summaries at a time,
not of the whole fleet (readers wait while the parser is behind).
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
from salvo.common.summary_schema import RejectedSummary, Summary, parse_summary
from salvo.controller.ledger import Ledger

log = logging.getLogger(__name__)

READERS = 32


@dataclass
class Collected:
    summaries: dict[str, Summary] = field(default_factory=dict)  # executor id -> its parsed summary.json
    rejected: dict[str, str] = field(default_factory=dict)  # executor id -> why its summary was refused
    unreadable: dict[str, str] = field(default_factory=dict)  # executor id -> why not read
    abandoned: bool = False

    def accept(self, executor_id: str, data: bytes, run_id: str) -> None:
        """Parse one summary's bytes: kept as a Summary, or rejected with the reason."""
        try:
            self.summaries[executor_id] = parse_summary(data, run_id, executor_id)
        except RejectedSummary as exc:
            self.rejected[executor_id] = str(exc)
        except Exception as exc:  # a check that breaks must cost this executor's results, never the report
            log.exception("checking the summary of %s failed", executor_id)
            self.rejected[executor_id] = f"it could not be checked ({type(exc).__name__})"


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
    idle: Callable[[], None] = lambda: None,
) -> Collected:
    """Each executor's summary.json (at most `max_bytes` each, SALVO_MAX_SUMMARY_BYTES) parsed, or why not.

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
            collected.accept(executor_id, data, run_id)
    for executor_id in pending:
        collected.unreadable[executor_id] = "not read: the controller was interrupted"
    return collected


def count_summaries(ledger: Ledger, collected: Collected) -> dict[str, str]:
    """Count each parsed summary in the ledger, in executor order; executor id -> why it was rejected, for the rest."""
    for executor_id in sorted(collected.summaries):
        ledger.count(executor_id, collected.summaries.pop(executor_id))  # the ledger holds it from here
    for executor_id, why in sorted(collected.rejected.items()):
        log.error("summary of %s rejected: %s", executor_id, why)
    return dict(collected.rejected)
