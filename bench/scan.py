"""Scan benchmark: probing a /20 and a /16 where nothing answers (SYNs dropped, as in a VPC), at the defaults.

Runs inside a network namespace this benchmark creates: 10.200.0.0/16 lives on
the namespace's own loopback and its SYNs to the status port are dropped, so no
packet leaves the namespace. Needs root (ip netns, iptables).
"""

from __future__ import annotations

import json
import subprocess
import sys
import time

from salvo.common.defaults import STATUS_PORT

NAMESPACE = "salvo-bench-scan"
PROBE = """
import json, sys, time
from salvo.common.settings import load
from salvo.controller.discovery import TcpProber
from salvo.controller.settings import ControllerSettings
from salvo.controller.targets import expand
s = load(ControllerSettings, {"SALVO_RESULTS_URI": "s3://unused-bucket/"})
out = {}
for cidr in sys.argv[1:]:
    addresses = expand(cidr, max_addresses=s.max_scan_addresses)
    began = time.monotonic()
    found = TcpProber(s.status_port, s.scan_concurrency, s.probe_timeout)(addresses)
    out[cidr] = {"addresses": len(addresses), "answered": len(found), "seconds": round(time.monotonic() - began, 1)}
print(json.dumps(out))
"""


def run(cidrs=("10.200.0.0/20", "10.200.0.0/16")) -> dict:
    def netns(*command: str) -> None:
        subprocess.run(["ip", "netns", "exec", NAMESPACE, *command], check=True)

    subprocess.run(["ip", "netns", "add", NAMESPACE], check=True)
    try:
        netns("ip", "link", "set", "lo", "up")
        netns("ip", "addr", "add", "10.200.0.1/16", "dev", "lo")
        netns("iptables", "-A", "OUTPUT", "-p", "tcp", "-d", "10.200.0.0/16", "--dport", str(STATUS_PORT), "-j", "DROP")
        began = time.monotonic()
        result = subprocess.run(
            ["ip", "netns", "exec", NAMESPACE, sys.executable, "-c", PROBE, *cidrs],
            capture_output=True,
            text=True,
            check=True,
            timeout=600,
        )
        out = json.loads(result.stdout)
        out["total_seconds"] = round(time.monotonic() - began, 1)
        return out
    finally:
        subprocess.run(["ip", "netns", "del", NAMESPACE], check=False)


if __name__ == "__main__":
    print(run())
