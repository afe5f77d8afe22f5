"""Pytest fixtures shared by the integration tests (registered in tests/conftest.py)."""

from tests.support.s3 import *  # noqa: F401,F403  (moto server, fault proxy, bucket fixtures)
