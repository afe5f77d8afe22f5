"""Exit codes and the error types that carry them.

Every error a user can cause is one of these types. Its message is the one line
the user sees (no traceback); its docstring says what the user should do.
"""

from __future__ import annotations

from enum import IntEnum


class ExitCode(IntEnum):
    """Process exit codes, as documented in docs/contract.md (Exit codes)."""

    OK = 0
    FAILED = 1  # executor: load tool failed; controller: criteria failed
    CONFIG = 2
    SCENARIO = 3  # executor: scenario not fetched/armed; controller: too few executors
    NO_LOAD = 4  # executor: wait timeout / kill switch; controller: executors lost under policy fail
    SIGINT = 130
    SIGTERM = 143


class SalvoError(Exception):
    """Base of all errors Salvo reports to the user as one line."""

    exit_code: ExitCode = ExitCode.FAILED


class ConfigError(SalvoError):
    """A setting is missing or invalid. Fix the named environment variable."""

    exit_code = ExitCode.CONFIG

    def __init__(self, problems: list[str] | str):
        self.problems = [problems] if isinstance(problems, str) else list(problems)
        super().__init__("; ".join(self.problems))


class ScenarioFetchError(SalvoError):
    """The scenario object could not be read from S3.

    Check that the bucket and key in SALVO_SCENARIO_URI exist and that the task
    role may s3:GetObject them.
    """

    exit_code = ExitCode.SCENARIO


class ScenarioError(SalvoError):
    """The scenario was fetched but cannot be run (bad bundle, bad config, bad locustfile).

    Fix the scenario and upload it again (`salvo upload` runs the same checks).
    """

    exit_code = ExitCode.SCENARIO


class LoadToolNotReady(ScenarioError):
    """The load tool stopped (or hung) while loading the scenario, before its start gate: nothing ran.

    The message quotes the tool's own first error line (JMeter, locust or bzt); fix
    the scenario and upload it again. Its logs are in the executor's work folder.
    """


class LoadToolError(SalvoError):
    """The load tool (bzt/locust) failed to start or run. Read its log in the results folder."""

    exit_code = ExitCode.FAILED


class UploadError(SalvoError):
    """Results could not be written to S3 after retrying.

    Check SALVO_RESULTS_URI and that the task role may s3:PutObject under it.
    """

    exit_code = ExitCode.FAILED


class NoLoadError(SalvoError):
    """The executor gave up without (complete) load: wait timeout or kill switch.

    Check that the controller can reach the executor's command and status ports
    and that both use the same SALVO_FLEET_KEY.
    """

    exit_code = ExitCode.NO_LOAD


class PreStartFailed(SalvoError):
    """SALVO_PRE_START_COMMAND failed or timed out; no load was started. Its output is in the log above."""

    exit_code = ExitCode.NO_LOAD


class ProtocolError(SalvoError):
    """A frame on a Salvo socket could not be decoded. It is logged and ignored."""


class ObjectTooLarge(SalvoError):
    """An S3 object is larger than Salvo reads (a scenario, a data file, a summary.json); it was not read whole.

    Make the object smaller, or, if it really must be that large, raise the
    variable the message names (SALVO_MAX_SCENARIO_BYTES, SALVO_MAX_DATA_BYTES,
    SALVO_MAX_SUMMARY_BYTES).
    """

    exit_code = ExitCode.SCENARIO

    def __init__(self, what: str, uri: str, size: int, limit: int, variable: str, *, exact: bool = True):
        self.what, self.uri, self.size, self.limit, self.variable = what, uri, size, limit, variable
        # `exact` False: the size was not announced (or understated) and reading stopped at `size` bytes
        verb = "is" if exact else "is at least"
        super().__init__(f"{what} {uri} {verb} {size} bytes, over {variable}={limit}")
