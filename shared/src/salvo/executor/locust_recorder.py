"""Inside the locust process: every request, and every exception raised in user code, as a Salvo sample.

Requests carry locust's own start time. The file is `salvo-samples-<pid>.csv`
in $SALVO_SAMPLES_DIR (see `salvo.executor.samples`). Stdlib + locust only.
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

__all__ = ["REPORTED_MARK", "SAMPLES_DIR_ENV", "SampleRecorder", "install_recorder", "mark_reported"]

SAMPLES_DIR_ENV = "SALVO_SAMPLES_DIR"
# Set on an exception already recorded as the failed request it interrupted, so it is counted once.
REPORTED_MARK = "_salvo_reported_as_failed_request"


def install_recorder(events: Any) -> "SampleRecorder | None":
    """Record through locust's events when $SALVO_SAMPLES_DIR is set; the recorder, or None."""
    recorder = SampleRecorder.from_environment()
    if recorder is None:
        return None
    # First in line: bzt's request listener raises StopUser once its duration limit
    # passes, and listeners after it would never hear of requests that did happen.
    events.request._handlers.insert(0, recorder.on_request)
    events.user_error.add_listener(recorder.on_user_error)
    events.quitting.add_listener(recorder.close)
    return recorder


def mark_reported(exception: BaseException | None) -> None:
    try:
        setattr(exception, REPORTED_MARK, True)
    except (AttributeError, TypeError):
        pass


class SampleRecorder:
    def __init__(self, path: Path):
        from salvo.executor.samples import SampleWriter

        self.writer = SampleWriter(path)

    @classmethod
    def from_environment(cls) -> "SampleRecorder | None":
        folder = os.environ.get(SAMPLES_DIR_ENV)
        if not folder:
            return None
        return cls(Path(folder) / f"salvo-samples-{os.getpid()}.csv")

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
        start = start_time if start_time is not None else time.time() - elapsed_ms / 1000.0
        code = getattr(response, "status_code", None)
        self.writer.request(
            start=start,
            elapsed_ms=elapsed_ms,
            label=name or "",
            method=request_type or "",
            code="" if code is None else str(code),
            success=exception is None,
            nbytes=int(response_length or 0),
            message="" if exception is None else _one_line(exception),
        )

    def on_user_error(self, user_instance: Any = None, exception: BaseException | None = None, **_: Any) -> None:
        if getattr(exception, REPORTED_MARK, False):
            return  # already counted, as the failed request it interrupted
        self.writer.user_error(
            start=time.time(),
            label=_user_class_name(user_instance),
            message=_one_line(exception),
        )

    def close(self, **_: Any) -> None:
        self.writer.close()


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
