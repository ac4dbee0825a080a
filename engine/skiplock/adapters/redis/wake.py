"""Wake-ups sent from outside the engine: ``skiplock.enqueue`` publishes one after its
caller's ORM session commits, on the channel every worker's notifier listens to, so
the workers claim the task at once instead of at their next poll."""

from __future__ import annotations

import logging
import time

import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

from skiplock.adapters.redis.notifier import wake_channel

log = logging.getLogger("skiplock.enqueue")

# A wake-up is an optimisation (workers poll anyway): never hold a commit up for long.
TIMEOUT_S = 0.5


class Waker:
    """Publishes wake-ups; failures are logged (at most once a minute), never raised."""

    def __init__(self, url: str, *, prefix: str) -> None:
        self._client = redis.Redis.from_url(
            url,
            socket_timeout=TIMEOUT_S,
            socket_connect_timeout=TIMEOUT_S,
            retry=Retry(NoBackoff(), 0),  # redis-py retries 3 times by default; not here
        )
        self._channel = wake_channel(prefix)
        self._quiet_until = 0.0

    def wake(self) -> None:
        try:
            self._client.publish(self._channel, b"1")
        except redis.RedisError as exc:
            now = time.monotonic()
            if now >= self._quiet_until:
                self._quiet_until = now + 60
                log.warning("cannot wake workers (%s); they find the task at their next poll", exc)
