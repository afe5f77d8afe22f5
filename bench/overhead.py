"""Executor overhead: requests Salvo's executor sends vs bare `locust --headless`, same locustfile, same core.

nginx on 127.0.0.1 is pinned to core 0 and counts every request in its access
log; the load generator (bare locust, or the whole executor: salvo + bzt +
locust) is pinned to core 1. Runs alternate bare/Salvo; the ratio of each
pair is Salvo's count over bare locust's, and the median is reported.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from tests.support.executors import free_port, run_single, start_executor  # noqa: E402

LOCUSTFILE = """
from locust import FastHttpUser, constant, task

class Hammer(FastHttpUser):
    wait_time = constant(0)

    @task
    def index(self):
        self.client.get("/")
"""

NGINX_CONF = """
daemon off;
worker_processes 1;
error_log {work}/error.log;
pid {work}/nginx.pid;
events {{ worker_connections 1024; }}
http {{
    access_log {work}/access.log;
    client_body_temp_path {work}/tmp;
    proxy_temp_path {work}/tmp;
    fastcgi_temp_path {work}/tmp;
    uwsgi_temp_path {work}/tmp;
    scgi_temp_path {work}/tmp;
    server {{
        listen 127.0.0.1:{port};
        location / {{ return 200 "ok"; }}
    }}
}}
"""


class Nginx:
    def __init__(self, work: Path):
        self.work, self.port = work, free_port()
        (work / "tmp").mkdir(parents=True, exist_ok=True)
        (work / "nginx.conf").write_text(NGINX_CONF.format(work=work, port=self.port))
        self.process = subprocess.Popen(
            [
                "taskset",
                "-c",
                "0",
                shutil.which("nginx") or "/usr/sbin/nginx",
                "-c",
                str(work / "nginx.conf"),
                "-p",
                str(work),
            ]
        )
        deadline = time.monotonic() + 10
        while not (work / "nginx.pid").exists():
            assert time.monotonic() < deadline, "nginx did not start"
            time.sleep(0.05)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def reset(self) -> None:
        (self.work / "access.log").write_text("")
        subprocess.run(["kill", "-USR1", str(self.process.pid)], check=True)  # reopen the log

    def count(self) -> int:
        time.sleep(0.5)  # nginx writes its access log on its own schedule: let the last lines land
        return sum(1 for _ in open(self.work / "access.log", "rb"))

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(10)


def bare_locust(work: Path, nginx: Nginx, users: int, seconds: int) -> int:
    nginx.reset()
    subprocess.run(
        [
            "taskset",
            "-c",
            "1",
            sys.executable,
            "-m",
            "locust",
            "-f",
            str(work / "locustfile.py"),
            "--headless",
            "--users",
            str(users),
            "--spawn-rate",
            str(users * 100),
            "--run-time",
            f"{seconds}s",
            "--host",
            nginx.url,
            "--only-summary",
            "--loglevel",
            "WARNING",
        ],
        cwd=work,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        check=False,
        timeout=seconds + 60,
    )
    return nginx.count()


def salvo_executor(work: Path, nginx: Nginx, users: int, seconds: int, aws_env: dict, bucket: str, n: int) -> int:
    nginx.reset()
    executor = start_executor(
        work,
        aws_env,
        executor_id=f"bench-{n}",
        host="127.0.0.1",
        scenario_uri=f"s3://{bucket}/overhead/locustfile.py",
        results_uri=f"s3://{bucket}/results/",
        extra_env={
            "SALVO_USERS": str(users),
            "SALVO_SPAWN_RATE": str(users * 100),
            "SALVO_DURATION": f"{seconds}s",
            "SALVO_TARGET_HOST": nginx.url,
            "SALVO_LOG_LEVEL": "INFO",
        },
        prefix=["taskset", "-c", "1"],
    )
    executor.wait_state("armed", timeout=120)
    code = run_single(executor, f"overhead-{n}-{os.getpid()}", start_in=0.5)
    assert code == 0, executor.log()[-2000:]
    return nginx.count()


def run(aws_env: dict, bucket: str, users: int = 20, seconds: int = 15, pairs: int = 3) -> dict:
    import boto3

    work = Path(tempfile.mkdtemp(prefix="salvo-overhead-"))
    (work / "locustfile.py").write_text(LOCUSTFILE)
    boto3.client("s3").put_object(Bucket=bucket, Key="overhead/locustfile.py", Body=LOCUSTFILE.encode())
    nginx = Nginx(work / "nginx")
    results = []
    try:
        for n in range(pairs):
            bare = bare_locust(work, nginx, users, seconds)
            salvo = salvo_executor(work, nginx, users, seconds, aws_env, bucket, n)
            results.append({"bare": bare, "salvo": salvo, "ratio": round(salvo / bare, 3)})
    finally:
        nginx.stop()
    ratios = sorted(r["ratio"] for r in results)
    return {"pairs": results, "median_ratio": ratios[len(ratios) // 2], "users": users, "seconds": seconds}


if __name__ == "__main__":
    env = {k: os.environ[k] for k in ("AWS_ENDPOINT_URL", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_REGION")}
    print(json.dumps(run(env, sys.argv[1]), indent=1))
