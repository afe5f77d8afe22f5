"""`salvo …`: the entrypoints of both images and the operator's verbs.

Errors a user can cause end as one line on stderr and the documented exit code;
a traceback is shown only with SALVO_LOG_LEVEL=DEBUG.
"""

from __future__ import annotations

import argparse
import logging
import sys
from typing import Callable

from salvo import __version__, logs
from salvo.errors import ConfigError, ExitCode, SalvoError
from salvo.settings import CommonSettings, ExecutorSettings, describe_variables, load

log = logging.getLogger("salvo")

SETTINGS_MODELS: dict[str, type[CommonSettings]] = {"executor": ExecutorSettings}


def cmd_executor(_: argparse.Namespace) -> int:
    from salvo.executor import Executor

    settings = load(ExecutorSettings)
    logs.configure(settings, role="executor")
    if settings.fleet_key is None:
        log.warning("SALVO_FLEET_KEY is not set: control links are NOT authenticated or encrypted")
    return Executor(settings).run()


def cmd_health(_: argparse.Namespace) -> int:
    from salvo.statefile import StateFile

    settings = load(CommonSettings)
    healthy, reason = StateFile(settings.work_dir / "state.json").health()
    print(reason)
    return 0 if healthy else 1


def cmd_keygen(_: argparse.Namespace) -> int:
    from salvo.keys import generate_fleet_key

    print(generate_fleet_key())
    return 0


def cmd_config(args: argparse.Namespace) -> int:
    rows = describe_variables(SETTINGS_MODELS[args.role])
    width = max(len(name) for name, _, _ in rows)
    default_width = min(24, max(len(default) for _, default, _ in rows))
    print(f"{'variable':<{width}}  {'default':<{default_width}}  meaning")
    for name, default, meaning in rows:
        print(f"{name:<{width}}  {default:<{default_width}}  {meaning}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="salvo", description="Salvo distributed load testing.")
    parser.add_argument("--version", action="version", version=f"salvo {__version__}")
    verbs = parser.add_subparsers(dest="verb", required=True, metavar="VERB")
    verbs.add_parser("executor", help="run the executor entrypoint (fetch, arm, wait, load, upload)").set_defaults(
        func=cmd_executor
    )
    verbs.add_parser("health", help="exit 0 when the local executor is armed or running").set_defaults(
        func=cmd_health
    )
    verbs.add_parser("keygen", help="print a new random SALVO_FLEET_KEY").set_defaults(func=cmd_keygen)
    config = verbs.add_parser("config", help="list every variable, its default and meaning")
    config.add_argument("role", choices=sorted(SETTINGS_MODELS))
    config.set_defaults(func=cmd_config)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
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
    except Exception as exc:  # a bug: one line, the traceback only when asked for
        log.debug("unexpected error", exc_info=True)
        print(f"salvo: internal error: {type(exc).__name__}: {exc} (SALVO_LOG_LEVEL=DEBUG shows the traceback)", file=sys.stderr)
        return int(ExitCode.FAILED)


if __name__ == "__main__":
    sys.exit(main())
