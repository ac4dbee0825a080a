"""The handler registry: task types by name, sync or async, plus the built-in types.

A handler is called with the payload as its first argument and, when its signature
accepts one, the keyword argument ``ctx`` (a :class:`HandlerContext`). Its JSON-able
return value becomes the task's result; an exception fails the attempt with its message
as ``last_error``."""

from __future__ import annotations

import asyncio
import importlib
import inspect
import random
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TypeVar

F = TypeVar("F", bound=Callable[..., Any])


@dataclass(frozen=True, slots=True)
class HandlerContext:
    task_id: int
    attempt: int
    tenant: str
    type: str
    max_attempts: int
    timeout_s: float
    created_at: datetime


@dataclass(frozen=True, slots=True)
class Handler:
    name: str
    fn: Callable[..., Any]
    is_async: bool
    wants_ctx: bool

    def call(self, payload: Any, ctx: HandlerContext) -> Any:
        """Invoke the handler; for async handlers this returns the awaitable."""
        if self.wants_ctx:
            return self.fn(payload, ctx=ctx)
        return self.fn(payload)


class HandlerRegistry:
    """Task types by name. One process-wide default instance backs :func:`handler`."""

    def __init__(self) -> None:
        self._handlers: dict[str, Handler] = {}

    def register(self, name: str, fn: Callable[..., Any]) -> None:
        if not name or len(name) > 128:
            raise ValueError("handler names are 1..128 characters")
        params = inspect.signature(fn).parameters
        wants_ctx = "ctx" in params or any(
            p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values()
        )
        self._handlers[name] = Handler(
            name=name,
            fn=fn,
            is_async=inspect.iscoroutinefunction(fn),
            wants_ctx=wants_ctx,
        )

    def get(self, name: str) -> Handler | None:
        return self._handlers.get(name)

    def names(self) -> list[str]:
        return sorted(self._handlers)

    def __contains__(self, name: object) -> bool:
        return name in self._handlers


registry = HandlerRegistry()


def handler(name: str) -> Callable[[F], F]:
    """Register the decorated function as the handler for task type ``name``."""

    def decorate(fn: F) -> F:
        registry.register(name, fn)
        return fn

    return decorate


def load_modules(modules: list[str]) -> None:
    """Import user handler modules (``SKIPLOCK_HANDLERS``) so their decorators run."""
    for module in modules:
        importlib.import_module(module)


# --- built-in types ------------------------------------------------------------------


@handler("noop")
async def _noop(payload: Any) -> None:
    """Returns at once; for benchmarks and smoke tests."""
    return


class SimulatedFailure(Exception):
    """Raised by the simulated demo types at their configured failure rate."""


@dataclass(frozen=True, slots=True)
class Simulation:
    """A simulated workload: sleep a random time in [min_s, max_s], fail at ``fail_rate``."""

    min_s: float
    max_s: float
    fail_rate: float


# Mean durations near 1.8 s reproduce the original system's workload (its simulated
# handlers averaged about 1.8 s).
SIMULATIONS: dict[str, Simulation] = {
    "send_email": Simulation(0.3, 1.2, 0.05),
    "resize_image": Simulation(1.0, 2.6, 0.1),
    "generate_report": Simulation(1.5, 3.5, 0.15),
    "sync_inventory": Simulation(0.8, 2.0, 0.1),
}


def _simulated(name: str, sim: Simulation) -> Callable[..., Awaitable[dict[str, Any]]]:
    async def run(payload: Any, ctx: HandlerContext) -> dict[str, Any]:
        params = payload if isinstance(payload, dict) else {}
        lo = float(params.get("min_s", sim.min_s))
        hi = float(params.get("max_s", sim.max_s))
        fail_rate = float(params.get("fail_rate", sim.fail_rate))
        rng = random.Random(params.get("seed"))
        duration = rng.uniform(lo, max(lo, hi))
        await asyncio.sleep(duration)
        if rng.random() < fail_rate:
            raise SimulatedFailure(f"{name}: simulated failure on attempt {ctx.attempt}")
        return {"simulated": name, "slept_s": round(duration, 3)}

    run.__name__ = name
    return run


def _sleep(payload: Any) -> dict[str, Any]:
    """A synchronous handler that blocks a thread: ``{"seconds": s}``."""
    import time

    seconds = float(payload.get("seconds", 1.0)) if isinstance(payload, dict) else 1.0
    time.sleep(seconds)
    return {"slept_s": seconds}


async def _async_sleep(payload: Any) -> dict[str, Any]:
    seconds = float(payload.get("seconds", 1.0)) if isinstance(payload, dict) else 1.0
    await asyncio.sleep(seconds)
    return {"slept_s": seconds}


def _fail(payload: Any) -> None:
    message = payload.get("message", "failed on purpose") if isinstance(payload, dict) else None
    raise RuntimeError(message or "failed on purpose")


for _name, _sim in SIMULATIONS.items():
    registry.register(_name, _simulated(_name, _sim))
registry.register("sleep", _sleep)
registry.register("async_sleep", _async_sleep)
registry.register("fail", _fail)
