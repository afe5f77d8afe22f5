"""Logging setup: text or JSON lines on stderr, with secrets scrubbed from every record."""

from __future__ import annotations

import json
import logging
import os
import sys
import time

from salvo.common.settings import CommonSettings, LogFormat, secret_fields

_SECRET_ENV = (
    "SALVO_FLEET_KEY",
    "SALVO_EXECUTOR_SECRET_KEY",
    "SALVO_CONTROLLER_SECRET_KEY",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_SESSION_TOKEN",
)


class SecretFilter(logging.Filter):
    """Replaces any secret value with *** wherever it appears in a message."""

    def __init__(self, secrets: list[str]):
        super().__init__()
        self.secrets = [s for s in secrets if s and len(s) >= 4]

    def filter(self, record: logging.LogRecord) -> bool:
        if self.secrets:
            message = record.getMessage()
            scrubbed = message
            for secret in self.secrets:
                scrubbed = scrubbed.replace(secret, "***")
            if scrubbed != message:
                record.msg, record.args = scrubbed, None
        return True


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "time": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created)) + f".{int(record.msecs):03d}Z",
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        for key in ("executor_id", "run_id", "state"):
            if hasattr(record, key):
                entry[key] = getattr(record, key)
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry)


def readable(line: str) -> str:
    """A line JsonFormatter wrote, as the text format shows it ('TIME LEVEL message'); any other line as it is."""
    if not line.startswith("{"):
        return line
    try:
        entry = json.loads(line)
    except ValueError:
        return line
    if not isinstance(entry, dict) or not {"time", "level", "message"} <= entry.keys():
        return line
    return f"{entry['time']} {entry['level']} {entry['message']}" + (
        f"\n{entry['exception']}" if entry.get("exception") else ""
    )


def configure(settings: CommonSettings | None = None, role: str = "salvo") -> None:
    """Configure the root logger once from settings (or defaults when settings failed)."""
    level = settings.log_level.value if settings else "INFO"
    fmt = settings.log_format if settings else LogFormat.TEXT
    handler = logging.StreamHandler(sys.stderr)
    if fmt is LogFormat.JSON:
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(logging.Formatter(f"%(asctime)s {role} %(levelname)s %(message)s", "%Y-%m-%dT%H:%M:%S"))
    secrets = [os.environ.get(name, "") for name in _SECRET_ENV]
    if settings is not None:
        for field in secret_fields(type(settings)):
            value = getattr(settings, field)
            if value is not None:
                secrets.append(value.get_secret_value())
    handler.addFilter(SecretFilter(secrets))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    for noisy in ("botocore", "boto3", "urllib3", "s3transfer"):
        logging.getLogger(noisy).setLevel(max(logging.WARNING, root.level))
