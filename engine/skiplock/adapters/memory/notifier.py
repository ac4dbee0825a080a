"""In-process wake-ups for idle workers (embedded mode)."""

from __future__ import annotations

import asyncio


class MemoryNotifier:
    def __init__(self) -> None:
        self._event = asyncio.Event()

    async def notify(self) -> None:
        self._event.set()

    async def listening(self) -> None:
        """Always true in one process: a notify before any wait still wakes the next one.
        (The Redis twin needs this to confirm its pub/sub subscription.)"""

    async def wait(self, timeout_s: float) -> bool:
        try:
            await asyncio.wait_for(self._event.wait(), timeout=timeout_s)
        except TimeoutError:
            return False
        self._event.clear()
        return True

    async def close(self) -> None:
        self._event.set()
