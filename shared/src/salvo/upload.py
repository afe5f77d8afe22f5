"""`salvo upload PATH s3://…`: the executor's own scenario checks, then the upload.

Hosts are the one thing it cannot settle: SALVO_TARGET_HOST is the executors'.
Load that would need it is reported as a note, not refused.
"""

from __future__ import annotations

import hashlib
import sys
import tempfile
from pathlib import Path

from salvo.common.errors import ConfigError, ObjectTooLarge
from salvo.common.s3 import S3Location
from salvo.common.store import Store
from salvo.executor.scenario.checks import check_scenario
from salvo.executor.scenario.unpack import BundleLimits, unpack
from salvo.executor.settings import ExecutorSettings

DEFAULT_LIMITS = BundleLimits(
    max_bytes=ExecutorSettings.model_fields["bundle_max_bytes"].default,
    max_files=ExecutorSettings.model_fields["bundle_max_files"].default,
)
MAX_SCENARIO_BYTES: int = ExecutorSettings.model_fields["max_scenario_bytes"].default


def validate_and_upload(path: str, uri: str, store: Store, entry: str | None = None) -> int:
    source = Path(path)
    if not source.is_file():
        raise ConfigError(f"{path}: no such file")
    try:
        location = S3Location.parse(uri)
    except ValueError as exc:
        raise ConfigError(str(exc)) from None
    if not location.key or location.key.endswith("/"):
        location = location.child(source.name)
    if Path(location.key).suffix.lower() != source.suffix.lower():
        raise ConfigError(f"{uri}: the key must keep the scenario's suffix ({source.suffix}): executors choose by it")
    size = source.stat().st_size
    if size > MAX_SCENARIO_BYTES:  # executors with the default limit would refuse it
        raise ObjectTooLarge("scenario", str(source), size, MAX_SCENARIO_BYTES, "SALVO_MAX_SCENARIO_BYTES")
    digest = hashlib.sha256(source.read_bytes()).hexdigest()
    with tempfile.TemporaryDirectory(prefix="salvo-upload-") as work:
        scenario = unpack(source, source.name, digest, Path(work), entry=entry, limits=DEFAULT_LIMITS)
        checked = check_scenario(scenario, require_tools=False)
    for tool in checked.tools_elsewhere:
        print(
            f"note: {tool}, which this machine does not have: run it on an executor image that has it "
            "(JMeter: salvo-executor-jmeter)",
            file=sys.stderr,
        )
    for problem in checked.unaddressed:
        print(f"note: {problem} (executors without SALVO_TARGET_HOST refuse it)", file=sys.stderr)
    store.upload_file(source, location)
    print(f"uploaded {source} to {location} (sha256 {digest}); entry {scenario.entry.name} checked")
    return 0
