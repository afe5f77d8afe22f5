"""`salvo …`: the entrypoints of both images and the operator's verbs.

Errors a user can cause end as one line on stderr and the documented exit code;
a traceback is shown only with SALVO_LOG_LEVEL=DEBUG.
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
import sys
from collections.abc import Callable
from pathlib import Path

from salvo import __version__
from salvo.common import logs
from salvo.common.errors import ConfigError, ExitCode, SalvoError
from salvo.common.identifiers import check_identifier
from salvo.common.settings import CommonSettings, SettingsT, describe_variables, load
from salvo.common.signals import Interrupted, exit_code_for_signal
from salvo.controller.launch_settings import LaunchMode
from salvo.controller.settings import ControllerSettings
from salvo.executor.settings import ExecutorSettings

log = logging.getLogger("salvo")

SETTINGS_MODELS: dict[str, type[CommonSettings]] = {"executor": ExecutorSettings, "controller": ControllerSettings}


def _install_signal_handlers(on_signal: Callable[[int], None]) -> None:
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda number, _frame: on_signal(number))


def cmd_executor(_: argparse.Namespace) -> int:
    """Production wiring of the executor: real sockets, bzt, S3, the system clock."""
    from salvo.common.clock import SystemClock
    from salvo.common.s3 import S3Store
    from salvo.common.transport import announce_key_mode
    from salvo.executor.presence.identity import ecs_task_metadata, executor_id, executor_region
    from salvo.executor.presence.link import ExecutorSockets, check_can_listen
    from salvo.executor.run.arming import ScenarioPreparer
    from salvo.executor.run.executor import Executor
    from salvo.executor.run.runner import BztRunner
    from salvo.executor.run.workdir import WorkDir

    settings = _side_settings(ExecutorSettings, executor=True)
    logs.configure(settings, role="executor")
    keys = settings.link_keys()  # no key material (and no SALVO_INSECURE=true): exit 2 before anything else
    announce_key_mode(settings.key_mode(), "executor")
    store = S3Store(retry_seconds=settings.s3_retry_seconds)
    check_can_listen(
        settings.bind_host, {"SALVO_COMMAND_PORT": settings.command_port, "SALVO_STATUS_PORT": settings.status_port}
    )
    metadata = ecs_task_metadata()  # read once: who this task is, and where it runs
    executor = Executor(
        settings,
        executor_id=executor_id(settings, metadata=metadata),
        region=executor_region(settings, metadata, dict(os.environ)),
        preparer=ScenarioPreparer(settings, store),
        runner_factory=BztRunner,
        link_factory=lambda: ExecutorSockets(settings.bind_host, settings.command_port, settings.status_port, keys),
        store=store,
        clock=SystemClock(),
        workdir=WorkDir(settings.work_dir),
    )
    _install_signal_handlers(executor.interrupt)
    return executor.run()


def _controller_parts(settings: ControllerSettings) -> dict:
    """The controller's production parts: ZeroMQ links, TCP probes, the configured targets."""
    from salvo.common.clock import SystemClock
    from salvo.common.limits import ensure_open_files
    from salvo.controller.discovery import TcpProber, resolve_targets
    from salvo.controller.link import ControllerLink

    keys = settings.link_keys()  # no key material (and no SALVO_INSECURE=true): exit 2 before anything else
    launching = settings.launch is LaunchMode.ECS
    if not launching:  # a launched fleet's addresses come from DescribeTasks, not from a scan
        resolve_targets(settings)  # a malformed or oversized range is exit 2 before anything else
    ensure_open_files(2 * settings.max_executors + 256, "SALVO_MAX_EXECUTORS")
    return {
        "link_factory": lambda: ControllerLink(keys, settings.command_port, settings.status_port),
        "prober": TcpProber(settings.status_port, settings.scan_concurrency, settings.probe_timeout),
        "targets": lambda: resolve_targets(settings),
        "clock": SystemClock(),
    }


def _launcher_factory(settings: ControllerSettings, clock):
    """SALVO_LAUNCH=ecs: the controller starts (and stops) its executor tasks; otherwise None."""
    if settings.launch is not LaunchMode.ECS:
        return None
    from salvo.controller.launch import ecs_launcher

    return lambda run_id: ecs_launcher(settings, run_id, clock)


def cmd_controller(_: argparse.Namespace) -> int:
    """Production wiring of the controller."""
    from salvo.common.s3 import S3Store
    from salvo.common.transport import announce_key_mode
    from salvo.controller.controller import Controller

    settings = _side_settings(ControllerSettings)
    logs.configure(settings, role="controller")
    parts = _controller_parts(settings)
    announce_key_mode(settings.key_mode(), "controller")
    controller = Controller(
        settings,
        store=S3Store(retry_seconds=settings.s3_retry_seconds),
        launcher_factory=_launcher_factory(settings, parts["clock"]),
        **parts,
    )
    _install_signal_handlers(controller.interrupt)
    return controller.run()


def _side_settings(model: type[SettingsT], *, executor: bool = False) -> SettingsT:
    """A side's settings, after refusing SALVO_* variables that are nobody's setting (exit 2)."""
    import os

    from salvo.common.environment import check_environment, setting_names

    check_environment(os.environ, setting_names(SETTINGS_MODELS.values()), executor=executor)
    return load(model)


def _bastion_settings(extra: dict[str, str] | None = None) -> ControllerSettings:
    """The bastion verbs need the controller's scan settings but not SALVO_RESULTS_URI."""
    import os

    from salvo.common.environment import check_environment, setting_names

    check_environment(os.environ, setting_names(SETTINGS_MODELS.values()))
    environ = {**os.environ, **(extra or {})}
    environ.setdefault("SALVO_RESULTS_URI", "s3://unused-by-this-verb/")
    settings = load(ControllerSettings, environ)
    logs.configure(settings, role="salvo")
    return settings


def _scan_once(settings: ControllerSettings):
    """One discovery pass over the configured targets; returns (link, fleet): close the link."""
    from salvo.controller.discovery import discover

    parts = _controller_parts(settings)
    link = parts["link_factory"]()
    try:
        return link, discover(link, parts["prober"], parts["targets"], settings, parts["clock"], once=True)
    except BaseException:
        link.close()
        raise


def cmd_discover(_: argparse.Namespace) -> int:
    link, fleet = _scan_once(_bastion_settings())
    link.close()
    print(f"{'address':<16} {'executor':<28} {'state':<10} {'version':<8} {'sha256':<14} note")
    for found in sorted(
        fleet.found.values(), key=lambda f: tuple(int(p) if p.isdigit() else 0 for p in f.host.split("."))
    ):
        status = found.status
        print(
            f"{found.host:<16} {(status.executor_id if status else '-'):<28} "
            f"{(status.state.value if status else '-'):<10} {(status.version if status else '-'):<8} "
            f"{((status.scenario_sha256 or '-')[:12] if status else '-'):<14} {found.seen.value}"
        )
    return 0


def cmd_stop(args: argparse.Namespace) -> int:
    from salvo.common.protocol import Stop

    link, fleet = _scan_once(_bastion_settings())
    try:
        hosts = [f.host for f in fleet.found.values() if f.status is not None]
        subscribed = link.wait_subscribed(len(hosts), timeout=5)
        link.publish(Stop(run_id=args.run_id, reason="salvo stop"))
        print(f"stop sent to {subscribed} of {len(hosts)} executor(s)")
    finally:
        link.close()
    return 0


def cmd_launch(args: argparse.Namespace) -> int:
    """Start the controller task (it launches its own executors), follow its log, exit with its exit code."""
    import boto3

    from salvo.common.clock import SystemClock
    from salvo.common.environment import is_key_material, setting_names
    from salvo.controller.controller import new_run_id
    from salvo.controller.remote_run import RemoteRun, launch_and_follow

    extra = {}
    known = setting_names([ControllerSettings])
    for item in args.env:
        name, equals, value = item.partition("=")
        if not equals or name not in known:
            raise ConfigError(
                f"--env {item}: expected NAME=VALUE naming a controller setting (salvo config controller)"
            )
        if is_key_material(name):
            raise ConfigError(
                f"--env {name}: key material never goes into task overrides (DescribeTasks shows them); "
                "the task definition takes it from Secrets Manager"
            )
        extra[name] = value
    # `is not None`: --count 0 must be refused as a count, not fall back to SALVO_LAUNCH_COUNT and launch that many
    count = {"SALVO_LAUNCH_COUNT": str(args.count)} if args.count is not None else {}
    overrides = {"SALVO_LAUNCH": "ecs", **count, **extra}
    settings = _bastion_settings(overrides)  # checked here as the controller will: a mistake is exit 2 before RunTask
    clock = SystemClock()
    run_id = args.run_id or settings.run_id or new_run_id(clock)
    remote = RemoteRun(
        boto3.client("ecs"),
        boto3.client("logs"),
        settings,
        run_id,
        args.task_definition,
        args.container,
        clock,
        extra_environment=extra,
        controller_security_groups=tuple(group for group in (args.security_groups or "").split(",") if group),
    )
    return launch_and_follow(remote, _install_signal_handlers, follow=not args.no_wait)


def cmd_report(args: argparse.Namespace) -> int:
    from salvo.common.s3 import S3Store
    from salvo.controller.rereport import rereport

    settings = _bastion_settings()  # SALVO_MAX_SUMMARY_BYTES, validated as the controller does
    store = S3Store(retry_seconds=settings.s3_retry_seconds)
    return rereport(args.uri, store, criteria=args.criteria, max_summary_bytes=settings.max_summary_bytes)


def cmd_compare(args: argparse.Namespace) -> int:
    from functools import cache

    from salvo.common.s3 import S3Store
    from salvo.controller.compare import compare_runs
    from salvo.controller.regression import RegressionSyntaxError, parse

    settings = _bastion_settings()  # SALVO_REGRESSION, validated as the controller does
    thresholds = settings.regression
    if args.regression is not None:
        try:
            thresholds = parse(args.regression)
        except RegressionSyntaxError as exc:
            raise ConfigError(f"--regression: {exc}") from None
    store = cache(lambda: S3Store(retry_seconds=settings.s3_retry_seconds))  # made only for an s3:// report
    return compare_runs(args.base, args.new, thresholds, store)


def cmd_runs(args: argparse.Namespace) -> int:
    from salvo.common.s3 import S3Store
    from salvo.controller.runs import list_runs

    logs.configure(None, role="salvo")
    return list_runs(args.uri, S3Store(), limit=args.limit)


def cmd_upload(args: argparse.Namespace) -> int:
    from salvo.common.s3 import S3Store
    from salvo.upload import validate_and_upload

    logs.configure(None, role="salvo")
    return validate_and_upload(args.path, args.uri, S3Store(), entry=args.entry)


def cmd_health(_: argparse.Namespace) -> int:
    """The health check with the settings checked first (the probes run `salvo-health`, which is lighter)."""
    from salvo.executor.presence import health

    settings = load(CommonSettings)
    healthy, reason = health.check(settings.work_dir)
    print(reason)
    return 0 if healthy else 1


def cmd_keygen(args: argparse.Namespace) -> int:
    """Two blocks of NAME=value lines, one per role (or one role's, as lines or JSON; or a bare fleet key)."""
    import json

    from salvo.common.keys import generate_fleet_key, keygen_blocks, read_keygen_blocks

    if args.fleet_key:
        print(generate_fleet_key())  # bare, for a SALVO_FLEET_KEY_FILE
        return 0
    if args.source is not None:
        try:
            blocks = read_keygen_blocks(args.source.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError) as exc:
            raise ConfigError(
                f"--from {args.source}: cannot read it: {getattr(exc, 'strerror', None) or exc}"
            ) from None
        except ValueError as exc:
            raise ConfigError(f"--from {args.source}: {exc}") from None
    else:
        blocks = keygen_blocks()
    roles = [args.role] if args.role else list(blocks)
    if args.format == "json":  # one object per role: a Secrets Manager secret ECS reads by JSON key
        chosen = {role: dict(blocks[role]) for role in roles}
        print(json.dumps(chosen[roles[0]] if args.role else chosen, indent=2))
        return 0
    for index, role in enumerate(roles):
        if index:
            print()
        print(f"# {role}")
        for name, value in blocks[role]:
            print(f"{name}={value}")
    return 0


def cmd_config(args: argparse.Namespace) -> int:
    rows = describe_variables(SETTINGS_MODELS[args.role])
    width = max(len(name) for name, _, _ in rows)
    default_width = min(24, max(len(default) for _, default, _ in rows))
    print(f"{'variable':<{width}}  {'default':<{default_width}}  meaning")
    for name, default, meaning in rows:
        print(f"{name:<{width}}  {default:<{default_width}}  {meaning}")
    return 0


def _run_id(value: str) -> str:
    """A run id argument, by the rule of SALVO_RUN_ID (a Stop naming anything else would not be sent)."""
    try:
        return check_identifier(value)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="salvo", description="Salvo distributed load testing.")
    parser.add_argument("--version", action="version", version=f"salvo {__version__}")
    verbs = parser.add_subparsers(dest="verb", required=True, metavar="VERB")
    verbs.add_parser("executor", help="run the executor entrypoint (fetch, arm, wait, load, upload)").set_defaults(
        func=cmd_executor
    )
    verbs.add_parser(
        "controller", help="run the controller entrypoint (discover, start, watch, merge, verdict)"
    ).set_defaults(func=cmd_controller)
    verbs.add_parser("discover", help="list the executors found and their state").set_defaults(func=cmd_discover)
    stop = verbs.add_parser("stop", help="broadcast a stop to every executor found")
    stop.add_argument("--run-id", default=None, type=_run_id, help="only this run (default: whatever runs)")
    stop.set_defaults(func=cmd_stop)
    launch = verbs.add_parser(
        "launch",
        help="start the controller task on ECS (it launches its executors), follow its log, exit with its code",
        description="Reads SALVO_LAUNCH_CLUSTER, SALVO_LAUNCH_TASK_DEFINITION (the executors'), SALVO_LAUNCH_SUBNETS, "
        "SALVO_LAUNCH_SECURITY_GROUPS, SALVO_LAUNCH_CAPACITY, SALVO_LAUNCH_ASSIGN_PUBLIC_IP, SALVO_LAUNCH_REGIONS "
        "and passes them to the controller task with SALVO_LAUNCH=ecs (docs/launch.md). Exit code: the "
        "controller's (0 pass, 1 criteria failed, 2 a setting, 3 fleet not started, 4 executors lost, 143 stopped); "
        "3 also when the controller task itself could not start.",
    )
    launch.add_argument("--count", type=int, default=None, help="executor tasks (default SALVO_LAUNCH_COUNT)")
    launch.add_argument("--run-id", default=None, type=_run_id, help="the run's id (default: from the time)")
    launch.add_argument(
        "--task-definition",
        default="salvo-controller",
        help="the controller's task definition (default salvo-controller, its latest revision)",
    )
    launch.add_argument(
        "--container", default="controller", help="the controller's container name (default controller)"
    )
    launch.add_argument(
        "--env",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="another controller setting for this run, e.g. --env 'SALVO_CRITERIA=p95<300ms' (repeatable)",
    )
    launch.add_argument(
        "--security-groups",
        default=None,
        metavar="SG[,SG]",
        help="the controller task's own security groups (default: the executors', SALVO_LAUNCH_SECURITY_GROUPS); "
        "the CloudFormation stack's executors admit only its ControllerSecurityGroup",
    )
    launch.add_argument("--no-wait", action="store_true", help="print the controller task's ARN and return at once")
    launch.set_defaults(func=cmd_launch)
    report = verbs.add_parser("report", help="re-merge a past run from S3 and print its table")
    report.add_argument("uri", help="s3://bucket/prefix/run_id/")
    report.add_argument("--criteria", default=None, help="evaluate these criteria too")
    report.set_defaults(func=cmd_report)
    compare = verbs.add_parser(
        "compare",
        help="per-label diff of two runs; exit 1 past the SALVO_REGRESSION thresholds",
        description="BASE and NEW are each a run prefix (s3://bucket/results/RUN_ID/), its report.json, "
        "or a local report.json or the folder holding it (SALVO_REPORT_DIR).",
    )
    compare.add_argument("base", help="the baseline run")
    compare.add_argument("new", help="the run to judge against it")
    compare.add_argument("--regression", default=None, help="thresholds instead of SALVO_REGRESSION, e.g. 'p95+10%%'")
    compare.set_defaults(func=cmd_compare)
    runs = verbs.add_parser("runs", help="list the past runs under a results prefix, newest first")
    runs.add_argument("uri", help="s3://bucket/results/ (SALVO_RESULTS_URI)")
    runs.add_argument("--limit", type=int, default=20, help="show at most this many runs (default 20)")
    runs.set_defaults(func=cmd_runs)
    upload = verbs.add_parser("upload", help="validate a scenario as an executor would, then upload it")
    upload.add_argument("path")
    upload.add_argument("uri", help="s3://bucket/key")
    upload.add_argument("--entry", default=None, help="entry file inside a .zip bundle")
    upload.set_defaults(func=cmd_upload)
    verbs.add_parser("health", help="exit 0 when the local executor is armed or running").set_defaults(func=cmd_health)
    keygen = verbs.add_parser(
        "keygen",
        help="print new key material: a '# controller' and an '# executors' block of NAME=value lines",
        description="Prints a fresh CURVE key pair per role as two blocks of NAME=value lines (for Secrets Manager, "
        "a Kubernetes Secret or an env file). The controller block never goes to an executor.",
    )
    keygen.add_argument(
        "--role",
        choices=["controller", "executors"],
        default=None,
        help="print only this role's block (with --from: of an earlier keygen's output)",
    )
    keygen.add_argument(
        "--from",
        dest="source",
        type=Path,
        default=None,
        metavar="FILE",
        help="read the pair from an earlier `salvo keygen` output instead of making a new one",
    )
    keygen.add_argument(
        "--format",
        choices=["env", "json"],
        default="env",
        help="env: NAME=value lines (default); json: an object of them, e.g. for Secrets Manager",
    )
    keygen.add_argument(
        "--fleet-key",
        action="store_true",
        help="print a bare SALVO_FLEET_KEY instead (rehearsal: one secret for both roles)",
    )
    keygen.set_defaults(func=cmd_keygen)
    config = verbs.add_parser("config", help="list every variable, its default and meaning")
    config.add_argument("role", choices=sorted(SETTINGS_MODELS))
    config.set_defaults(func=cmd_config)
    return parser


def _without_program_name(argv: list[str]) -> list[str]:
    """`docker run IMAGE salvo config executor` reaches the `salvo` entrypoint as `salvo salvo …`."""
    return argv[1:] if argv[:1] == ["salvo"] else argv


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(_without_program_name(sys.argv[1:] if argv is None else list(argv)))
    func: Callable[[argparse.Namespace], int] = args.func
    try:
        return func(args)
    except ConfigError as exc:
        for problem in exc.problems:
            print(f"salvo: configuration error: {problem}", file=sys.stderr)
        return int(ExitCode.CONFIG)
    except SalvoError as exc:
        print(f"salvo: {exc}", file=sys.stderr)
        return int(exc.exit_code)
    except KeyboardInterrupt:
        return int(ExitCode.SIGINT)
    except Interrupted as exc:  # a signal the side's own handling did not turn into its exit code
        return int(exit_code_for_signal(exc.signum))
    except Exception as exc:  # a bug: one line, the traceback only when asked for
        log.debug("unexpected error", exc_info=True)
        print(
            f"salvo: internal error: {type(exc).__name__}: {exc} (SALVO_LOG_LEVEL=DEBUG shows the traceback)",
            file=sys.stderr,
        )
        return int(ExitCode.FAILED)


if __name__ == "__main__":
    sys.exit(main())
