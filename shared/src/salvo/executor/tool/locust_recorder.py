"""Inside the locust process: every request and every user-code exception, counted per second and label.

Nothing is written per request (a file write per request cost locust about a
quarter of its throughput): requests land in `SecondOfLabel` cells, and once a
second the finished seconds go to `salvo-stats-<pid>.jsonl` (see
`salvo.executor.tool.statsfile`); the rest at exit. With SALVO_RAW_SAMPLES=true
every request is also kept as a row of `salvo-samples-<pid>.csv`.

bzt's own locust wrapper writes each request to its kpi.jtl and flushes it;
that listener is replaced by one that keeps bzt's duration and iteration limits
and hands bzt only the first request (bzt fails a run whose kpi.jtl is empty).
"""

from __future__ import annotations

import contextlib
import math
import os
import time
from pathlib import Path
from typing import Any

from salvo.executor.tool.statsfile import SecondOfLabel, stats_path

__all__ = [
    "RAW_SAMPLES_ENV",
    "REPORTED_MARK",
    "SAMPLES_DIR_ENV",
    "StatsRecorder",
    "install_recorder",
    "mark_reported",
    "until_flush",
]

SAMPLES_DIR_ENV = "SALVO_SAMPLES_DIR"
RAW_SAMPLES_ENV = "SALVO_RAW_SAMPLES"
# Set on an exception already recorded as the failed request it interrupted, so it is counted once.
REPORTED_MARK = "_salvo_reported_as_failed_request"
SETTLE_SECONDS = 2  # a second is written once this much later: requests are recorded when they end
FLUSH_PHASE = 0.5  # where in each second (controller time) the recorder writes: as far as can be from its ends


def install_recorder(events: Any) -> StatsRecorder | None:
    """Record through locust's events when $SALVO_SAMPLES_DIR is set; the recorder, or None."""
    folder = os.environ.get(SAMPLES_DIR_ENV)
    if not folder:
        return None
    recorder = StatsRecorder(Path(folder), raw=os.environ.get(RAW_SAMPLES_ENV, "").lower() in ("1", "true", "yes"))
    _replace_bzt_request_writer(events)
    # First in line: bzt's limit raises StopUser once its duration passes, and listeners
    # after it would never hear of requests that did happen.
    events.request._handlers.insert(0, recorder.on_request)
    events.user_error.add_listener(recorder.on_user_error)
    events.init.add_listener(recorder.on_init)
    events.quitting.add_listener(recorder.close)
    return recorder


def until_flush(now: float) -> float:
    """Seconds from `now` (controller time) to the next FLUSH_PHASE into a second; a full second when on it."""
    return math.floor(now - FLUSH_PHASE) + 1 + FLUSH_PHASE - now


def mark_reported(exception: BaseException | None) -> None:
    with contextlib.suppress(AttributeError, TypeError):
        setattr(exception, REPORTED_MARK, True)


class StatsRecorder:
    def __init__(self, folder: Path, raw: bool = False):
        self.path = stats_path(folder, os.getpid())
        self.file = open(self.path, "a", encoding="utf-8")  # noqa: SIM115 -- open while locust runs; close() closes it
        self.cells: dict[tuple[int, str], SecondOfLabel] = {}
        self.environment: Any = None
        self.clock_offset = 0.0  # this host's clock minus the controller's (GO's clock=): timestamps are taken less it
        self.raw = None
        self.arrivals: Any = None  # an open-model run's ArrivalPool (salvo.executor.tool.locust_arrivals)
        if raw:
            from salvo.executor.tool.samples import SampleWriter

            self.raw = SampleWriter(folder / f"salvo-samples-{os.getpid()}.csv")

    def take_go(self, go: Any) -> None:
        """The gate's GO: from now on every timestamp is in the controller's time."""
        self.clock_offset = float(getattr(go, "clock", 0.0) or 0.0)

    def on_init(self, environment: Any = None, **_: Any) -> None:
        self.environment = environment
        import gevent

        gevent.spawn(self._flush_every_second)

    def on_request(
        self,
        request_type: str = "",
        name: str = "",
        response_time: float = 0.0,
        response_length: int = 0,
        response: Any = None,
        exception: BaseException | None = None,
        start_time: float | None = None,
        **_: Any,
    ) -> None:
        elapsed_ms = float(response_time or 0.0)
        start = (start_time if start_time is not None else time.time() - elapsed_ms / 1000.0) - self.clock_offset
        label = name or ""
        key = (int(start), label)
        cell = self.cells.get(key)
        if cell is None:
            cell = self.cells[key] = SecondOfLabel()
        code = getattr(response, "status_code", None)
        code = "" if code is None else str(code)
        message = "" if exception is None else _one_line(exception)
        nbytes = int(response_length or 0)
        cell.request(start, elapsed_ms, code, exception is None, nbytes, message)
        if self.arrivals is not None:  # open model: also timed from its intended send time
            cell.intended(elapsed_ms + self.arrivals.iteration_lateness() * 1000.0)
        if self.raw is not None:
            self.raw.request(
                start=start,
                elapsed_ms=elapsed_ms,
                label=label,
                method=request_type or "",
                code=code,
                success=exception is None,
                nbytes=nbytes,
                message=message,
            )

    def on_user_error(self, user_instance: Any = None, exception: BaseException | None = None, **_: Any) -> None:
        if getattr(exception, REPORTED_MARK, False):
            return  # already counted, as the failed request it interrupted
        now, label, message = time.time() - self.clock_offset, _user_class_name(user_instance), _one_line(exception)
        key = (int(now), label)
        cell = self.cells.get(key)
        if cell is None:
            cell = self.cells[key] = SecondOfLabel()
        cell.user_error(message)
        if self.raw is not None:
            self.raw.user_error(start=now, label=label, message=message)

    def flush(self, everything: bool = False) -> None:
        """Write the seconds that are over (all of them at exit), one line per second and label."""
        horizon = float("inf") if everything else time.time() - self.clock_offset - SETTLE_SECONDS
        done = [key for key in self.cells if key[0] < horizon]
        arrivals = self.arrivals.lines(horizon) if self.arrivals is not None else []
        if not done and not arrivals:
            return
        users = _user_count(self.environment)
        lines = [self.cells.pop(key).line(key[0], key[1], users) for key in sorted(done)] + arrivals
        self.file.write("\n".join(lines) + "\n")
        self.file.flush()

    def _flush_every_second(self) -> None:
        """Flush half-way through each second (controller time), never across a second's end.

        A flush holds every greenlet of the process for a few ms (it builds each second's histograms). Slept as
        sleep(1.0) after it, its phase crept by that much a second until it straddled a second's end, and the
        requests it held back were started, and counted, in the next second: an open-model second off its plan.
        """
        import gevent

        while not self.file.closed:
            gevent.sleep(until_flush(time.time() - self.clock_offset))
            if not self.file.closed:
                self.flush()

    def close(self, **_: Any) -> None:
        if self.arrivals is not None:
            self.arrivals.stop()  # what still waits for a user is dropped, and every second is settled
        if not self.file.closed:
            self.flush(everything=True)
            self.file.close()
        if self.raw is not None:
            self.raw.close()


def _replace_bzt_request_writer(events: Any) -> None:
    """Swap bzt's kpi.jtl writer for its limits alone (after letting it write the first request)."""
    for handler in list(events.request._handlers):
        starter = getattr(handler, "__self__", None)
        if type(starter).__name__ != "LocustStarter":
            continue
        check_limits = getattr(starter, "_LocustStarter__check_limits", None)
        written = []

        def limits(
            *args: Any, _write=handler, _check=check_limits, _starter=starter, _written=written, **kwargs: Any
        ) -> None:
            if not _written:
                _written.append(True)
                _write(*args, **kwargs)  # one real row: bzt calls a run with an empty kpi.jtl failed
                return
            _starter.num_requests -= 1
            if _check is not None:
                _check()

        index = events.request._handlers.index(handler)
        events.request._handlers[index] = limits


def _user_count(environment: Any) -> int:
    runner = getattr(environment, "runner", None)
    return int(getattr(runner, "user_count", 0) or 0)


def _user_class_name(user_instance: Any) -> str:
    """Tasks defined on a User run inside locust's DefaultTaskSet: name the User behind it."""
    if user_instance is None:
        return ""
    return type(getattr(user_instance, "user", user_instance)).__name__


def _one_line(exception: BaseException | None) -> str:
    if exception is None:
        return ""
    text = f"{type(exception).__name__}: {exception}".replace("\n", " ").replace("\r", " ")
    return text[:500]
