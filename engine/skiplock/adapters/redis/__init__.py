"""Redis adapters for the shared-state ports: rate limiter (Lua), worker registry,
event stream (a capped Redis Stream) and wake-up notifier (pub/sub)."""

from __future__ import annotations

from dataclasses import dataclass

from redis.asyncio import Redis

from skiplock.adapters.redis.errors import unavailable_on_outage
from skiplock.adapters.redis.events import RedisEventStream
from skiplock.adapters.redis.notifier import RedisNotifier
from skiplock.adapters.redis.rate_limiter import RedisRateLimiter
from skiplock.adapters.redis.registry import RedisRegistry

__all__ = ["RedisEventStream", "RedisNotifier", "RedisRateLimiter", "RedisRegistry", "RedisShared"]


@dataclass
class RedisShared:
    client: Redis
    reader: Redis
    limiter: RedisRateLimiter
    registry: RedisRegistry
    stream: RedisEventStream
    notifier: RedisNotifier

    @classmethod
    def from_url(
        cls,
        url: str,
        *,
        timeout_s: float = 5.0,
        prefix: str = "skiplock",
        stream_maxlen: int = 100_000,
    ) -> RedisShared:
        client = Redis.from_url(
            url,
            socket_timeout=timeout_s,
            socket_connect_timeout=timeout_s,
            health_check_interval=30,
        )
        reader = Redis.from_url(
            url, socket_timeout=timeout_s + 10, socket_connect_timeout=timeout_s
        )
        return cls(
            client=client,
            reader=reader,
            limiter=RedisRateLimiter(client, prefix=prefix),
            registry=RedisRegistry(client, prefix=prefix),
            stream=RedisEventStream(client, reader, prefix=prefix, maxlen=stream_maxlen),
            notifier=RedisNotifier(client, prefix=prefix),
        )

    @unavailable_on_outage
    async def ping(self) -> None:
        await self.client.ping()

    async def aclose(self) -> None:
        await self.client.aclose()
        await self.reader.aclose()
