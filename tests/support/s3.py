"""S3 for tests: a real moto server over HTTP on 127.0.0.1 (boto3 calls are never mocked).

Fixtures:
  moto_server       session: the moto server process; `.endpoint`, `.client(service)`
  aws_env           env vars pointing boto3 at moto (also set in os.environ); pass to child processes
  s3_client         a plain boto3 S3 client on moto, for a test's own setup and assertions
  s3_bucket         a fresh, uniquely named bucket (name)
  flaky_s3          a FaultProxy in front of moto answering 30 % of requests 503; `.endpoint`
  iam_enforcing_s3  session: a second moto server enforcing IAM, an object and a user not allowed to read it
Helpers: put_object(bucket, key, body), get_object(bucket, key) use the environment aws_env sets.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import urllib.request
import uuid
from dataclasses import dataclass
from pathlib import Path

import boto3
import pytest

from tests.support.executors import free_port, wait_for
from tests.support.faultproxy import FaultProxy

__all__ = [
    "LockedObject",
    "MotoServer",
    "aws_env",
    "flaky_s3",
    "get_object",
    "iam_enforcing_s3",
    "moto_server",
    "put_object",
    "s3_bucket",
    "s3_client",
    "start_moto",
]

REGION = "us-east-1"
CREDENTIALS = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_REGION": REGION,
    "AWS_DEFAULT_REGION": REGION,
}
# Anything that could point boto3 elsewhere than moto, or at real credentials.
FOREIGN_AWS_VARIABLES = (
    "AWS_PROFILE",
    "AWS_DEFAULT_PROFILE",
    "AWS_SESSION_TOKEN",
    "AWS_SECURITY_TOKEN",
    "AWS_CONFIG_FILE",
    "AWS_SHARED_CREDENTIALS_FILE",
    "AWS_ROLE_ARN",
    "AWS_WEB_IDENTITY_TOKEN_FILE",
    "AWS_ENDPOINT_URL_S3",
    "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
    "AWS_CONTAINER_CREDENTIALS_FULL_URI",
    "AWS_CA_BUNDLE",
)


@dataclass
class MotoServer:
    endpoint: str
    process: subprocess.Popen
    log_path: Path

    def client(self, service: str = "s3", key: str = "testing", secret: str = "testing"):
        return boto3.client(
            service,
            endpoint_url=self.endpoint,
            region_name=REGION,
            aws_access_key_id=key,
            aws_secret_access_key=secret,
        )

    def stop(self) -> None:
        self.process.kill()
        self.process.wait(10)
        self.log_path.unlink(missing_ok=True)


def start_moto(extra_env: dict[str, str] | None = None, timeout: float = 60) -> MotoServer:
    """Start `python -m moto.server` on a free loopback port; return once it answers HTTP."""
    port = free_port()
    endpoint = f"http://127.0.0.1:{port}"
    handle, log_name = tempfile.mkstemp(prefix="moto-", suffix=".log")
    env = {**os.environ, **CREDENTIALS, **(extra_env or {})}
    with os.fdopen(handle, "wb") as log_file:
        process = subprocess.Popen(
            [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
            env=env,
            stdout=log_file,
            stderr=subprocess.STDOUT,
        )
    log_path = Path(log_name)

    def answers() -> bool:
        if process.poll() is not None:
            raise AssertionError(f"moto server exited with {process.returncode}:\n{log_path.read_text()[-2000:]}")
        try:
            urllib.request.urlopen(endpoint + "/moto-api/", timeout=1).close()
            return True
        except OSError:
            return False

    try:
        wait_for(answers, timeout, f"moto server on {endpoint} to answer")
    except BaseException:
        process.kill()
        raise
    return MotoServer(endpoint, process, log_path)


@pytest.fixture(scope="session")
def moto_server():
    server = start_moto()
    yield server
    server.stop()


@pytest.fixture
def aws_env(moto_server, monkeypatch) -> dict[str, str]:
    """Point boto3 (in this process and, via the returned dict, in child processes) at moto."""
    env = {**CREDENTIALS, "AWS_ENDPOINT_URL": moto_server.endpoint}
    for name in FOREIGN_AWS_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    return env


@pytest.fixture
def s3_client(aws_env, moto_server):
    return moto_server.client("s3")


@pytest.fixture
def s3_bucket(s3_client) -> str:
    name = f"salvo-test-{uuid.uuid4().hex[:12]}"
    s3_client.create_bucket(Bucket=name)
    return name


@pytest.fixture
def flaky_s3(moto_server):
    """A FaultProxy in front of moto answering 30 % of requests `503 ServiceUnavailable`."""
    with FaultProxy(moto_server.endpoint, fault_rate=0.3) as proxy:
        yield proxy


@dataclass(frozen=True)
class LockedObject:
    """An object on an IAM-enforcing moto server, and a user's keys that may not read it."""

    server: MotoServer
    bucket: str
    key: str
    access_key: str
    secret_key: str


@pytest.fixture(scope="session")
def iam_enforcing_s3():
    """A second moto server that enforces IAM once the setup is done.

    Setup (bucket, object, user `nobody` with keys and no policy) runs unauthenticated;
    then `POST /moto-api/reset-auth 0` turns enforcement on, so reading the object with
    nobody's keys is a real `403 AccessDenied` over HTTP, and unknown keys a real
    `InvalidAccessKeyId`.
    """
    server = start_moto()
    try:
        s3, iam = server.client("s3"), server.client("iam")
        s3.create_bucket(Bucket="locked")
        s3.put_object(Bucket="locked", Key="scenarios/test.yml", Body=b"execution: []\n")
        iam.create_user(UserName="nobody")
        keys = iam.create_access_key(UserName="nobody")["AccessKey"]
        request = urllib.request.Request(  # text/plain: moto reads the raw body (a form body reads as empty)
            server.endpoint + "/moto-api/reset-auth",
            data=b"0",
            method="POST",
            headers={"Content-Type": "text/plain"},
        )
        urllib.request.urlopen(request, timeout=10).close()
        yield LockedObject(server, "locked", "scenarios/test.yml", keys["AccessKeyId"], keys["SecretAccessKey"])
    finally:
        server.stop()


def put_object(bucket: str, key: str, body: bytes | str) -> None:
    """Store an object on the S3 the environment points at (use with the aws_env fixture)."""
    data = body.encode() if isinstance(body, str) else body
    boto3.client("s3").put_object(Bucket=bucket, Key=key, Body=data)


def get_object(bucket: str, key: str) -> bytes:
    """Read an object from the S3 the environment points at (use with the aws_env fixture)."""
    return boto3.client("s3").get_object(Bucket=bucket, Key=key)["Body"].read()
