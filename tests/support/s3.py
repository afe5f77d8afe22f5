"""S3 for tests: a real moto server over HTTP on 127.0.0.1 (never mocked boto3 calls)."""

from __future__ import annotations

import os
import subprocess
import sys
import urllib.request
import uuid
from dataclasses import dataclass

import boto3
import pytest

from tests.support.faultproxy import FaultProxy

__all__ = ["moto_server", "aws_env", "s3_client", "s3_bucket", "flaky_s3", "iam_enforcing_s3", "MotoServer", "start_moto"]

CREDENTIALS = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "AWS_REGION": "us-east-1",
               "AWS_DEFAULT_REGION": "us-east-1"}


@dataclass
class MotoServer:
    endpoint: str
    process: subprocess.Popen

    def client(self, service: str = "s3", **credentials):
        return boto3.client(service, endpoint_url=self.endpoint, region_name="us-east-1",
                            aws_access_key_id=credentials.get("key", "testing"),
                            aws_secret_access_key=credentials.get("secret", "testing"))

    def stop(self) -> None:
        self.process.kill()
        self.process.wait(10)


def start_moto(extra_env: dict | None = None) -> MotoServer:
    from tests.support.executors import free_port, wait_for

    port = free_port()
    env = {**os.environ, **(extra_env or {})}
    process = subprocess.Popen(
        [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    endpoint = f"http://127.0.0.1:{port}"

    def answers() -> bool:
        if process.poll() is not None:
            raise AssertionError(f"moto server exited with {process.returncode}")
        try:
            urllib.request.urlopen(endpoint + "/moto-api/", timeout=1).close()
            return True
        except OSError:
            return False

    wait_for(answers, 60, "moto server to answer")
    return MotoServer(endpoint, process)


@pytest.fixture(scope="session")
def moto_server():
    server = start_moto()
    yield server
    server.stop()


@pytest.fixture
def aws_env(moto_server, monkeypatch):
    """Environment pointing boto3 (here and in child processes) at the moto server."""
    env = {**CREDENTIALS, "AWS_ENDPOINT_URL": moto_server.endpoint}
    for key in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_CONFIG_FILE", "AWS_SHARED_CREDENTIALS_FILE"):
        monkeypatch.delenv(key, raising=False)
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    return env


@pytest.fixture
def s3_client(aws_env, moto_server):
    return moto_server.client()


@pytest.fixture
def s3_bucket(s3_client):
    name = f"salvo-test-{uuid.uuid4().hex[:12]}"
    s3_client.create_bucket(Bucket=name)
    return name


@pytest.fixture
def flaky_s3(moto_server):
    """A proxy in front of moto failing 30 % of requests with 503."""
    with FaultProxy(moto_server.endpoint, fault_rate=0.3) as proxy:
        yield proxy


@pytest.fixture(scope="session")
def iam_enforcing_s3():
    """A second moto server that enforces IAM after its first few (setup) requests.

    Yields (server, bucket, key, credentials of a user with no permissions): reading
    that object with those credentials is a real AccessDenied over HTTP.
    """
    server = start_moto({"INITIAL_NO_AUTH_ACTION_COUNT": "4"})
    s3, iam = server.client("s3"), server.client("iam")
    s3.create_bucket(Bucket="locked")
    s3.put_object(Bucket="locked", Key="scenarios/test.yml", Body=b"execution: []\n")
    iam.create_user(UserName="nobody")
    key = iam.create_access_key(UserName="nobody")["AccessKey"]
    yield server, "locked", "scenarios/test.yml", {"key": key["AccessKeyId"], "secret": key["SecretAccessKey"]}
    server.stop()
