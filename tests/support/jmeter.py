"""Where the tests find JMeter with Salvo's gate, and the one rule for its absence: skip on a laptop, fail in CI."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

JMETER_HOME = Path(os.environ.get("SALVO_TEST_JMETER_HOME", "/opt/salvo-jmeter"))


def require_jmeter() -> None:
    """Skip the calling test when JMeter with Salvo's gate is not installed; fail it when SALVO_TEST_REQUIRE_JMETER
    is set (.ci/run installs JMeter and sets it: there the JMeter tests run, never skip)."""
    if (JMETER_HOME / "bin" / "jmeter").is_file() and (JMETER_HOME / "bin" / "salvo-gate.groovy").is_file():
        return
    if os.environ.get("SALVO_TEST_REQUIRE_JMETER"):
        pytest.fail(f"SALVO_TEST_REQUIRE_JMETER is set but {JMETER_HOME} has no JMeter with Salvo's gate")
    pytest.skip(
        f"no JMeter with Salvo's gate in {JMETER_HOME}: run scripts/install-jmeter.sh {JMETER_HOME} (.ci/run does)"
    )
