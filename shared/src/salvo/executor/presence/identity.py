"""Who and where this executor is: SALVO_EXECUTOR_ID, else the ECS task id, else the hostname (made unique per
host); and its region: from the ECS task metadata, else SALVO_REGION, else AWS_REGION, else unknown.

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

from salvo.common.defaults import ANY_ADDRESS, COMMAND_PORT, STATUS_PORT
from salvo.common.identifiers import MAX_IDENTIFIER_CHARS
from salvo.common.regions import check_region, region_of_zone

log = logging.getLogger(__name__)

ECS_METADATA_ENV = "ECS_CONTAINER_METADATA_URI_V4"


DEFAULT_PORTS = (COMMAND_PORT, STATUS_PORT)


def executor_id(settings, timeout: float = 2.0, metadata: dict | None = None) -> str:
    """SALVO_EXECUTOR_ID, else the ECS task id, else hostname[-bind address][-command port-status port].

    `metadata`: the ECS task metadata already read (ecs_task_metadata); read here when not given."""
    if settings.executor_id:
        return settings.executor_id
    task_id = task_id_of(metadata if metadata is not None else ecs_task_metadata(timeout))
    if task_id:
        return task_id
    parts = [socket.gethostname()]
    if settings.bind_host != ANY_ADDRESS:
        parts.append(settings.bind_host)
    if (settings.command_port, settings.status_port) != DEFAULT_PORTS:
        parts += [str(settings.command_port), str(settings.status_port)]
    return _sanitise("-".join(parts))


def executor_region(settings, metadata: dict, environ: dict[str, str]) -> str | None:
    """The task metadata's region (its ARN's, else its availability zone's), else SALVO_REGION, else AWS_REGION.

    The metadata comes first: it is where the task really runs, whatever a copied task definition says."""
    region = region_of_task(metadata) or settings.region
    if region:
        return region
    aws_region = environ.get("AWS_REGION", "").strip()
    try:
        return check_region(aws_region) if aws_region else None
    except ValueError:
        log.warning("AWS_REGION=%r is no region name; this executor's region is unknown", aws_region[:40])
        return None


def ecs_task_metadata(timeout: float = 2.0) -> dict:
    """The ECS task metadata (endpoint v4, /task), or {} outside ECS or when it cannot be read."""
    base = os.environ.get(ECS_METADATA_ENV)
    if not base:
        return {}
    try:
        # S310: the URL is ECS's own metadata endpoint, set by the ECS agent in the task's environment
        with urllib.request.urlopen(base.rstrip("/") + "/task", timeout=timeout) as response:  # noqa: S310
            metadata = json.load(response)
    except (OSError, ValueError) as exc:
        log.warning("could not read the ECS task metadata at %s (%s); using the hostname", base, exc)
        return {}
    return metadata if isinstance(metadata, dict) else {}


def ecs_task_id(timeout: float = 2.0) -> str | None:
    """The task id from the ECS task metadata endpoint v4, or None outside ECS."""
    return task_id_of(ecs_task_metadata(timeout))


def task_id_of(metadata: dict) -> str | None:
    task_id = str(metadata.get("TaskARN") or "").rsplit("/", 1)[-1]
    return _sanitise(task_id) if task_id else None


def region_of_task(metadata: dict) -> str | None:
    """arn:aws:ecs:REGION:account:task/... gives the region; else AvailabilityZone (us-east-1a) without its letter."""
    arn = str(metadata.get("TaskARN") or "").split(":")
    candidates = [arn[3]] if len(arn) > 4 and arn[0] == "arn" else []
    zone = region_of_zone(str(metadata.get("AvailabilityZone") or ""))
    candidates += [zone] if zone else []
    for candidate in candidates:
        try:
            return check_region(candidate)
        except ValueError:
            continue
    return None


def _sanitise(name: str) -> str:
    """`name` made to follow the id rule (salvo.common.identifiers): its fleet's Start must be able to name it."""
    cleaned = re.sub(r"[^A-Za-z0-9._\-]", "-", name).lstrip("-._")[:MAX_IDENTIFIER_CHARS].rstrip("-.")
    return cleaned or "executor"
