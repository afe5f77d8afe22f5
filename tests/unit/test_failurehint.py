"""When bzt or locust fails, the executor says why in the tool's own words, not with a traceback's tail.

The fixtures are trimmed from what bzt 1.17.2 and locust 2.47.0 wrote into the
artifacts folder in real failed runs.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from salvo.executor.run.failurehint import READ_LIMIT_BYTES, first_error
from salvo.executor.run.runner import BztRunner
from salvo.executor.scenario.bztconfig import RunPlan

VENV = "/work/main/.venv/lib/python3.11/site-packages"

# A locustfile whose HttpUser has no host, run without default-address.
NO_HOST = {
    "locust.log": """\
[2026-11-23 11:15:25,322] vm/INFO/locust.main: Starting Locust 2.47.0
[2026-11-23 11:15:25,323] vm/INFO/locust.main: Run time limit set to 2 seconds
[2026-11-23 11:15:25,323] vm/INFO/locust.runners: Ramping to 1 users at a rate of 1.00 per second
[2026-11-23 11:15:25,325] vm/ERROR/locust.runners: You must specify the base host. Either in the host attribute \
in the User class, or on the command line using the --host option.
[2026-11-23 11:15:25,325] vm/WARNING/locust.runners: Stopping Locust...
[2026-11-23 11:15:25,357] vm/INFO/locust.main: Shutting down (exit code 0)
""",
    "locust.err": f"""\
Traceback (most recent call last):
  File "src/gevent/greenlet.py", line 912, in gevent._gevent_cgreenlet.Greenlet.run
  File "{VENV}/locust/user/users.py", line 352, in __init__
    raise StopTest(
locust.exception.StopTest: You must specify the base host. Either in the host attribute in the User class, or on \
the command line using the --host option.
2026-11-23T11:15:25Z <Greenlet at 0x7fe69ee2e160: <lambda>> failed with StopTest

Type     Name                                                                          # reqs      # fails |    Avg
--------|----------------------------------------------------------------------------|-------|-------------|-------
         Aggregated                                                                         0     0(0.00%) |      0
""",
    "bzt.out": """\
11:15:24 INFO: Taurus CLI Tool v1.17.2
11:15:25 WARNING: Please wait for graceful shutdown...
11:15:26 ERROR: Child Process Error: Empty results, most likely s (LocustIOExecutor) failed. Actual reason for \
this can be found in logs under /tmp/run/artifacts
11:15:26 ERROR: Locust STDERR:
11:15:26 WARNING: Done performing with code: 1
""",
    "bzt.log": f"""\
[2026-11-23 11:15:26,889 DEBUG Engine] post_process: Empty results, most likely s (LocustIOExecutor) failed.
Traceback (most recent call last):
  File "{VENV}/bzt/modules/provisioning.py", line 165, in post_process
    raise ToolError(message, diagnostics)
bzt.ToolError: Empty results, most likely s (LocustIOExecutor) failed. Actual reason for this can be found in logs
[2026-11-23 11:15:26,896 ERROR root] Child Process Error: Empty results, most likely s (LocustIOExecutor) failed.
[2026-11-23 11:15:26,896 DEBUG root] ToolError: Empty results, most likely s (LocustIOExecutor) failed.
  File "{VENV}/bzt/modules/provisioning.py", line 165, in post_process
    raise ToolError(message, diagnostics)
[2026-11-23 11:15:26,896 WARNING root] Done performing with code: 1
""",
}

# bzt-generated locustfile (requests: ['/index']) without default-address: every request fails.
RELATIVE_URL_LOG = f"""\
[2026-11-23 11:15:36,140] vm/INFO/locust.runners: All users spawned: {{"GeneratedSwarm": 1}} (1 total users)
[2026-11-23 11:15:36,143] vm/ERROR/root: Uncaught exception in event handler: 
Traceback (most recent call last):
  File "{VENV}/requests/models.py", line 514, in prepare_url
    raise MissingSchema(
requests.exceptions.MissingSchema: Invalid URL '/index': No scheme supplied. Perhaps you meant https:///index?

During handling of the above exception, another exception occurred:

Traceback (most recent call last):
  File "{VENV}/locust/event.py", line 45, in fire
    handler(**kwargs)
TypeError: LocustStarter.__on_exception() missing 1 required positional argument: 'locust_instance'

[2026-11-23 11:15:36,143] vm/ERROR/locust.user.task: Invalid URL '/index': No scheme supplied. Perhaps you meant \
https:///index?
"""

# A locustfile that raises while locust imports it.
IMPORT_FAILURE_ERR = f"""\
Traceback (most recent call last):
  File "{VENV}/bzt/resources/locustio-taurus-wrapper.py", line 124, in <module>
    locust_starter.execute()
  File "/tmp/run/scenario/bad.py", line 1, in <module>
    raise RuntimeError("database credentials missing")
RuntimeError: database credentials missing
"""

# bzt refusing its own config (hold-for: xyz); locust never started.
BZT_CONFIG_ERROR = """\
11:15:45 INFO: Taurus CLI Tool v1.17.2
11:15:46 WARNING: Please wait for graceful shutdown...
11:15:46 ERROR: Internal Error: String format not supported: xyz
11:15:46 WARNING: Done performing with code: 1
"""


def artifacts(tmp_path: Path, files: dict[str, str]) -> Path:
    folder = tmp_path / "artifacts"
    folder.mkdir(exist_ok=True)
    for name, text in files.items():
        (folder / name).write_text(text)
    return folder


@pytest.mark.parametrize(
    ("files", "expected"),
    [
        (
            NO_HOST,
            "You must specify the base host. Either in the host attribute in the User class, or on the "
            "command line using the --host option.",
        ),
        (
            {k: v for k, v in NO_HOST.items() if k != "locust.log"},
            "locust.exception.StopTest: You must specify the base host. Either in the host attribute in the User "
            "class, or on the command line using the --host option.",
        ),
        (
            {"locust.log": RELATIVE_URL_LOG, "bzt.out": NO_HOST["bzt.out"]},
            "Invalid URL '/index': No scheme supplied. Perhaps you meant https:///index?",
        ),
        (
            {"locust.err": IMPORT_FAILURE_ERR, "bzt.log": NO_HOST["bzt.log"]},
            "RuntimeError: database credentials missing",
        ),
        (
            {"locust.err": "", "locust.out": "", "bzt.out": BZT_CONFIG_ERROR},
            "Internal Error: String format not supported: xyz",
        ),
        (
            {"bzt.log": NO_HOST["bzt.log"]},
            "Child Process Error: Empty results, most likely s (LocustIOExecutor) failed.",
        ),
        (
            {
                "bzt.out": "11:00:00 INFO: Taurus CLI Tool v1.17.2\nTraceback (most recent call last):\n"
                '  File "x.py", line 1, in <module>\n    raise OSError(28, "No space left on device")\n'
                "OSError: [Errno 28] No space left on device\n"
            },
            "OSError: [Errno 28] No space left on device",
        ),
    ],
    ids=[
        "no-host",
        "no-host-stderr-only",
        "relative-url",
        "import-failure",
        "bzt-config",
        "only-bzt-generic",
        "bzt-crash",
    ],
)
def test_the_first_meaningful_error_is_picked(tmp_path, files, expected):
    hint = first_error(artifacts(tmp_path, files))
    assert hint == expected
    assert not hint.startswith(("raise ", "Traceback", 'File "'))


def test_no_error_at_all_points_at_the_log(tmp_path):
    folder = artifacts(tmp_path, {"bzt.out": "11:00:00 INFO: Taurus CLI Tool v1.17.2\n", "locust.err": ""})
    assert first_error(folder) is None
    runner = BztRunner(plan=RunPlan(configs=[], cwd=tmp_path, gates=0), artifacts_dir=folder)
    assert runner.failure_hint() == f"see {folder}/bzt.log"


def test_runner_hint_is_the_tools_line_never_a_traceback_tail(tmp_path):
    """Before: the last line with "Error" in bzt.log - `raise ToolError(message, diagnostics)`."""
    runner = BztRunner(plan=RunPlan(configs=[], cwd=tmp_path, gates=1), artifacts_dir=artifacts(tmp_path, NO_HOST))
    assert runner.failure_hint().startswith("You must specify the base host.")


def test_only_the_head_of_a_huge_log_is_read(tmp_path):
    noise = "[2026-11-23 11:15:36,140] vm/INFO/locust.runners: spam\n" * (READ_LIMIT_BYTES // 50)
    late = "[2026-11-23 11:16:36,140] vm/ERROR/locust.runners: too late to be the first\n"
    folder = artifacts(tmp_path, {"locust.log": noise + late, "bzt.out": BZT_CONFIG_ERROR})
    assert first_error(folder) == "Internal Error: String format not supported: xyz"


JMETER_BAD_PLAN = """\
WARN StatusConsoleListener The use of package scanning to locate plugins is deprecated
Error in NonGUIDriver java.lang.IllegalArgumentException: Problem loading XML from:'/w/runs/1/scenario/modified_test.jmx'. 
Cause:
CannotResolveClassException: NoSuchTimerAnywhere

 Detail:com.thoughtworks.xstream.converters.ConversionException: 
---- Debugging information ----
cause-exception     : com.thoughtworks.xstream.converters.ConversionException
path                : /jmeterTestPlan/hashTree/hashTree/hashTree[2]/NoSuchTimerAnywhere
line number         : 54
version             : 5.6.3
"""


def test_jmeters_own_words_for_a_plan_it_cannot_load(tmp_path):
    (tmp_path / "jmeter.out").write_text(JMETER_BAD_PLAN)
    (tmp_path / "bzt.out").write_text("08:44:05 ERROR: Child Process Error: JMeter exited with non-zero code: 1\n")
    assert first_error(tmp_path) == (
        "JMeter could not load the plan: CannotResolveClassException: NoSuchTimerAnywhere (line 54 of the plan)"
    )
