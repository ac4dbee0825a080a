"""Redis failures as the domain's ``Unavailable``: callers (services, the API) tell an
outage from a bug by that one type, and never import the Redis client to do it."""

from __future__ import annotations

import functools
from collections.abc import Callable, Coroutine
from typing import Any, ParamSpec, TypeVar

from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from skiplock.domain.errors import Unavailable

P = ParamSpec("P")
T = TypeVar("T")

# Redis cannot be reached or did not answer in time (its own classes, which are not the
# builtins of the same names), or the socket failed underneath.
OUTAGES = (RedisConnectionError, RedisTimeoutError, OSError)


def unavailable_on_outage(
    call: Callable[P, Coroutine[Any, Any, T]],
) -> Callable[P, Coroutine[Any, Any, T]]:
    """Wrap an adapter coroutine: a Redis outage leaves it as ``Unavailable``."""

    @functools.wraps(call)
    async def mapped(*args: P.args, **kwargs: P.kwargs) -> T:
        try:
            return await call(*args, **kwargs)
        except OUTAGES as exc:
            raise Unavailable(f"redis unavailable: {exc}") from exc

    return mapped
