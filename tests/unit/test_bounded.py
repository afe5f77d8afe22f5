"""A bounded read refuses an object by its announced size and stops reading one byte past the limit."""

from __future__ import annotations

import io

import pytest

from salvo.common.bounded import READ_CHUNK, SizeLimit, read_bounded
from salvo.common.errors import ExitCode, ObjectTooLarge

URI = "s3://bucket/scenarios/test.py"
LIMIT = SizeLimit(1000, "SALVO_MAX_SCENARIO_BYTES")


class Body(io.BytesIO):
    """A get_object body: counts what was read and whether it was closed."""

    def __init__(self, data: bytes):
        super().__init__(data)
        self.taken = 0
        self.was_closed = False

    def read(self, size: int | None = -1) -> bytes:
        chunk = super().read(size)
        self.taken += len(chunk)
        return chunk

    def close(self) -> None:
        self.was_closed = True
        super().close()


def read(data: bytes, limit: SizeLimit | None, announced: int | None) -> tuple[bytes, Body]:
    body = Body(data)
    response = {"Body": body, **({"ContentLength": announced} if announced is not None else {})}
    chunks: list[bytes] = []
    read_bounded(response, "scenario", URI, limit, chunks.append)
    return b"".join(chunks), body


@pytest.mark.parametrize("size", [0, 1, 999, 1000])
def test_up_to_the_limit_everything_is_read(size):
    data, body = read(b"x" * size, LIMIT, size)
    assert data == b"x" * size and body.was_closed


def test_an_announced_size_over_the_limit_is_refused_before_the_body_is_read():
    with pytest.raises(ObjectTooLarge) as caught:
        read(b"x" * 1001, LIMIT, 1001)
    error = caught.value
    assert str(error) == f"scenario {URI} is 1001 bytes, over SALVO_MAX_SCENARIO_BYTES=1000"
    assert (error.uri, error.size, error.limit, error.exit_code) == (URI, 1001, 1000, ExitCode.SCENARIO)


def test_a_body_longer_than_announced_is_cut_off_one_byte_past_the_limit():
    body = Body(b"x" * (10 * READ_CHUNK))
    with pytest.raises(ObjectTooLarge) as caught:
        read_bounded({"Body": body, "ContentLength": 10}, "scenario", URI, LIMIT, lambda chunk: None)
    assert str(caught.value) == f"scenario {URI} is at least 1001 bytes, over SALVO_MAX_SCENARIO_BYTES=1000"
    assert body.taken == 1001 and body.was_closed


def test_an_unannounced_body_is_counted_too():
    with pytest.raises(ObjectTooLarge, match="is at least 1001 bytes"):
        read(b"x" * 5000, LIMIT, None)


def test_without_a_limit_the_whole_body_is_read():
    data, _ = read(b"y" * (3 * READ_CHUNK + 5), None, 3 * READ_CHUNK + 5)
    assert len(data) == 3 * READ_CHUNK + 5


def test_nothing_past_the_limit_reaches_the_sink():
    received: list[int] = []
    with pytest.raises(ObjectTooLarge):
        read_bounded(
            {"Body": Body(b"z" * 3000)},
            "data file",
            URI,
            SizeLimit(1500, "SALVO_MAX_DATA_BYTES"),
            lambda chunk: received.append(len(chunk)),
        )
    assert sum(received) <= 1500
