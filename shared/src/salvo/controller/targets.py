"""Which addresses the controller probes: CIDRs, ranges, single IPs, DLT-style hosts, DNS names.

Every spec is expanded up front, so a range that is too large is refused before
any packet is sent. Network and broadcast addresses of a CIDR are skipped (for
prefixes shorter than /31), and so is the controller's own address.
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Iterable

DEFAULT_MAX_ADDRESSES = 65536  # a /16


class TargetSpecError(ValueError):
    """A target list entry is malformed or too large; the message names the entry."""


def expand(specs: str, *, max_addresses: int = DEFAULT_MAX_ADDRESSES, exclude: Iterable[str] = ()) -> list[str]:
    """`10.0.1.0/24,10.0.2.5-10.0.2.9,10.0.3.4` -> ordered unique IPv4 addresses."""
    excluded = set(exclude)
    seen: dict[str, None] = {}
    for raw in specs.split(","):
        spec = raw.strip()
        if not spec:
            continue
        for address in _expand_one(spec, max_addresses):
            if address not in excluded:
                seen.setdefault(address, None)
        if len(seen) > max_addresses:
            raise TargetSpecError(
                f"{specs!r} covers more than {max_addresses} addresses; narrow it (at most a /16 by default)"
            )
    return list(seen)


def _expand_one(spec: str, max_addresses: int) -> list[str]:
    if "-" in spec:
        first_text, _, last_text = spec.partition("-")
        try:
            first, last = ipaddress.IPv4Address(first_text.strip()), ipaddress.IPv4Address(last_text.strip())
        except ValueError:
            raise TargetSpecError(f"{spec!r}: expected a range such as 10.0.1.10-10.0.1.50") from None
        if last < first:
            raise TargetSpecError(f"{spec!r}: the range ends before it starts")
        count = int(last) - int(first) + 1
        if count > max_addresses:
            raise TargetSpecError(f"{spec!r} covers {count} addresses, more than the limit of {max_addresses}")
        return [str(ipaddress.IPv4Address(n)) for n in range(int(first), int(last) + 1)]
    try:
        network = ipaddress.IPv4Network(spec, strict=False)
    except ValueError:
        raise TargetSpecError(
            f"{spec!r}: expected an IPv4 address, a CIDR (10.0.1.0/24) or a range (a.b.c.d-e.f.g.h)"
        ) from None
    if network.num_addresses > max_addresses:
        raise TargetSpecError(
            f"{spec!r} covers {network.num_addresses} addresses, more than the limit of {max_addresses}"
        )
    hosts = network.hosts() if network.prefixlen < 31 else iter(network)
    return [str(address) for address in hosts]


def dlt_hosts(network: str, hosts: str) -> str:
    """DLT-style SALVO_IP_NETWORK=10.0.1 + SALVO_IP_HOSTS=5,7,10-12 -> a target spec string."""
    prefix = network.strip().rstrip(".")
    parts = prefix.split(".")
    if not 1 <= len(parts) <= 3 or not all(p.isdigit() and 0 <= int(p) <= 255 for p in parts):
        raise TargetSpecError(f"SALVO_IP_NETWORK={network!r}: expected the network's leading octets, e.g. 10.0.1")
    specs = []
    for item in hosts.split(","):
        item = item.strip()
        if not item:
            continue
        if "-" in item:
            low, _, high = item.partition("-")
            specs.append(f"{prefix}.{low.strip()}-{prefix}.{high.strip()}")
        else:
            specs.append(f"{prefix}.{item}")
    if not specs:
        raise TargetSpecError(f"SALVO_IP_HOSTS={hosts!r}: expected host numbers such as 5,7,10-12")
    return ",".join(specs)


def resolve_dns(name: str) -> list[str]:
    """Every A record of `name` (a compose service or a headless Kubernetes service)."""
    try:
        infos = socket.getaddrinfo(name, None, socket.AF_INET, socket.SOCK_STREAM)
    except socket.gaierror:
        return []
    return sorted({info[4][0] for info in infos}, key=lambda a: ipaddress.IPv4Address(a))
