"""Salvo's demo scenario: browse the shop's front page, now and then upload a file.

Edit freely: `make rehearsal` uploads this file with `salvo upload` and runs it on
every executor. Users, spawn rate and duration come from SALVO_USERS,
SALVO_SPAWN_RATE and SALVO_DURATION; the target from SALVO_TARGET_HOST.
"""

import os

from locust import FastHttpUser, between, task

REPORT = os.urandom(16 * 1024)  # a 16 KiB "document" to upload


class Shopper(FastHttpUser):
    wait_time = between(0.5, 1.5)  # think time

    @task(5)
    def front_page(self):
        self.client.get("/")

    @task(1)
    def upload_document(self):
        self.client.post("/upload", files={"document": ("report.bin", REPORT, "application/octet-stream")})
