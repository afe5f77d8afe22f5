"""Finding the fleet: probe addresses, handshake responders, wait until the fleet is complete.

Probes are plain TCP connects to the status port (asyncio, bounded concurrency,
short timeouts); only responders get a ZeroMQ handshake. Discovery repeats until
SALVO_EXPECTED_EXECUTORS are armed or, without it, until no new executor
appeared for SALVO_SETTLE_SECONDS; at SALVO_DISCOVERY_TIMEOUT the quorum
SALVO_MIN_EXECUTORS decides.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import ipaddress
import logging
import socket
import struct
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import Enum

from salvo.common.clock import Clock
from salvo.common.errors import ConfigError, ExitCode, SalvoError
from salvo.common.protocol import ExecutorState, Status
from salvo.controller.parts import FleetLink
from salvo.controller.settings import ControllerSettings
from salvo.controller.targets import TargetSpecError, dlt_hosts, expand, resolve_dns

log = logging.getLogger(__name__)

_SIOCGIFADDR = 0x8915
_SIOCGIFNETMASK = 0x891B


class TooFewExecutors(SalvoError):
    """Fewer executors than the quorum (SALVO_MIN_EXECUTORS, else SALVO_EXPECTED_EXECUTORS) were armed by
    SALVO_DISCOVERY_TIMEOUT; no load was started.

    The message lists who answered and why each is not in the fleet. Check that the
    executors run, reach `armed` (their logs say why not), listen on SALVO_STATUS_PORT
    and hold this fleet's keys, and that SALVO_EXECUTOR_CIDRS (or SALVO_EXECUTOR_DNS)
    covers their addresses; set a lower SALVO_MIN_EXECUTORS to allow a short start.
    """

    exit_code = ExitCode.SCENARIO


class Seen(str, Enum):
    MEMBER = "member"
    NOT_READY = "not ready"
    AUTH_FAILED = "authentication failed"
    NO_ANSWER = "no handshake answer"
    MISMATCH = "left out (differs from the majority)"
    CLOCK = "left out (clock)"


@dataclass
class Found:
    host: str
    seen: Seen
    status: Status | None = None
    note: str = ""

    def describe(self) -> str:
        if self.status is None:
            return f"{self.host}: {self.seen.value}{' (' + self.note + ')' if self.note else ''}"
        s = self.status
        sha = (s.scenario_sha256 or "-")[:12]
        extra = f"; {self.note}" if self.note else ""
        return f"{self.host}: {s.executor_id} {s.state.value} v{s.version} sha256 {sha} [{self.seen.value}{extra}]"


@dataclass
class Fleet:
    found: dict[str, Found] = field(default_factory=dict)

    @property
    def members(self) -> list[Found]:
        return [f for f in self.found.values() if f.seen is Seen.MEMBER]

    def member_ids(self) -> list[str]:
        return [f.status.executor_id for f in self.members]

    def strength(self, expected: int | None) -> str:
        """ "4 of 5 expected executors", or "4 executors" when no fleet size was given."""
        return f"{len(self.members)} of {expected} expected executors" if expected else f"{len(self.members)} executors"

    def report(self) -> str:
        return "; ".join(f.describe() for f in sorted(self.found.values(), key=lambda f: _ip_key(f.host))) or "nothing"


def _ip_key(host: str):
    try:
        return (0, int(ipaddress.IPv4Address(host)))
    except ValueError:
        return (1, host)


def own_interface() -> tuple[str, ipaddress.IPv4Network] | None:
    """The first non-loopback IPv4 address of this host and its network, read from the kernel."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        for _, name in socket.if_nameindex():
            if name == "lo":
                continue
            packed = struct.pack("256s", name.encode()[:15])
            try:
                address = socket.inet_ntoa(fcntl.ioctl(probe.fileno(), _SIOCGIFADDR, packed)[20:24])
                netmask = socket.inet_ntoa(fcntl.ioctl(probe.fileno(), _SIOCGIFNETMASK, packed)[20:24])
            except OSError:
                continue
            if address.startswith("127."):
                continue
            return address, ipaddress.IPv4Network(f"{address}/{netmask}", strict=False)
    return None


def resolve_targets(settings: ControllerSettings) -> list[str]:
    """Every address to probe, refused with ConfigError (exit 2) when malformed or too large."""
    own = own_interface()
    exclude = {own[0]} if own else set()
    try:
        if settings.executor_dns:
            return resolve_dns(settings.executor_dns)
        if settings.executor_cidrs:
            spec, name = settings.executor_cidrs, "SALVO_EXECUTOR_CIDRS"
        elif settings.ip_network and settings.ip_hosts:
            spec, name = dlt_hosts(settings.ip_network, settings.ip_hosts), "SALVO_IP_NETWORK/SALVO_IP_HOSTS"
        elif own:
            spec, name = str(own[1]), "the controller's own subnet (SALVO_EXECUTOR_CIDRS unset)"
            log.info("scanning %s, this controller's subnet", spec)
        else:
            raise ConfigError("SALVO_EXECUTOR_CIDRS is required: this host has no non-loopback IPv4 subnet to scan")
        return expand(spec, max_addresses=settings.max_scan_addresses, exclude=exclude)
    except TargetSpecError as exc:
        raise ConfigError(f"{name}: {exc}") from None


async def _probe(addresses: list[str], port: int, concurrency: int, timeout: float) -> list[str]:
    gate = asyncio.Semaphore(concurrency)

    async def one(address: str) -> str | None:
        async with gate:
            try:
                _, writer = await asyncio.wait_for(asyncio.open_connection(address, port), timeout)
            except (TimeoutError, OSError):
                return None
            writer.close()
            with contextlib.suppress(OSError):
                await writer.wait_closed()
            return address

    results = await asyncio.gather(*(one(a) for a in addresses))
    return [a for a in results if a]


@dataclass(frozen=True)
class TcpProber:
    """Which addresses accept a TCP connection on the status port (asyncio, bounded concurrency)."""

    port: int
    concurrency: int
    timeout: float

    def __call__(self, addresses: list[str]) -> list[str]:
        return asyncio.run(_probe(addresses, self.port, self.concurrency, self.timeout)) if addresses else []


class DuplicateExecutorIds(ConfigError):
    """Two executors answered with the same id: their results would overwrite each other in S3.

    Give each executor a unique SALVO_EXECUTOR_ID (or leave it unset: the default is unique per host).
    """


def handshake_all(link: FleetLink, hosts: list[str], timeout: float = 2.0) -> dict[str, Found]:
    found = {}
    for host, status in link.handshake_many(hosts, timeout=timeout, watch=True).items():
        if status is None:
            if link.auth_failed(host):
                found[host] = Found(host, Seen.AUTH_FAILED)
                link.remove_executor(host)  # or it would fail its handshake again every reconnect
            else:
                found[host] = Found(host, Seen.NO_ANSWER)  # connected: it may answer the next Hello
            continue
        seen = Seen.MEMBER if status.state is ExecutorState.ARMED else Seen.NOT_READY
        found[host] = Found(host, seen, status)
    return found


class TooManyExecutors(ConfigError):
    """More executors answered than SALVO_MAX_EXECUTORS allows.

    Narrow the scan, or raise the limit and ulimit nofile.
    """


def refuse_oversized(fleet: Fleet, limit: int) -> None:
    if len(fleet.members) > limit:
        raise TooManyExecutors(
            f"{len(fleet.members)} executors are armed, more than SALVO_MAX_EXECUTORS={limit}: narrow the scan "
            f"or raise SALVO_MAX_EXECUTORS (each executor needs 2 open files: ulimit nofile >= {2 * limit + 256})"
        )


def refuse_duplicate_ids(fleet: Fleet) -> None:
    """One id, one executor: never merge two executors' results under one name."""
    hosts: dict[str, list[str]] = {}
    for found in fleet.found.values():
        if found.status is not None:
            hosts.setdefault(found.status.executor_id, []).append(found.host)
    clashes = {executor_id: where for executor_id, where in hosts.items() if len(where) > 1}
    if clashes:
        listed = "; ".join(
            f"{executor_id} at {', '.join(sorted(where, key=_ip_key))}"
            for executor_id, where in sorted(clashes.items())
        )
        raise DuplicateExecutorIds(
            f"executor ids must be unique in a fleet: {listed}; set a distinct SALVO_EXECUTOR_ID on each"
        )


def _exclude_minority(fleet: Fleet) -> None:
    """Executors whose version or scenario differs from the majority are reported and left out."""
    members = fleet.members
    if len(members) < 2:
        return
    majority = Counter((f.status.version, f.status.scenario_sha256) for f in members).most_common(1)[0][0]
    for member in members:
        signature = (member.status.version, member.status.scenario_sha256)
        if signature != majority:
            member.seen = Seen.MISMATCH
            member.note = f"majority runs v{majority[0]} with scenario {str(majority[1])[:12]}"
            log.warning("leaving out %s", member.describe())


def too_few(fleet: Fleet, settings: ControllerSettings) -> str:
    """The one line of a fleet below quorum: how many, the rule, who is missing and why."""
    armed = len(fleet.members)
    rule = (
        f"SALVO_MIN_EXECUTORS={settings.min_executors}"
        if settings.min_executors is not None
        else f"SALVO_EXPECTED_EXECUTORS={settings.expected_executors} (the quorum when SALVO_MIN_EXECUTORS is unset)"
        if settings.expected_executors is not None
        else "a quorum of 1"
    )
    expected = settings.expected_executors
    left_out = [
        found.describe()
        for found in sorted(fleet.found.values(), key=lambda f: _ip_key(f.host))
        if found.seen is not Seen.MEMBER
    ]
    unseen = max(0, (expected or 0) - len(fleet.found))
    missing = left_out + ([f"{unseen} never answered at the scanned addresses"] if unseen else [])
    members = [found.describe() for found in sorted(fleet.members, key=lambda f: _ip_key(f.host))]
    return (
        f"{armed}{f' of {expected} expected' if expected else ''} executor(s) armed after "
        f"{settings.discovery_timeout:g} s, fewer than {rule}; no load was started; "
        f"armed: {'; '.join(members) or 'none'}; missing: {'; '.join(missing) or 'none answered'}"
    )


def discover(
    link: FleetLink,
    prober: Callable[[list[str]], list[str]],
    targets: Callable[[], list[str]],
    settings: ControllerSettings,
    clock: Clock,
    *,
    once: bool = False,
    between_rounds: Callable[[], None] = lambda: None,
) -> Fleet:
    """Scan and handshake until the fleet is complete; TooFewExecutors below quorum at the timeout.

    `targets` is asked again each round (DNS names gain addresses as tasks start);
    `between_rounds` may raise to abandon discovery (a signal)."""
    fleet = Fleet()
    deadline = clock.monotonic() + settings.discovery_timeout
    last_new = clock.monotonic()
    while True:
        pending = [a for a in targets() if a not in fleet.found or fleet.found[a].seen is not Seen.MEMBER]
        responders = prober(pending)
        before = len(fleet.members)
        fleet.found.update(handshake_all(link, responders))
        refuse_duplicate_ids(fleet)
        _exclude_minority(fleet)
        refuse_oversized(fleet, settings.max_executors)
        if len(fleet.members) > before:
            last_new = clock.monotonic()
            log.info("fleet: %d armed", len(fleet.members))
        if once:
            return fleet
        if settings.expected_executors is not None:
            if len(fleet.members) >= settings.expected_executors:
                return fleet
        elif fleet.members and clock.monotonic() - last_new >= settings.settle_seconds:
            return fleet
        if clock.monotonic() >= deadline:
            if len(fleet.members) >= settings.quorum:
                log.warning(
                    "discovery timeout: starting with %s (quorum %d)",
                    fleet.strength(settings.expected_executors),
                    settings.quorum,
                )
                return fleet
            raise TooFewExecutors(too_few(fleet, settings))
        between_rounds()
        clock.sleep(min(0.5, max(0.0, deadline - clock.monotonic())))
