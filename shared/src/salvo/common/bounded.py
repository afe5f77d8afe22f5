"""Reading an S3 object's body under a size limit: refused on its announced size, cut off while it streams.

An object whose GET answer announces more bytes than the limit is refused
before its body is read. The body is then counted while it streams and never
read past limit + 1 bytes, so one that sends more than it announced (or
announces nothing, as a chunked answer may) is cut off there. Either way the
read ends in ObjectTooLarge naming the object, its size and the variable that
sets the limit.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from salvo.common.errors import ObjectTooLarge

READ_CHUNK = 1 << 20


@dataclass(frozen=True)
class SizeLimit:
    """The most bytes a read may return, and the variable that sets it (named when an object is refused)."""

    max_bytes: int
    variable: str


def read_bounded(
    response: dict[str, Any], what: str, uri: str, limit: SizeLimit | None, sink: Callable[[bytes], None]
) -> None:
    """Pass a get_object answer's body to `sink` chunk by chunk within `limit` (None: no limit); closes the body."""
    body = response["Body"]
    try:
        announced = response.get("ContentLength")
        if limit is not None and isinstance(announced, int) and announced > limit.max_bytes:
            raise ObjectTooLarge(what, uri, announced, limit.max_bytes, limit.variable)
        received = 0
        while True:
            wanted = READ_CHUNK if limit is None else min(READ_CHUNK, limit.max_bytes + 1 - received)
            chunk = body.read(wanted)
            if not chunk:
                return
            received += len(chunk)
            if limit is not None and received > limit.max_bytes:
                raise ObjectTooLarge(what, uri, received, limit.max_bytes, limit.variable, exact=False)
            sink(chunk)
    finally:
        body.close()
