"""S3 access with one retry policy: tenacity, exponential backoff with full jitter, bounded by time.

botocore's own retries are switched off (one attempt per call) so that every
attempt is ours and visible in the log. Transient failures — throttling, 5xx,
connection resets, timeouts, truncated bodies — are retried until
`retry_seconds` have passed; permanent ones — missing key or bucket, access
denied, rejected credentials — fail at once. Either way the user reads one line
naming bucket and key and what to do. boto3 itself honours AWS_ENDPOINT_URL,
AWS_REGION and the credential chain (and addresses a custom endpoint path-style).
Reads may be bounded by a `SizeLimit` (salvo.common.bounded): ObjectTooLarge, never retried.
"""

from __future__ import annotations

import copy
import hashlib
import logging
import os
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import boto3
from boto3.exceptions import S3UploadFailedError
from boto3.s3.transfer import TransferConfig
from botocore import exceptions as botocore_errors
from botocore.config import Config
from botocore.exceptions import ClientError
from tenacity import RetryCallState, Retrying, retry_if_exception, stop_before_delay, wait_random_exponential
from urllib3.exceptions import HTTPError as Urllib3Error

from salvo.common.bounded import SizeLimit, read_bounded
from salvo.common.defaults import S3_RETRY_SECONDS
from salvo.common.errors import SalvoError, ScenarioFetchError, UploadError
from salvo.common.s3location import S3Location

log = logging.getLogger(__name__)

T = TypeVar("T")

TRANSIENT_CODES = frozenset(
    {
        "SlowDown",
        "Throttling",
        "ThrottlingException",
        "RequestLimitExceeded",
        "TooManyRequests",
        "RequestTimeout",
        "InternalError",
        "ServiceUnavailable",
        "500",
        "502",
        "503",
        "504",
    }
)
NOT_FOUND_CODES = frozenset({"NoSuchKey", "404", "NotFound"})
DENIED_CODES = frozenset({"AccessDenied", "403", "AllAccessDisabled"})
CREDENTIAL_CODES = frozenset(
    {
        "InvalidAccessKeyId",
        "SignatureDoesNotMatch",
        "ExpiredToken",
        "InvalidToken",
        "TokenRefreshRequired",
        "NoCredentialsError",
        "PartialCredentialsError",
    }
)
TRANSIENT_EXCEPTIONS = (
    botocore_errors.ConnectionError,  # EndpointConnectionError, ConnectTimeoutError, proxy and TLS failures
    botocore_errors.HTTPClientError,  # ConnectionClosedError, ReadTimeoutError, ResponseStreamingError
    botocore_errors.IncompleteReadError,
    botocore_errors.FlexibleChecksumError,  # body damaged in transit
    Urllib3Error,  # ProtocolError and friends, should botocore not wrap them
    ConnectionError,  # the builtin: resets, broken pipes
    TimeoutError,
)
#: What S3Store turns into a one-line SalvoError; anything else is a bug and propagates.
S3_FAILURES = (ClientError, botocore_errors.BotoCoreError, S3UploadFailedError, Urllib3Error, OSError)

MAX_POOL_CONNECTIONS = 50  # the controller reads summaries 32 at a time


class S3ReadError(SalvoError):
    """An object or listing could not be read from S3.

    Check the s3:// URI (bucket and key) and that the role may s3:GetObject the
    object and s3:ListBucket the bucket.
    """


# --- classifying failures ---------------------------------------------------------------


def _client_error(exc: BaseException | None) -> ClientError | None:
    """`exc` if it is S3's error answer, or the one an S3UploadFailedError was raised from."""
    if isinstance(exc, S3UploadFailedError):
        exc = exc.__cause__ or exc.__context__
    return exc if isinstance(exc, ClientError) else None


def error_code(exc: BaseException) -> str:
    """S3's error code (`NoSuchKey`, `503` for a body-less answer) or the exception's type name."""
    client_error = _client_error(exc)
    if client_error is not None:
        response = client_error.response
        code = response.get("Error", {}).get("Code") or response.get("ResponseMetadata", {}).get("HTTPStatusCode")
        return str(code)
    return type(exc).__name__


def _http_status(exc: BaseException) -> int:
    client_error = _client_error(exc)
    if client_error is None:
        return 0
    status = client_error.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
    return status if isinstance(status, int) else 0


def is_transient(exc: BaseException) -> bool:
    """True for failures worth retrying: throttling, 5xx, resets, timeouts, truncated bodies."""
    if _client_error(exc) is not None:
        return error_code(exc) in TRANSIENT_CODES or _http_status(exc) >= 500 or _http_status(exc) == 429
    if isinstance(exc, S3UploadFailedError):  # no ClientError inside: the transfer itself broke off
        return True
    return isinstance(exc, TRANSIENT_EXCEPTIONS)


# --- the store ------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Operation:
    """What a call does, for messages: `verb` `what`, the permission it needs, the hint to fix it."""

    verb: str
    what: str
    location: S3Location
    permission: str
    hint: str
    error: type[SalvoError]


class S3Store:
    """Download, upload, read and list S3 objects, retrying transient failures for `retry_seconds`.

    `client` defaults to boto3's S3 client as the environment configures it
    (AWS_ENDPOINT_URL, AWS_REGION, credentials), with botocore retries off.
    """

    def __init__(
        self,
        retry_seconds: float = S3_RETRY_SECONDS,
        client: Any = None,
        *,
        initial_backoff: float = 0.1,
        max_backoff: float = 5.0,
        connect_timeout: float = 5.0,
        read_timeout: float = 30.0,
    ):
        self.retry_seconds = retry_seconds
        self.initial_backoff = initial_backoff
        self.max_backoff = max_backoff
        self.client = client or boto3.client(
            "s3",
            config=Config(
                retries={"total_max_attempts": 1, "mode": "standard"},
                connect_timeout=connect_timeout,
                read_timeout=read_timeout,
                max_pool_connections=MAX_POOL_CONNECTIONS,
            ),
        )
        # Multipart above 8 MiB; a retry starts the whole transfer again from the file.
        self.transfer_config = TransferConfig(multipart_threshold=8 << 20, multipart_chunksize=8 << 20)

    def bounded(self, retry_seconds: float) -> S3Store:
        """The same store (same client) with a smaller retry budget, e.g. what is left of a phase's."""
        other = copy.copy(self)
        other.retry_seconds = max(0.1, min(self.retry_seconds, retry_seconds))
        return other

    def download(
        self,
        location: S3Location,
        dest: Path,
        *,
        what: str = "scenario",
        variable: str = "SALVO_SCENARIO_URI",
        limit: SizeLimit | None = None,
    ) -> str:
        """Fetch an object (the scenario, by default) to `dest` and return the sha256 of its bytes.

        The bytes go to a temporary file beside `dest`, renamed over it only when
        complete: a failure never leaves a partial `dest`. Raises ScenarioFetchError
        naming `what` and the `variable` to check, ObjectTooLarge past `limit`.
        """
        operation = _Operation(
            "download",
            f"{what} {location}",
            location,
            "s3:GetObject",
            f"check {variable}",
            ScenarioFetchError,
        )
        dest = Path(dest)

        def attempt() -> str:
            dest.parent.mkdir(parents=True, exist_ok=True)
            handle, temporary = tempfile.mkstemp(dir=dest.parent, prefix=f".{dest.name}.", suffix=".part")
            digest = hashlib.sha256()
            try:
                with os.fdopen(handle, "wb") as out:

                    def sink(chunk: bytes) -> None:
                        digest.update(chunk)
                        out.write(chunk)

                    self._read_into(location, what, limit, sink)
                os.replace(temporary, dest)
            except BaseException:
                Path(temporary).unlink(missing_ok=True)
                raise
            return digest.hexdigest()

        return self._call(operation, attempt)

    def upload_file(self, path: Path, location: S3Location, content_type: str | None = None) -> None:
        """Upload a local file (multipart when large); returns once S3 has confirmed it. Raises UploadError."""
        operation = self._upload_operation(location)
        extra = {"ContentType": content_type} if content_type else None

        def attempt() -> None:
            self.client.upload_file(
                str(path), location.bucket, location.key, ExtraArgs=extra, Config=self.transfer_config
            )

        self._call(operation, attempt)

    def upload_bytes(self, data: bytes, location: S3Location, content_type: str | None = None) -> None:
        """PUT `data` as one object; returns once S3 has confirmed it. Raises UploadError."""
        operation = self._upload_operation(location)
        extra = {"ContentType": content_type} if content_type else {}

        def attempt() -> None:
            self.client.put_object(Bucket=location.bucket, Key=location.key, Body=data, **extra)

        self._call(operation, attempt)

    def read_bytes(self, location: S3Location, *, what: str = "object", limit: SizeLimit | None = None) -> bytes:
        """The whole object in memory (small objects such as summary.json).

        Raises S3ReadError, or ObjectTooLarge (naming `what`) past `limit`.
        """
        operation = _Operation("read", str(location), location, "s3:GetObject", "check the URI", S3ReadError)

        def attempt() -> bytes:
            chunks: list[bytes] = []
            self._read_into(location, what, limit, chunks.append)
            return b"".join(chunks)

        return self._call(operation, attempt)

    def _read_into(
        self, location: S3Location, what: str, limit: SizeLimit | None, sink: Callable[[bytes], None]
    ) -> None:
        response = self.client.get_object(Bucket=location.bucket, Key=location.key)
        read_bounded(response, what, str(location), limit, sink)

    def exists(self, location: S3Location) -> bool:
        """Whether the object exists (HEAD; a 404 is False). Raises S3ReadError for anything else."""
        return self.last_modified(location) is not None

    def last_modified(self, location: S3Location) -> float | None:
        """When the object was last written (epoch seconds; HEAD), None if it does not exist. Raises S3ReadError."""
        operation = _Operation("check", str(location), location, "s3:GetObject", "check the URI", S3ReadError)

        def attempt() -> float | None:
            try:
                return self.client.head_object(Bucket=location.bucket, Key=location.key)["LastModified"].timestamp()
            except ClientError as exc:
                if error_code(exc) in NOT_FOUND_CODES:
                    return None
                raise

        return self._call(operation, attempt)

    def list_keys(self, prefix: S3Location, page_size: int = 1000) -> list[str]:
        """Every key under `prefix`, following continuation tokens; each page is retried on its own.

        Raises S3ReadError.
        """
        return [item["Key"] for page in self._pages(prefix, page_size) for item in page.get("Contents", [])]

    def list_folders(self, prefix: S3Location, page_size: int = 1000) -> list[str]:
        """The names of the "folders" right under `prefix` (Delimiter "/"), paginated. Raises S3ReadError."""
        return [
            folder["Prefix"][len(prefix.key) :].rstrip("/")
            for page in self._pages(prefix, page_size, Delimiter="/")
            for folder in page.get("CommonPrefixes", [])
        ]

    def _pages(self, prefix: S3Location, page_size: int, **extra: str):
        operation = _Operation("list", str(prefix), prefix, "s3:ListBucket", "check the URI", S3ReadError)
        request = {"Bucket": prefix.bucket, "Prefix": prefix.key, "MaxKeys": page_size, **extra}
        while True:
            page = self._call(operation, lambda: self.client.list_objects_v2(**request))
            yield page
            if not page.get("IsTruncated"):
                return
            request["ContinuationToken"] = page["NextContinuationToken"]

    # --- the retry policy -------------------------------------------------------------------

    @staticmethod
    def _upload_operation(location: S3Location) -> _Operation:
        return _Operation("upload", str(location), location, "s3:PutObject", "check the destination URI", UploadError)

    def _call(self, operation: _Operation, attempt: Callable[[], T]) -> T:
        """Run `attempt` under the retry policy; turn its final failure into `operation.error`."""
        started = time.monotonic()

        def log_retry(state: RetryCallState) -> None:
            exc = state.outcome.exception() if state.outcome else None
            log.warning(
                "%s of %s failed (attempt %d: %s); retrying in %.1f s",
                operation.verb,
                operation.what,
                state.attempt_number,
                _reason(exc),
                state.next_action.sleep if state.next_action else 0.0,
            )

        retrying = Retrying(
            retry=retry_if_exception(is_transient),
            stop=stop_before_delay(self.retry_seconds),
            wait=wait_random_exponential(multiplier=self.initial_backoff, max=self.max_backoff),
            before_sleep=log_retry,
            reraise=True,
        )
        try:
            return retrying(attempt)
        except S3_FAILURES as exc:
            attempts = retrying.statistics.get("attempt_number", 1)
            if is_transient(exc):
                message = (
                    f"could not {operation.verb} {operation.what} after {attempts} attempts "
                    f"in {time.monotonic() - started:.1f} s: {_reason(exc)}"
                )
            else:
                message = _permanent_message(operation, exc)
            raise operation.error(message) from exc


def _reason(exc: BaseException | None) -> str:
    """A short, credential-free reason: S3's code, or the exception's type and first line."""
    if exc is None:
        return "unknown"
    if _client_error(exc) is not None:
        return error_code(exc)
    detail = str(exc).splitlines()[0] if str(exc) else ""
    return f"{type(exc).__name__}: {detail}" if detail else type(exc).__name__


def _permanent_message(operation: _Operation, exc: BaseException) -> str:
    code = error_code(exc)
    what, location = operation.what, operation.location
    if isinstance(exc, OSError) and _client_error(exc) is None:  # the local file, not S3
        return f"could not {operation.verb} {what}: {exc}"
    if code in NOT_FOUND_CODES:
        return f"{what} not found ({code}): {operation.hint}"
    if code == "NoSuchBucket":
        return f"{what}: bucket {location.bucket!r} does not exist (NoSuchBucket): {operation.hint}"
    if code in DENIED_CODES:
        return f"access denied to {what} ({code}): the task role needs {operation.permission} on it"
    if code in CREDENTIAL_CODES:
        return (
            f"could not {operation.verb} {what}: AWS credentials rejected or missing ({code}): "
            "check the task role or the AWS_* credential variables"
        )
    return f"could not {operation.verb} {what}: {_reason(exc)}: {operation.hint}"
