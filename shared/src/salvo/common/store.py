"""What Salvo needs of an object store, written once: salvo.common.s3.S3Store in production, a fake in tests."""

from __future__ import annotations

from pathlib import Path
from typing import Protocol, runtime_checkable

from salvo.common.bounded import SizeLimit
from salvo.common.s3location import S3Location


@runtime_checkable
class Store(Protocol):
    """Objects at S3Locations.

    Every failure is one line: ScenarioFetchError, S3ReadError, UploadError or ObjectTooLarge.
    """

    retry_seconds: float  # how long a transient failure is retried

    def bounded(self, retry_seconds: float) -> Store:
        """The same store with at most `retry_seconds` of retries (what is left of a phase's budget)."""
        ...

    def download(
        self,
        location: S3Location,
        dest: Path,
        *,
        what: str = "scenario",
        variable: str = "SALVO_SCENARIO_URI",
        limit: SizeLimit | None = None,
    ) -> str:
        """The object written whole to `dest`; its sha256."""
        ...

    def upload_file(self, path: Path, location: S3Location, content_type: str | None = None) -> None: ...
    def upload_bytes(self, data: bytes, location: S3Location, content_type: str | None = None) -> None: ...
    def read_bytes(self, location: S3Location, *, what: str = "object", limit: SizeLimit | None = None) -> bytes: ...
    def exists(self, location: S3Location) -> bool: ...
    def last_modified(self, location: S3Location) -> float | None: ...
    def list_keys(self, prefix: S3Location, page_size: int = 1000) -> list[str]: ...
    def list_folders(self, prefix: S3Location, page_size: int = 1000) -> list[str]: ...
