"""Wake-ups over Redis pub/sub: an instance that commits new ready work publishes one
message; every instance's listener wakes its producer. Delivery is best-effort: the
producer's jittered polling covers a lost message."""

from __future__ import annotations

import asyncio
import contextlib
import logging

from redis.asyncio import Redis

from skiplock.adapters.redis.errors import unavailable_on_outage

log = logging.getLogger("skiplock.redis")


def wake_channel(prefix: str) -> str:
    """The pub/sub channel on which new ready work is announced."""
    return f"{prefix}:wake"


class RedisNotifier:
    def __init__(self, client: Redis, *, prefix: str) -> None:
        self._client = client
        self._channel = wake_channel(prefix)
        self._woken = asyncio.Event()
        self._subscribed = asyncio.Event()  # set while Redis confirms our subscription
        self._listener: asyncio.Task[None] | None = None
        self._closed = False

    @unavailable_on_outage
    async def notify(self) -> None:
        await self._client.publish(self._channel, b"1")

    async def listening(self) -> None:
        """Start listening (``wait`` also does) and return once Redis has confirmed the
        subscription: every notify published after this wakes the next ``wait``, even
        one that starts later. Not part of the port: pub/sub drops messages sent before
        the subscription, and an instance that must not miss the first one calls this."""
        self._ensure_listener()
        await self._subscribed.wait()

    def _ensure_listener(self) -> None:
        if self._listener is None or self._listener.done():
            self._listener = asyncio.create_task(self._listen(), name="redis-wake-listener")

    async def _listen(self) -> None:
        while not self._closed:
            try:
                async with self._client.pubsub(ignore_subscribe_messages=False) as pubsub:
                    await pubsub.subscribe(self._channel)
                    while not self._closed:
                        message = await pubsub.get_message(timeout=1.0)
                        if message is None:
                            continue
                        if message["type"] == "subscribe":
                            self._subscribed.set()
                        elif message["type"] == "message":
                            self._woken.set()
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # Redis restarting: resubscribe shortly
                self._subscribed.clear()
                log.warning("wake-up subscription lost (%s); resubscribing", exc)
                await asyncio.sleep(1.0)

    async def wait(self, timeout_s: float) -> bool:
        self._ensure_listener()
        try:
            await asyncio.wait_for(self._woken.wait(), timeout=timeout_s)
        except TimeoutError:
            return False
        self._woken.clear()
        return True

    async def close(self) -> None:
        self._closed = True
        self._woken.set()
        self._subscribed.set()  # nobody waits for a subscription that will never come
        if self._listener is not None:
            self._listener.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._listener
