"""Celery with a Redis broker, no result backend: the no-op the drain measures."""

from __future__ import annotations

import os

from _record import record
from celery import Celery

app = Celery("bench", broker=os.environ["PEERS_REDIS_URL"])
app.conf.update(
    task_default_queue="bench",
    task_ignore_result=True,
    task_acks_late=os.environ.get("PEERS_ACKS_LATE") == "1",
    worker_hijack_root_logger=False,
    broker_connection_retry_on_startup=True,
)


@app.task(name="noop")
def noop() -> None:
    record()
