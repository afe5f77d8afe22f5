"""The S3 layer against a real moto server over HTTP, with a proxy injecting 503s, resets and cut bodies.

Every S3Store here builds its own boto3 client from the environment (AWS_ENDPOINT_URL
pointing at moto or at a FaultProxy in front of it), as the executor does.
"""

from __future__ import annotations

import hashlib
import logging
import os
import re
import time
from concurrent.futures import ThreadPoolExecutor

import boto3
import pytest

from salvo.common.errors import ExitCode, ScenarioFetchError, UploadError
from salvo.common.s3 import S3Location, S3ReadError, S3Store
from tests.support.faultproxy import FaultProxy
from tests.support.s3 import get_object, put_object

pytestmark = pytest.mark.integration

FAST = 2.0  # seconds: far below any retry budget used here, far above one moto round trip


@pytest.fixture
def store_via(aws_env, monkeypatch):
    """An S3Store whose client boto3 builds from the environment, pointed at `endpoint`."""

    def make(endpoint: str, retry_seconds: float = 30, **credentials: str) -> S3Store:
        monkeypatch.setenv("AWS_ENDPOINT_URL", endpoint)
        if credentials:
            monkeypatch.setenv("AWS_ACCESS_KEY_ID", credentials["key"])
            monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", credentials["secret"])
        # boto3's default session caches the credentials it first read: start a fresh one.
        monkeypatch.setattr(boto3, "DEFAULT_SESSION", None)
        return S3Store(retry_seconds=retry_seconds, max_backoff=0.5)

    return make


@pytest.fixture
def proxy(moto_server):
    """A FaultProxy in front of moto that injects nothing until a test sets its rates."""
    with FaultProxy(moto_server.endpoint) as running:
        yield running


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


# --- locations ------------------------------------------------------------------------------


def test_location_parse_child_and_str():
    prefix = S3Location.parse("s3://results-bucket/runs/")
    assert prefix == S3Location("results-bucket", "runs/")
    assert str(prefix.child("r1", "executors", "e0")) == "s3://results-bucket/runs/r1/executors/e0"
    assert prefix.child("r1", "executors/").key == "runs/r1/executors/"
    assert S3Location.parse("s3://bkt").child("a").key == "a"
    assert str(S3Location.parse("s3://bkt/a/b.yml")) == "s3://bkt/a/b.yml"
    for bad in ("bkt/key", "http://bkt/key", "s3:///key", "s3://Bad_Bucket/key", "s3://x/key"):
        with pytest.raises(ValueError):
            S3Location.parse(bad)


# --- downloads ------------------------------------------------------------------------------


def test_download_returns_the_bytes_and_their_sha256(tmp_path, s3_bucket, store_via, moto_server):
    body = os.urandom(3 << 20)
    put_object(s3_bucket, "scenarios/bundle.zip", body)
    dest = tmp_path / "fresh" / "bundle.zip"
    dest.parent.mkdir()
    digest = store_via(moto_server.endpoint).download(S3Location(s3_bucket, "scenarios/bundle.zip"), dest)
    assert dest.read_bytes() == body
    assert digest == sha256(body)
    assert os.listdir(dest.parent) == ["bundle.zip"]  # the temporary file is gone


def test_cut_off_downloads_leave_no_partial_file_and_retry_cleanly(tmp_path, s3_bucket, store_via, proxy):
    body = os.urandom(1 << 20)
    put_object(s3_bucket, "big.bin", body)
    dest = tmp_path / "big.bin"
    dest.write_bytes(b"the previous version")

    proxy.truncate_rate = 1.0  # every answer loses its second half
    with pytest.raises(ScenarioFetchError) as failed:
        store_via(proxy.endpoint, retry_seconds=1).download(S3Location(s3_bucket, "big.bin"), dest)
    assert proxy.truncations >= 2
    assert "attempts" in str(failed.value)
    assert dest.read_bytes() == b"the previous version"  # untouched, no half-written replacement
    assert os.listdir(tmp_path) == ["big.bin"]  # and no temporary file left over

    proxy.truncate_rate = 0.0
    proxy.truncate_next = 2  # the next two answers are cut, the third goes through: a retry starts over cleanly
    truncated_before = proxy.truncations
    assert store_via(proxy.endpoint).download(S3Location(s3_bucket, "big.bin"), dest) == sha256(body)
    assert dest.read_bytes() == body
    assert proxy.truncations == truncated_before + 2
    assert os.listdir(tmp_path) == ["big.bin"]


def test_missing_key_and_bucket_fail_at_once_naming_them(tmp_path, s3_bucket, store_via, proxy):
    store = store_via(proxy.endpoint)
    started = time.monotonic()
    with pytest.raises(ScenarioFetchError) as missing_key:
        store.download(S3Location(s3_bucket, "scenarios/missing.yml"), tmp_path / "missing.yml")
    assert proxy.requests == 1  # no retry
    with pytest.raises(ScenarioFetchError) as missing_bucket:
        store.download(S3Location("no-such-bucket-here", "k.yml"), tmp_path / "k.yml")
    assert proxy.requests == 2
    assert time.monotonic() - started < FAST

    key_message, bucket_message = str(missing_key.value), str(missing_bucket.value)
    assert key_message == (
        f"scenario s3://{s3_bucket}/scenarios/missing.yml not found (NoSuchKey): check SALVO_SCENARIO_URI"
    )
    assert "s3://no-such-bucket-here/k.yml" in bucket_message and "NoSuchBucket" in bucket_message
    assert "\n" not in key_message + bucket_message
    assert missing_key.value.exit_code == missing_bucket.value.exit_code == ExitCode.SCENARIO == 3
    assert not list(tmp_path.iterdir())  # nothing written


def test_access_denied_and_unknown_keys_fail_at_once(tmp_path, iam_enforcing_s3, store_via):
    locked = iam_enforcing_s3
    location = S3Location(locked.bucket, locked.key)
    with FaultProxy(locked.server.endpoint) as counting:  # forwards the signed Host header verbatim
        store = store_via(counting.endpoint, key=locked.access_key, secret=locked.secret_key)
        started = time.monotonic()
        with pytest.raises(ScenarioFetchError) as denied:
            store.download(location, tmp_path / "test.yml")
        assert counting.requests == 1 and time.monotonic() - started < FAST

        stranger = store_via(counting.endpoint, key="AKIAUNKNOWNUNKNOWN00", secret="not-a-secret")
        with pytest.raises(ScenarioFetchError) as unknown:
            stranger.download(location, tmp_path / "test.yml")
        assert counting.requests == 2

    assert str(denied.value) == (
        f"access denied to scenario s3://{locked.bucket}/{locked.key} (AccessDenied): "
        "the task role needs s3:GetObject on it"
    )
    assert denied.value.exit_code == ExitCode.SCENARIO
    assert "InvalidAccessKeyId" in str(unknown.value) and str(location) in str(unknown.value)
    assert "not-a-secret" not in str(unknown.value)
    assert not list(tmp_path.iterdir())


# --- transient failures ---------------------------------------------------------------------


def test_thirty_percent_503s_do_not_stop_uploads_or_downloads(
    tmp_path, s3_client, s3_bucket, flaky_s3, store_via, caplog
):
    store = store_via(flaky_s3.endpoint)
    big = tmp_path / "big.bin"
    big.write_bytes(os.urandom(9 << 20))  # above the 8 MiB multipart threshold
    caplog.set_level(logging.WARNING, logger="salvo.common.s3")

    for n in range(20):
        store.upload_bytes(f"object {n}".encode(), S3Location(s3_bucket, f"up/{n}.txt"), "text/plain")
    store.upload_file(big, S3Location(s3_bucket, "up/big.bin"), "application/octet-stream")
    for n in range(20):
        dest = tmp_path / "down" / f"{n}.txt"
        assert store.download(S3Location(s3_bucket, f"up/{n}.txt"), dest) == sha256(f"object {n}".encode())
        assert dest.read_text() == f"object {n}"
    assert store.read_bytes(S3Location(s3_bucket, "up/7.txt")) == b"object 7"
    assert len(store.list_keys(S3Location(s3_bucket, "up/"))) == 21

    stored_big = s3_client.get_object(Bucket=s3_bucket, Key="up/big.bin")
    assert sha256(stored_big["Body"].read()) == sha256(big.read_bytes())
    assert stored_big["ContentType"] == "application/octet-stream"
    assert any(method == "POST" and "uploads" in path for method, path in flaky_s3.seen)  # multipart
    print(f"proxy: {flaky_s3.requests} requests, {flaky_s3.errors_503} injected 503s")
    assert flaky_s3.errors_503 > 0
    retries = [r.getMessage() for r in caplog.records if "retrying" in r.getMessage()]
    assert retries and all(re.search(r"\(attempt \d+: ServiceUnavailable\)", m) for m in retries)


def test_connection_resets_and_cut_answers_are_retried(tmp_path, s3_bucket, store_via, proxy):
    proxy.reset_rate, proxy.truncate_rate = 0.2, 0.2
    store = store_via(proxy.endpoint)
    for n in range(10):
        store.upload_bytes(f"payload {n}".encode() * 100, S3Location(s3_bucket, f"r/{n}"))
    for n in range(10):
        assert store.read_bytes(S3Location(s3_bucket, f"r/{n}")) == f"payload {n}".encode() * 100
    assert proxy.resets > 0 and proxy.truncations > 0


def test_retries_are_bounded_by_time_and_reported_in_one_line(tmp_path, s3_bucket, store_via, proxy, caplog):
    proxy.fault_rate = 1.0
    caplog.set_level(logging.WARNING, logger="salvo.common.s3")
    started = time.monotonic()
    with pytest.raises(ScenarioFetchError) as exhausted:
        store_via(proxy.endpoint, retry_seconds=1).download(S3Location(s3_bucket, "k.yml"), tmp_path / "k.yml")
    elapsed = time.monotonic() - started
    assert 0.5 < elapsed < 3

    message = str(exhausted.value)
    match = re.fullmatch(
        rf"could not download scenario s3://{s3_bucket}/k\.yml after (\d+) attempts in [\d.]+ s: ServiceUnavailable",
        message,
    )
    assert match, message
    attempts = int(match.group(1))
    assert attempts == proxy.requests >= 3
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == attempts - 1  # one warning per retry, numbered
    assert "attempt 1: ServiceUnavailable" in warnings[0].getMessage()
    assert exhausted.value.exit_code == ExitCode.SCENARIO
    assert not list(tmp_path.iterdir())


# --- uploads, reads, listings ---------------------------------------------------------------


def test_upload_to_a_missing_bucket_fails_at_once_naming_it(tmp_path, store_via, proxy):
    store = store_via(proxy.endpoint)
    small = tmp_path / "kpi.jtl"
    small.write_text("ts,elapsed\n")
    with pytest.raises(UploadError) as put_failed:
        store.upload_bytes(b"{}", S3Location("missing-results-bucket", "r/summary.json"))
    with pytest.raises(UploadError) as file_failed:
        store.upload_file(small, S3Location("missing-results-bucket", "r/kpi.jtl"))
    assert proxy.requests == 2  # neither was retried
    for failure, key in ((put_failed, "r/summary.json"), (file_failed, "r/kpi.jtl")):
        assert f"s3://missing-results-bucket/{key}" in str(failure.value)
        assert "NoSuchBucket" in str(failure.value)
        assert failure.value.exit_code == ExitCode.FAILED


def test_upload_of_a_missing_local_file_names_it(tmp_path, s3_bucket, store_via, proxy):
    with pytest.raises(UploadError) as failed:
        store_via(proxy.endpoint).upload_file(tmp_path / "absent.log", S3Location(s3_bucket, "r/absent.log"))
    assert "absent.log" in str(failed.value) and proxy.requests == 0


def test_read_of_a_missing_object_is_an_s3_read_error(s3_bucket, store_via, moto_server):
    with pytest.raises(S3ReadError) as failed:
        store_via(moto_server.endpoint).read_bytes(S3Location(s3_bucket, "runs/r1/executors/e1/summary.json"))
    assert f"s3://{s3_bucket}/runs/r1/executors/e1/summary.json not found (NoSuchKey)" in str(failed.value)
    assert failed.value.exit_code == ExitCode.FAILED


def test_list_keys_follows_every_page_and_retries_each_one(s3_client, s3_bucket, store_via, flaky_s3):
    keys = {f"runs/r1/executors/e{n:03}/summary.json" for n in range(45)}
    with ThreadPoolExecutor(8) as pool:
        list(pool.map(lambda key: s3_client.put_object(Bucket=s3_bucket, Key=key, Body=b"{}"), keys))
    s3_client.put_object(Bucket=s3_bucket, Key="runs/r2/other.json", Body=b"{}")

    listed = store_via(flaky_s3.endpoint).list_keys(S3Location(s3_bucket, "runs/r1/"), page_size=10)
    assert sorted(listed) == sorted(keys)
    listings = [path for method, path in flaky_s3.seen if method == "GET" and "list-type=2" in path]
    assert len(listings) >= 5  # five pages of ten, plus any retried ones
    assert sum("continuation-token" in path for path in listings) >= 4


def test_list_keys_beyond_one_default_page(s3_client, s3_bucket, store_via, moto_server):
    keys = {f"many/{n:04}" for n in range(1003)}
    with ThreadPoolExecutor(16) as pool:
        list(pool.map(lambda key: s3_client.put_object(Bucket=s3_bucket, Key=key, Body=b""), keys))
    assert set(store_via(moto_server.endpoint).list_keys(S3Location(s3_bucket, "many/"))) == keys


def test_helpers_round_trip(s3_bucket):
    put_object(s3_bucket, "notes/a.txt", "hello")
    assert get_object(s3_bucket, "notes/a.txt") == b"hello"
