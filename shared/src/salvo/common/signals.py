"""SIGTERM/SIGINT as both sides treat them: a graceful stop, and the exit codes 143/130."""

from __future__ import annotations

import signal

from salvo.common.errors import ExitCode


class Interrupted(BaseException):
    """A signal arrived before any load started: nothing ran, nothing to stop or upload.

    A BaseException, like KeyboardInterrupt: the handler raises it wherever the main thread is, and code that
    catches Exception (logging's emit among it, which would print a traceback and carry on) must let it through."""

    def __init__(self, signum: int):
        super().__init__(signal.Signals(signum).name)
        self.signum = signum


def exit_code_for_signal(signum: int) -> ExitCode:
    return ExitCode.SIGINT if signum == signal.SIGINT else ExitCode.SIGTERM
