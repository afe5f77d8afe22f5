"""Who this executor is: SALVO_EXECUTOR_ID, else the ECS task id, else the hostname (made unique per host).

Two executors on one host differ in their bind address or ports (they could not
both listen otherwise), so those are added to the hostname when they are not
the defaults: the default id never names two processes.
"""

from __future__ import annotations

import json
import logging
import os
import re
import socket
import urllib.request

from salvo.common.identifiers import MAX_IDENTIFIER_CHARS

log = logging.getLogger(__name__)

ECS_METADATA_ENV = "ECS_CONTAINER_METADATA_URI_V4"


DEFAULT_BIND_HOST = "0.0.0.0"
DEFAULT_PORTS = (50000, 50001)


def executor_id(settings, timeout: float = 2.0) -> str:
    """SALVO_EXECUTOR_ID, else the ECS task id, else hostname[-bind address][-command port-status port]."""
    if settings.executor_id:
        return settings.executor_id
    task_id = ecs_task_id(timeout)
    if task_id:
        return task_id
    parts = [socket.gethostname()]
    if settings.bind_host != DEFAULT_BIND_HOST:
        parts.append(settings.bind_host)
    if (settings.command_port, settings.status_port) != DEFAULT_PORTS:
        parts += [str(settings.command_port), str(settings.status_port)]
    return _sanitise("-".join(parts))


def ecs_task_id(timeout: float = 2.0) -> str | None:
    """The task id from the ECS task metadata endpoint v4, or None outside ECS."""
    base = os.environ.get(ECS_METADATA_ENV)
    if not base:
        return None
    try:
        with urllib.request.urlopen(base.rstrip("/") + "/task", timeout=timeout) as response:
            task_arn = json.load(response).get("TaskARN", "")
    except (OSError, ValueError) as exc:
        log.warning("could not read the ECS task metadata at %s (%s); using the hostname", base, exc)
        return None
    task_id = task_arn.rsplit("/", 1)[-1]
    return _sanitise(task_id) if task_id else None


def _sanitise(name: str) -> str:
    """`name` made to follow the id rule (salvo.common.identifiers): its fleet's Start must be able to name it."""
    cleaned = re.sub(r"[^A-Za-z0-9._\-]", "-", name).lstrip("-._")[:MAX_IDENTIFIER_CHARS].rstrip("-.")
    return cleaned or "executor"
