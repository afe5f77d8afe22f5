"""S3Location, an `s3://bucket/key` parsed once: the one place the URI form and the bucket-name rule are spelled.

Kept apart from salvo.common.s3 so that the settings can hold locations without importing boto3.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_BUCKET = re.compile(r"[a-z0-9][a-z0-9.\-]{1,61}[a-z0-9]")
# S3 takes any key, but one with a control character would break the log lines, reports and listings that show it
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


@dataclass(frozen=True)
class S3Location:
    """An S3 object (`key`) or prefix (`key` empty or ending in "/")."""

    bucket: str
    key: str

    @classmethod
    def parse(cls, uri: str) -> S3Location:
        """`s3://bucket/key` -> S3Location; ValueError naming what is wrong."""
        if not isinstance(uri, str) or not uri.startswith("s3://"):
            raise ValueError(f"not an S3 URI: {uri!r} (expected s3://bucket/key)")
        bucket, _, key = uri[len("s3://") :].partition("/")
        if not _BUCKET.fullmatch(bucket):
            raise ValueError(
                f"bad bucket name {bucket!r} in S3 URI {uri!r}: 3-63 lowercase letters, digits, '.' or '-'"
            )
        if _CONTROL.search(key):
            raise ValueError(f"S3 URI {uri!r} has a control character in its key: name the object without one")
        return cls(bucket, key)

    def child(self, *parts: str) -> S3Location:
        """Join key parts with "/": prefix `a/` + `b`, `c/` -> `a/b/c/` (a trailing "/" is kept)."""
        key = self.key
        for part in parts:
            key = f"{key.rstrip('/')}/{part.lstrip('/')}" if key else part.lstrip("/")
        return S3Location(self.bucket, key)

    def __str__(self) -> str:
        return f"s3://{self.bucket}/{self.key}"
