"""Fan-out benchmark: N simulated executors (real sockets, real protocol) and the real controller.

Measures launch -> start published, whether every executor got the start before
start_at, and the spread of receipt - what a fleet that starts on receipt
(Locust, DLT v3) would show as its start spread - against Salvo's, where every
executor starts at start_at (its spread is the gate's timer error, ~ms; here
the simulated executors start at max(start_at, receipt)).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from salvo.common.keys import generate_fleet_key

REPO = Path(__file__).resolve().parents[1]
KEY = generate_fleet_key()
PER_PROCESS = 1000


def watch(process: subprocess.Popen) -> tuple[int, float]:
    """The process's peak resident memory (kB, VmHWM) and CPU seconds, sampled until it exits."""
    peak, cpu, ticks = 0, 0.0, os.sysconf("SC_CLK_TCK")
    while process.poll() is None:
        try:
            status = Path(f"/proc/{process.pid}/status").read_text()
            peak = max(peak, int(next(line.split()[1] for line in status.splitlines() if line.startswith("VmHWM"))))
            fields = Path(f"/proc/{process.pid}/stat").read_text().rsplit(")", 1)[1].split()
            cpu = (int(fields[11]) + int(fields[12])) / ticks
        except (OSError, StopIteration, ValueError, IndexError):
            pass
        time.sleep(0.5)
    return peak, cpu


def run(count: int, curve: bool, command_port: int, status_port: int, results_uri: str, env: dict) -> dict:
    work = Path(tempfile.mkdtemp(prefix="salvo-fanout-"))
    sims = []
    first = 0x7F040001  # 127.4.0.1
    for part in range((count + PER_PROCESS - 1) // PER_PROCESS):
        n = min(PER_PROCESS, count - part * PER_PROCESS)
        address = ".".join(str((first + part * PER_PROCESS >> s) & 255) for s in (24, 16, 8, 0))
        sims.append(
            subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "tests.support.simexecutor",
                    "--first",
                    address,
                    "--count",
                    str(n),
                    "--command-port",
                    str(command_port),
                    "--status-port",
                    str(status_port),
                    "--run-seconds",
                    "15",
                    "--results-uri",
                    results_uri,
                    "--record",
                    str(work / f"sims-{part}.json"),
                    "--lifetime",
                    "300",
                    *([f"--fleet-key={KEY}"] if curve else []),  # a key may start with "-"
                ],
                cwd=REPO,
                env=env,
                stdout=subprocess.PIPE,
                text=True,
            )
        )
    for sim in sims:
        assert sim.stdout.readline().startswith("ready"), "simulated executors failed to start"
    controller_env = {k: v for k, v in env.items() if not k.startswith("SALVO_")}
    controller_env.update(
        {
            "SALVO_EXECUTOR_CIDRS": f"127.4.0.1-127.4.{(count - 1) // 256}.{(count - 1) % 256 + 1}",
            "SALVO_COMMAND_PORT": str(command_port),
            "SALVO_STATUS_PORT": str(status_port),
            "SALVO_RESULTS_URI": results_uri,
            "SALVO_RUN_ID": f"fanout-{count}-{'curve' if curve else 'plain'}-{os.getpid()}",
            "SALVO_EXPECTED_EXECUTORS": str(count),
            "SALVO_DISCOVERY_TIMEOUT": "120",
            "SALVO_PROBE_TIMEOUT": "0.5",
            "SALVO_START_LEAD": "1000",
            "SALVO_LIVE_INTERVAL": "1",
            **({"SALVO_FLEET_KEY": KEY} if curve else {"SALVO_INSECURE": "true"}),
        }
    )
    launched = time.time()
    with open(work / "controller.log", "wb") as output:  # the child keeps its own descriptor
        controller = subprocess.Popen(
            [sys.executable, "-m", "salvo.cli", "controller"],
            cwd=REPO,
            env=controller_env,
            stdout=subprocess.DEVNULL,
            stderr=output,
        )
    peak_rss_kb, cpu_seconds = watch(controller)
    code = controller.wait(600)
    for sim in sims:
        sim.terminate()
        sim.wait(60)
    seen = [entry for part in range(len(sims)) for entry in json.loads((work / f"sims-{part}.json").read_text())]
    received = [s["received_at"] for s in seen if s["received_at"] is not None]
    start_at = max((s["start_at"] for s in seen if s["start_at"]), default=None)
    sent_at = max((s["sent_at"] for s in seen if s["sent_at"]), default=None)
    starts = [max(s["start_at"], s["received_at"]) for s in seen if s["received_at"] is not None]
    return {
        "executors": count,
        "curve": curve,
        "controller_exit": code,
        "started": len(received),
        "late": sum(1 for s in seen if s["received_at"] is None or s["received_at"] >= s["start_at"]),
        "launch_to_start_published_s": round(sent_at - launched, 3) if sent_at else None,
        "receipt_spread_ms": round((max(received) - min(received)) * 1000, 2) if received else None,
        "salvo_start_spread_ms": round((max(starts) - min(starts)) * 1000, 2) if starts else None,
        "last_receipt_before_start_at_ms": round((start_at - max(received)) * 1000, 1) if received else None,
        "controller_peak_rss_mb": round(peak_rss_kb / 1024, 1),
        "controller_cpu_seconds": round(cpu_seconds, 1),
        "controller_wall_seconds": round(time.time() - launched, 1),
        "controller_log": str(work / "controller.log"),
    }


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--count", type=int, default=2000)
    parser.add_argument("--curve", action="store_true")
    parser.add_argument("--command-port", type=int, default=52000)
    parser.add_argument("--status-port", type=int, default=52001)
    parser.add_argument("--results-uri", required=True)
    args = parser.parse_args()
    print(
        json.dumps(
            run(args.count, args.curve, args.command_port, args.status_port, args.results_uri, dict(os.environ)),
            indent=1,
        )
    )
