"""Dramatiq with a Redis broker: the no-op the drain measures."""

from __future__ import annotations

import os

import dramatiq
from _record import record
from dramatiq.brokers.redis import RedisBroker

dramatiq.set_broker(RedisBroker(url=os.environ["PEERS_REDIS_URL"]))


@dramatiq.actor(queue_name="bench", max_retries=0)
def noop() -> None:
    record()
