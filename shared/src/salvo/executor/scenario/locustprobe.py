"""Import a locustfile in a fresh interpreter, as the run will, and report its User classes and rate shape.

A fresh interpreter because locust monkey-patches (gevent) whoever imports it.
The file is loaded exactly as the run's wrapper loads it
(`salvo.executor.tool.locust_plugin.load_user_locustfile`), and the users are those
locust itself would run, each with its `host` attribute. A rate shape (salvo.rate.RateShape)
is evaluated there for the run's first SHAPE_CHECK_SECONDS, with the same code the run uses
(salvo.common.arrivals.shape_counts): one that raises or answers no rate is refused while
arming, in one line, rather than mid-run.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from salvo.common.environment import scenario_environment
from salvo.common.errors import ScenarioError
from salvo.executor.tool.gate import GATE_SOCKET_ENV
from salvo.executor.tool.locust_recorder import SAMPLES_DIR_ENV

__all__ = ["SHAPE_CHECK_SECONDS", "LocustfileFacts", "UserClass", "check_locustfile", "probe_locustfile"]

SHAPE_CHECK_SECONDS = 60  # a rate shape's first seconds evaluated while arming: cheap, and past most ramps' start

_MARK = "@@salvo-locustfile-probe@@ "
_PROBE = r"""
import json, sys, traceback
MARK = %(mark)r
def report(**result):
    sys.stdout.write("\n" + MARK + json.dumps(result) + "\n")
    sys.stdout.flush()
try:
    from locust import FastHttpUser, HttpUser, User
    from salvo.common.arrivals import shape_counts, RateShapeError
    from salvo.executor.tool.locust_plugin import load_user_locustfile
    from salvo.common.arrivals import rate_shapes
except BaseException as exc:
    report(setup="%%s: %%s" %% (type(exc).__name__, exc))
    sys.exit(3)
path = sys.argv[1]
try:
    namespace = load_user_locustfile(path)
except SystemExit as exc:
    report(error="called sys.exit(%%r) while being imported" %% (exc.code,))
    sys.exit(1)
except BaseException as exc:
    message = "".join(traceback.format_exception_only(type(exc), exc)).strip().splitlines()[-1]
    lines = [f.lineno for f in traceback.extract_tb(exc.__traceback__) if f.filename == path]
    if isinstance(exc, SyntaxError) and exc.filename == path:
        lines.append(exc.lineno)
    report(error=message, line=lines[-1] if lines else None)
    sys.exit(1)
users = []
for name, value in namespace.items():
    if isinstance(value, type) and issubclass(value, User) and value.abstract is False:
        host = getattr(value, "host", None)
        users.append({
            "name": name,
            "host": host if host is None or isinstance(host, str) else repr(host),
            "http": issubclass(value, (HttpUser, FastHttpUser)),
            "tasks": bool(value.tasks) or value.run is not User.run,
        })
shapes = rate_shapes(namespace)
shape_error = None
if len(shapes) > 1:
    shape_error = "defines %%d rate shapes (%%s): keep one" %% (len(shapes), ", ".join(s.__name__ for s in shapes))
elif shapes:
    try:
        counts = shape_counts(shapes[0]().rate)
        for _ in range(%(seconds)d):
            if next(counts, None) is None:
                break
    except RateShapeError as exc:
        shape_error = "rate shape %%s: %%s" %% (shapes[0].__name__, exc)
    except Exception as exc:
        shape_error = "rate shape %%s cannot be created: %%s: %%s" %% (shapes[0].__name__, type(exc).__name__, exc)
report(users=users, rate_shape=shapes[0].__name__ if len(shapes) == 1 else None, rate_shape_error=shape_error)
""" % {"mark": _MARK, "seconds": SHAPE_CHECK_SECONDS}  # noqa: UP031 -- the probe is Python full of braces: % leaves them alone


@dataclass(frozen=True)
class UserClass:
    name: str
    host: str | None  # its `host` attribute
    http: bool  # an HttpUser or FastHttpUser: locust refuses to start one without a host

    @property
    def has_host(self) -> bool:
        # "" passes locust's own check, but then every relative URL fails: it is no host either
        return bool(self.host and self.host.strip())


@dataclass(frozen=True)
class LocustfileFacts:
    """What the probe found in a locustfile."""

    users: list[UserClass]  # its runnable User classes, in definition order
    rate_shape: str | None  # the name of its rate shape (salvo.rate.RateShape), checked on its first seconds


def probe_locustfile(
    path: Path, *, cwd: Path | None = None, python: str = sys.executable, timeout: float = 60
) -> LocustfileFacts:
    """The locustfile's runnable User classes, in definition order, and its rate shape.

    The interpreter runs in `cwd` (default: the locustfile's folder; a Taurus
    config's scripts run in the config's folder) with the locustfile's folder
    first on sys.path. Raises ScenarioError when the file is missing, fails to
    import (the exception's last line and the file's line), defines no User
    class or one without tasks, defines several rate shapes or one whose first
    SHAPE_CHECK_SECONDS raise or answer no rate, or takes longer than `timeout` seconds.
    """
    name = path.name
    if not path.is_file():
        raise ScenarioError(f"locustfile {name} does not exist in the scenario")
    if name == "locust.py":
        raise ScenarioError("locust.py: a locustfile may not be named locust.py (it hides the locust package)")
    result = _run(path, python, timeout, cwd or path.parent)
    if "setup" in result:
        raise ScenarioError(f"{name}: cannot be checked: {python} cannot import locust and salvo: {result['setup']}")
    if "error" in result:
        where = f" (line {result['line']})" if result.get("line") else ""
        raise ScenarioError(f"{name}: cannot be imported: {result['error']}{where}")
    users = result.get("users") or []
    if not users:
        raise ScenarioError(
            f"{name} defines no locust User class (a subclass of HttpUser, FastHttpUser or User with tasks)"
        )
    for user in users:
        if not user["tasks"]:
            raise ScenarioError(
                f"{name}: User class {user['name']} has no tasks: add @task methods or set tasks, "
                "or set abstract = True if it is only a base class"
            )
    if result.get("rate_shape_error"):
        raise ScenarioError(f"{name}: {result['rate_shape_error']}")
    shape = result.get("rate_shape")
    return LocustfileFacts(
        [UserClass(u["name"], u["host"], u["http"]) for u in users], shape if isinstance(shape, str) else None
    )


def check_locustfile(
    path: Path, python: str = sys.executable, timeout: float = 60, *, cwd: Path | None = None
) -> list[str]:
    """The names of the locustfile's User classes; see probe_locustfile."""
    return [user.name for user in probe_locustfile(path, cwd=cwd, python=python, timeout=timeout).users]


def _run(path: Path, python: str, timeout: float, cwd: Path) -> dict[str, Any]:
    env = {k: v for k, v in scenario_environment(os.environ).items() if k not in (GATE_SOCKET_ENV, SAMPLES_DIR_ENV)}
    env["PYTHONDONTWRITEBYTECODE"] = "1"  # leave the scenario folder as it was
    process = subprocess.Popen(
        [python, "-c", _PROBE, str(path.resolve())],
        cwd=cwd,
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        errors="replace",
        start_new_session=True,
    )
    try:
        stdout, stderr = process.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)  # its own session: children it started go too
        process.communicate()
        raise ScenarioError(f"{path.name}: importing it took longer than {timeout:g} s") from None
    for line in reversed(stdout.splitlines()):
        if line.startswith(_MARK):
            try:
                result = json.loads(line[len(_MARK) :])
            except ValueError:
                continue  # the locustfile printed something that looks like ours
            if isinstance(result, dict):
                return result
    lines = [line for line in stderr.splitlines() if line.strip()]
    return {"error": lines[-1] if lines else f"the import ended the interpreter (exit code {process.returncode})"}
