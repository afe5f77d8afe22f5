"""S3 access with one retry policy: tenacity, exponential backoff with jitter, bounded by time.

botocore's own retries are switched off so every attempt is visible in our log.
Transient failures (throttling, 5xx, resets, timeouts) are retried; permanent
ones (missing key or bucket, access denied, bad credentials) fail at once with a
one-line message naming bucket and key. boto3 itself honours AWS_ENDPOINT_URL,
AWS_REGION and the credential chain.
"""

from __future__ import annotations

import hashlib
import logging
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, TypeVar

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError
from boto3.exceptions import S3UploadFailedError
from tenacity import RetryCallState, Retrying, retry_if_exception, stop_after_delay, wait_random_exponential

from salvo.errors import ScenarioFetchError, SalvoError, UploadError

log = logging.getLogger("salvo.s3")

T = TypeVar("T")

TRANSIENT_CODES = {
    "SlowDown", "Throttling", "ThrottlingException", "RequestLimitExceeded", "RequestTimeout",
    "RequestTimeTooSkewed", "InternalError", "ServiceUnavailable", "503", "500", "502", "504",
}
PERMANENT_HINTS = {
    "NoSuchKey": "not found (NoSuchKey)",
    "404": "not found (404)",
    "NotFound": "not found",
    "NoSuchBucket": "bucket does not exist (NoSuchBucket)",
    "AccessDenied": "access denied (AccessDenied)",
    "403": "access denied (403)",
    "InvalidAccessKeyId": "rejected: unknown AWS access key (InvalidAccessKeyId)",
    "SignatureDoesNotMatch": "rejected: wrong AWS secret key (SignatureDoesNotMatch)",
    "ExpiredToken": "rejected: the AWS session token has expired (ExpiredToken)",
}


class S3ReadError(SalvoError):
    """An object could not be read from S3. Check the URI and that the role may s3:GetObject / s3:ListBucket."""


@dataclass(frozen=True)
class S3Location:
    bucket: str
    key: str

    @classmethod
    def parse(cls, uri: str) -> "S3Location":
        if not uri.startswith("s3://") or not uri[5:].split("/", 1)[0]:
            raise ValueError(f"not an S3 URI: {uri!r} (expected s3://bucket/key)")
        bucket, _, key = uri[5:].partition("/")
        return cls(bucket, key)

    def child(self, *parts: str) -> "S3Location":
        key = self.key
        for part in parts:
            key = f"{key.rstrip('/')}/{part.lstrip('/')}" if key else part.lstrip("/")
        return S3Location(self.bucket, key)

    def __str__(self) -> str:
        return f"s3://{self.bucket}/{self.key}"


def error_code(exc: BaseException) -> str:
    if isinstance(exc, ClientError):
        return str(exc.response.get("Error", {}).get("Code") or exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode"))
    return type(exc).__name__


def is_transient(exc: BaseException) -> bool:
    if isinstance(exc, ClientError):
        code = error_code(exc)
        status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0)
        return code in TRANSIENT_CODES or (isinstance(status, int) and status >= 500)
    if isinstance(exc, S3UploadFailedError):
        return any(code in str(exc) for code in TRANSIENT_CODES if not code.isdigit()) or "50" in str(exc)
    return isinstance(exc, (BotoCoreError, ConnectionError, TimeoutError))


class S3Store:
    def __init__(self, retry_seconds: float = 120.0, client=None, max_backoff: float = 5.0):
        self.retry_seconds = retry_seconds
        self.max_backoff = max_backoff
        self.client = client or boto3.client(
            "s3",
            config=Config(
                retries={"total_max_attempts": 1, "mode": "standard"},
                connect_timeout=5,
                read_timeout=30,
                s3={"addressing_style": "path"},
            ),
        )

    # --- operations ----------------------------------------------------------------------

    def download(self, location: S3Location, dest: Path) -> str:
        """Fetch an object to `dest` (atomically) and return its sha256; ScenarioFetchError otherwise."""

        def attempt() -> str:
            dest.parent.mkdir(parents=True, exist_ok=True)
            handle, temporary = tempfile.mkstemp(dir=dest.parent, prefix=".download-")
            digest = hashlib.sha256()
            try:
                with os.fdopen(handle, "wb") as out:
                    body = self.client.get_object(Bucket=location.bucket, Key=location.key)["Body"]
                    for chunk in iter(lambda: body.read(1 << 20), b""):
                        digest.update(chunk)
                        out.write(chunk)
                os.replace(temporary, dest)
            except BaseException:
                Path(temporary).unlink(missing_ok=True)
                raise
            return digest.hexdigest()

        return self._call(attempt, f"scenario {location}", "fetch", ScenarioFetchError,
                          hint="check SALVO_SCENARIO_URI and that the task role may s3:GetObject it")

    def upload_file(self, path: Path, location: S3Location, content_type: str | None = None) -> None:
        extra = {"ContentType": content_type} if content_type else None

        def attempt() -> None:
            self.client.upload_file(str(path), location.bucket, location.key, ExtraArgs=extra)

        self._call(attempt, str(location), "upload", UploadError,
                   hint="check SALVO_RESULTS_URI and that the task role may s3:PutObject under it")

    def upload_bytes(self, data: bytes, location: S3Location, content_type: str | None = None) -> None:
        extra = {"ContentType": content_type} if content_type else {}

        def attempt() -> None:
            self.client.put_object(Bucket=location.bucket, Key=location.key, Body=data, **extra)

        self._call(attempt, str(location), "upload", UploadError,
                   hint="check SALVO_RESULTS_URI and that the task role may s3:PutObject under it")

    def read_bytes(self, location: S3Location) -> bytes:
        def attempt() -> bytes:
            return self.client.get_object(Bucket=location.bucket, Key=location.key)["Body"].read()

        return self._call(attempt, str(location), "read", S3ReadError, hint="check the URI and s3:GetObject")

    def list_keys(self, prefix: S3Location) -> list[str]:
        def attempt() -> list[str]:
            keys: list[str] = []
            for page in self.client.get_paginator("list_objects_v2").paginate(Bucket=prefix.bucket, Prefix=prefix.key):
                keys.extend(item["Key"] for item in page.get("Contents", []))
            return keys

        return self._call(attempt, str(prefix), "list", S3ReadError, hint="check the URI and s3:ListBucket")

    # --- the retry policy ----------------------------------------------------------------

    def _call(self, attempt: Callable[[], T], what: str, verb: str, error: type[SalvoError], hint: str) -> T:
        def log_retry(state: RetryCallState) -> None:
            exc = state.outcome.exception() if state.outcome else None
            log.warning("%s of %s failed (attempt %d: %s); retrying", verb, what, state.attempt_number, error_code(exc))

        retrying = Retrying(
            retry=retry_if_exception(is_transient),
            stop=stop_after_delay(self.retry_seconds),
            wait=wait_random_exponential(multiplier=0.1, max=self.max_backoff),
            before_sleep=log_retry,
            reraise=True,
        )
        attempts = 0
        try:
            for attempt_context in retrying:
                with attempt_context:
                    attempts = attempt_context.retry_state.attempt_number
                    return attempt()
        except (ClientError, BotoCoreError, S3UploadFailedError, OSError) as exc:
            code = error_code(exc)
            if not is_transient(exc):
                reason = PERMANENT_HINTS.get(code, f"failed ({code})")
                raise error(f"{what}: {reason}: {hint}") from None
            raise error(
                f"could not {verb} {what} after {attempts} attempts in {self.retry_seconds:g} s: {code}: {hint}"
            ) from None
        raise AssertionError("unreachable")
