"""The S3 layer against a real moto server, including a proxy failing 30 % of requests."""

from __future__ import annotations

import hashlib
import os
import time

import pytest

from salvo.errors import ExitCode, ScenarioFetchError, UploadError
from salvo.s3 import S3Location, S3Store
from tests.support.faultproxy import FaultProxy

pytestmark = pytest.mark.integration


def store_for(endpoint: str, retry_seconds: float = 30, **credentials) -> S3Store:
    import boto3
    from botocore.config import Config

    client = boto3.client(
        "s3", endpoint_url=endpoint, region_name="us-east-1",
        aws_access_key_id=credentials.get("key", "testing"), aws_secret_access_key=credentials.get("secret", "testing"),
        config=Config(retries={"total_max_attempts": 1}, s3={"addressing_style": "path"}),
    )
    return S3Store(retry_seconds=retry_seconds, client=client, max_backoff=0.5)


def test_download_returns_bytes_and_sha256(tmp_path, s3_client, s3_bucket, moto_server):
    body = os.urandom(300_000)
    s3_client.put_object(Bucket=s3_bucket, Key="a/b.zip", Body=body)
    dest = tmp_path / "got" / "b.zip"
    digest = store_for(moto_server.endpoint).download(S3Location(s3_bucket, "a/b.zip"), dest)
    assert dest.read_bytes() == body and digest == hashlib.sha256(body).hexdigest()


def test_missing_key_and_bucket_fail_fast_naming_them(tmp_path, s3_bucket, moto_server):
    with FaultProxy(moto_server.endpoint, fault_rate=0.0) as proxy:
        store = store_for(proxy.endpoint)
        started = time.monotonic()
        with pytest.raises(ScenarioFetchError) as missing_key:
            store.download(S3Location(s3_bucket, "nope.yml"), tmp_path / "x.yml")
        with pytest.raises(ScenarioFetchError) as missing_bucket:
            store.download(S3Location("no-such-bucket-here", "k.yml"), tmp_path / "x.yml")
        assert time.monotonic() - started < 5 and proxy.requests == 2  # one attempt each, no retries
    assert f"s3://{s3_bucket}/nope.yml" in str(missing_key.value) and "NoSuchKey" in str(missing_key.value)
    assert "no-such-bucket-here" in str(missing_bucket.value) and "NoSuchBucket" in str(missing_bucket.value)
    assert missing_key.value.exit_code == ExitCode.SCENARIO
    assert not list(tmp_path.iterdir())  # no partial file left behind


def test_access_denied_fails_at_once(tmp_path, iam_enforcing_s3):
    server, bucket, key, credentials = iam_enforcing_s3
    with pytest.raises(ScenarioFetchError) as denied:
        store_for(server.endpoint, **credentials).download(S3Location(bucket, key), tmp_path / "t.yml")
    assert "access denied" in str(denied.value) and f"s3://{bucket}/{key}" in str(denied.value)


def test_thirty_percent_503s_do_not_stop_downloads_or_uploads(tmp_path, s3_client, s3_bucket, flaky_s3):
    store = store_for(flaky_s3.endpoint)
    big = tmp_path / "big.bin"
    big.write_bytes(os.urandom(9 << 20))  # multipart upload
    for n in range(15):
        store.upload_bytes(f"object {n}".encode(), S3Location(s3_bucket, f"up/{n}.txt"))
    store.upload_file(big, S3Location(s3_bucket, "up/big.bin"))
    for n in range(15):
        dest = tmp_path / f"down-{n}.txt"
        store.download(S3Location(s3_bucket, f"up/{n}.txt"), dest)
        assert dest.read_text() == f"object {n}"
    got = s3_client.get_object(Bucket=s3_bucket, Key="up/big.bin")["Body"].read()
    assert hashlib.sha256(got).digest() == hashlib.sha256(big.read_bytes()).digest()
    print(f"proxy: {flaky_s3.requests} requests, {flaky_s3.faults} injected 503s")
    assert flaky_s3.faults >= 5


def test_retries_are_bounded_by_time(tmp_path, s3_bucket, moto_server):
    with FaultProxy(moto_server.endpoint, fault_rate=1.0) as proxy:
        started = time.monotonic()
        with pytest.raises(ScenarioFetchError) as exhausted:
            store_for(proxy.endpoint, retry_seconds=1).download(S3Location(s3_bucket, "k"), tmp_path / "k")
        assert time.monotonic() - started < 4
        assert proxy.requests >= 2
    assert "attempts" in str(exhausted.value) and "ServiceUnavailable" in str(exhausted.value)


def test_upload_to_missing_bucket_is_an_error(tmp_path, moto_server):
    with pytest.raises(UploadError) as failed:
        store_for(moto_server.endpoint).upload_bytes(b"x", S3Location("missing-results-bucket", "r/summary.json"))
    assert "missing-results-bucket" in str(failed.value)


def test_list_keys_and_location_helpers(s3_client, s3_bucket, moto_server):
    for n in range(5):
        s3_client.put_object(Bucket=s3_bucket, Key=f"runs/r1/executors/e{n}/summary.json", Body=b"{}")
    keys = store_for(moto_server.endpoint).list_keys(S3Location(s3_bucket, "runs/r1/"))
    assert len(keys) == 5
    prefix = S3Location.parse(f"s3://{s3_bucket}/runs/")
    assert str(prefix.child("r1", "executors", "e0")) == f"s3://{s3_bucket}/runs/r1/executors/e0"
