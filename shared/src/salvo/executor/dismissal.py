"""SALVO_DISMISS_FLEET, the executor's side: a Dismiss from the controller ends service mode.

The executor exits 0 instead of re-arming, after a last Status with `leaving` set: the
controller waits for that word, so when it ends no executor still needs S3 or the target.
"""

from __future__ import annotations

import logging

from salvo.common.errors import ExitCode
from salvo.executor.presence.presence import Presence

log = logging.getLogger("salvo.executor.run.executor")


class Dismissed(Exception):
    """The controller dismissed the fleet while this executor waited for a start: exit 0."""


def leave(presence: Presence, why: str) -> int:
    log.info("%s", why)
    presence.push(presence.status().model_copy(update={"leaving": True}))
    return int(ExitCode.OK)
