"""The load tool's own words for why it failed: one line for the executor's message.

bzt 1.17 leaves these in the artifacts folder, read here closest to the cause first:

    locust*.log   locust's log file:   [2026-01-01 10:00:00,123] host/ERROR/locust.runners: You must specify ...
    locust*.err   locust's stderr:     tracebacks ending in  locust.exception.StopTest: You must specify ...
    jmeter*.out   JMeter's console:    Error in NonGUIDriver java.lang.IllegalArgumentException: Problem loading
                                       XML from:'…'. / Cause: / CannotResolveClassException: … / line number : 54
    bzt.out       bzt's console:       10:00:01 ERROR: Internal Error: String format not supported: xyz
    bzt.log       bzt's own log:       [2026-01-01 10:00:01,456 ERROR root] Child Process Error: ...

The answer is the first meaningful error: never a traceback frame, a `raise ...`
source line or a header such as "Locust STDERR:", and bzt's generic wrap-up
("Empty results, most likely ... failed") only when nothing better was said.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from pathlib import Path

__all__ = ["MAX_CHARS", "READ_LIMIT_BYTES", "first_error"]

READ_LIMIT_BYTES = 1 << 20  # the first error is near the start; a looping error can grow a log to GBs
MAX_CHARS = 300

_LOCUST_RECORD = re.compile(r"^\[[\d\- :,.]+\] [^/\s]*/(?:ERROR|CRITICAL)/[^:]*: (.*)$")
_BZT_CONSOLE = re.compile(r"^\d\d:\d\d:\d\d (?:ERROR|CRITICAL): (.*)$")
_BZT_RECORD = re.compile(r"^\[[\d\- :,.]+ (?:ERROR|CRITICAL) [^\]]*\] (.*)$")
_EXCEPTION = re.compile(r"^((?:[A-Za-z_]\w*\.)*[A-Z]\w*): (\S.*)$")  # the line a traceback ends with
_NOT_A_CAUSE = re.compile(r"^(Traceback \(most recent call last\)|File \"|raise\b|During handling of)")
_JMETER_CONSOLE = re.compile(r"^(?:Error in NonGUIDriver|An error occurred:)\s*(?:(?:[a-z]\w*\.)+[A-Z]\w*: )?(.*)$")
_JMETER_LINE = re.compile(r"^line number\s*:\s*(\d+)")
_GENERIC = re.compile(r"Empty results, most likely|Actual reason for this can be found")


def first_error(artifacts_dir: Path) -> str | None:
    """The tool's first meaningful error line in `artifacts_dir`, or None when it said nothing usable."""
    fallback = None
    for pattern, messages in _SOURCES:
        for path in sorted(artifacts_dir.glob(pattern)):
            for message in messages(_head(path)):
                if not _meaningful(message):
                    continue
                if not _GENERIC.search(message):
                    return message[:MAX_CHARS]
                fallback = fallback or message[:MAX_CHARS]
    return fallback


def _locust_log(lines: list[str]) -> Iterator[str]:
    yield from _matches(_LOCUST_RECORD, lines)


def _exceptions(lines: list[str]) -> Iterator[str]:
    for line in lines:
        if _EXCEPTION.match(line):
            yield line.strip()


def _jmeter_console(lines: list[str]) -> Iterator[str]:
    """JMeter's own words: the error, the cause on the line after "Cause:", and where in the plan."""
    for number, line in enumerate(lines):
        match = _JMETER_CONSOLE.match(line.strip())
        if not match:
            continue
        message, following = match.group(1).strip(), [rest.strip() for rest in lines[number + 1 : number + 40]]
        if following[:1] == ["Cause:"] and len(following) > 1:
            message = f"{message} Cause: {following[1]}"
        where = next((m.group(1) for rest in following if (m := _JMETER_LINE.match(rest))), None)
        if message.startswith("Problem loading XML"):
            message = "JMeter could not load the plan: " + message.split("Cause: ", 1)[-1]
        yield message + (f" (line {where} of the plan)" if where else "")


def _bzt_console(lines: list[str]) -> Iterator[str]:
    yield from _matches(_BZT_CONSOLE, lines)


def _bzt_log(lines: list[str]) -> Iterator[str]:
    yield from _matches(_BZT_RECORD, lines)


def _matches(pattern: re.Pattern[str], lines: list[str]) -> Iterator[str]:
    for line in lines:
        match = pattern.match(line)
        if match:
            yield match.group(1).strip()


_SOURCES: tuple[tuple[str, Callable[[list[str]], Iterator[str]]], ...] = (
    ("locust*.log", _locust_log),
    ("locust*.err", _exceptions),
    ("jmeter*.out", _jmeter_console),
    ("bzt.out", _bzt_console),
    ("bzt.log", _bzt_log),
    ("bzt.out", _exceptions),  # bzt itself crashed with a Python traceback
)


def _meaningful(message: str) -> bool:
    """Not empty, not a header announcing what follows, not a piece of a traceback."""
    return bool(message) and not message.endswith(":") and not _NOT_A_CAUSE.match(message)


def _head(path: Path) -> list[str]:
    try:
        with path.open("rb") as file:
            data = file.read(READ_LIMIT_BYTES)
    except OSError:
        return []
    return data.decode("utf-8", errors="replace").splitlines()
