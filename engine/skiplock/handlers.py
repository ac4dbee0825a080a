"""The handler registry: task types by name, sync or async, plus the built-in types.

A handler is called with the payload as its first argument and, when its signature
accepts one, the keyword argument ``ctx`` (a :class:`HandlerContext`). Its JSON-able
return value becomes the task's result; an exception fails the attempt with its message
as ``last_error``; :class:`Retry` asks for another attempt after a chosen delay.

A handler may carry defaults for submissions of its type (``max_attempts``,
``timeout_s``, ``cost``); a submission that sets an option keeps its own value. A worker
announces its types with these defaults to the database, so an API process applies them
without importing the handler's module (``services/task_types.py``)."""

from __future__ import annotations

import importlib
import inspect
import os
import random
import sys
import traceback
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TypeVar

from skiplock.domain import limits

F = TypeVar("F", bound=Callable[..., Any])


class Retry(Exception):
    """Raise from a handler to run the task again after ``delay_s`` seconds (the usual
    exponential backoff when ``None``).

    It spends an attempt, like a failure: a task that keeps asking dead-letters once its
    ``max_attempts`` are used, so a handler that polls for something must allow enough
    attempts. The attempt's history records the outcome ``retry`` with ``message``."""

    def __init__(self, message: str = "", *, delay_s: float | None = None) -> None:
        if delay_s is not None and not limits.DELAY_S.holds(delay_s):
            raise ValueError(f"Retry: delay_s must be in {limits.DELAY_S} seconds")
        super().__init__(message)
        self.message = message
        self.delay_s = delay_s


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
class HandlerDefaults:
    """Options for submissions of one type that do not set them (``None``: the engine's
    default)."""

    max_attempts: int | None = None
    timeout_s: float | None = None
    cost: int | None = None

    def __post_init__(self) -> None:
        for name, bounds in (
            ("max_attempts", limits.MAX_ATTEMPTS),
            ("timeout_s", limits.TIMEOUT_S),
            ("cost", limits.COST),
        ):
            value = getattr(self, name)
            if value is None:
                continue
            if isinstance(value, bool) or not isinstance(value, int | float):
                raise TypeError(f"handler option {name} must be a number")
            if name != "timeout_s" and not isinstance(value, int):
                raise TypeError(f"handler option {name} must be an integer")
            if not bounds.holds(value):
                raise ValueError(f"handler option {name} must be in {bounds}; got {value}")


@dataclass(frozen=True, slots=True)
class Handler:
    name: str
    fn: Callable[..., Any]
    is_async: bool
    wants_ctx: bool
    defaults: HandlerDefaults = HandlerDefaults()

    def call(self, payload: Any, ctx: HandlerContext) -> Any:
        """Invoke the handler; for async handlers this returns the awaitable."""
        if self.wants_ctx:
            return self.fn(payload, ctx=ctx)
        return self.fn(payload)


class HandlerRegistry:
    """Task types by name. One process-wide default instance backs :func:`handler`."""

    def __init__(self) -> None:
        self._handlers: dict[str, Handler] = {}
        self.registrations = 0  # calls to register, so a loader sees a module register

    def register(
        self, name: str, fn: Callable[..., Any], defaults: HandlerDefaults | None = None
    ) -> None:
        if not name or len(name) > 128:
            raise ValueError("handler names are 1..128 characters")
        params = inspect.signature(fn).parameters
        wants_ctx = "ctx" in params or any(
            p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values()
        )
        self.registrations += 1
        self._handlers[name] = Handler(
            name=name,
            fn=fn,
            is_async=inspect.iscoroutinefunction(fn),
            wants_ctx=wants_ctx,
            defaults=defaults or HandlerDefaults(),
        )

    def get(self, name: str) -> Handler | None:
        return self._handlers.get(name)

    def names(self) -> list[str]:
        return sorted(self._handlers)

    def __contains__(self, name: object) -> bool:
        return name in self._handlers


registry = HandlerRegistry()


def handler(
    name: str,
    *,
    max_attempts: int | None = None,
    timeout_s: float | None = None,
    cost: int | None = None,
) -> Callable[[F], F]:
    """Register the decorated function as the handler for task type ``name``.

    ``max_attempts``, ``timeout_s`` and ``cost`` are defaults for submissions of this
    type that leave them out; they are checked against the same bounds as a submission.
    """
    defaults = HandlerDefaults(max_attempts=max_attempts, timeout_s=timeout_s, cost=cost)

    def decorate(fn: F) -> F:
        registry.register(name, fn, defaults)
        return fn

    return decorate


class HandlerModuleError(Exception):
    """A handler module cannot be imported, or registers no handler. The message is one
    line that names the module and the reason, for ``serve`` to print as it stops."""


_loaded: set[str] = set()


def load_modules(
    modules: list[str],
    *,
    paths: list[str] | None = None,
    into: HandlerRegistry | None = None,
) -> None:
    """Import user handler modules (``SKIPLOCK_HANDLERS``) so their decorators run.

    ``paths`` go first on ``sys.path`` (``--path``, ``SKIPLOCK_HANDLER_PATH``). Raises
    :class:`HandlerModuleError` when a module cannot be imported or registers no
    handler: a module named by mistake would otherwise leave its task types queued with
    nobody to run them."""
    target = registry if into is None else into
    for path in reversed(paths or []):
        absolute = os.path.abspath(path)
        if absolute not in sys.path:
            sys.path.insert(0, absolute)
    for module in modules:
        if module in _loaded:
            continue
        was_imported = module in sys.modules
        before = target.registrations
        try:
            importlib.import_module(module)
        except Exception as exc:
            raise HandlerModuleError(f"{module}: {_import_failure(module, exc)}") from exc
        registered = target.registrations > before or (
            was_imported and _defines_handlers(target, module)
        )
        if not registered:
            where = getattr(sys.modules[module], "__file__", None) or module
            raise HandlerModuleError(
                f"{module}: imported from {where}, but it registers no handler "
                '(decorate a function with @skiplock.handler("type"), or import the '
                "modules that do)"
            )
        _loaded.add(module)


def _defines_handlers(target: HandlerRegistry, module: str) -> bool:
    return any(
        h.fn.__module__ == module or h.fn.__module__.startswith(module + ".")
        for h in (target.get(n) for n in target.names())
        if h is not None
    )


def _import_failure(module: str, exc: Exception) -> str:
    """Why ``module`` did not import, in one line a person acts on."""
    if (
        isinstance(exc, ModuleNotFoundError)
        and exc.name
        and (module == exc.name or module.startswith(exc.name + "."))
    ):
        return (
            f"no module named {exc.name!r} in the working directory ({os.getcwd()}) or on "
            "the Python path; run serve from the directory that holds it, or add "
            "its parent with --path DIR (SKIPLOCK_HANDLER_PATH)"
        )
    if isinstance(exc, SyntaxError):
        return f"SyntaxError: {exc.msg} ({exc.filename}, line {exc.lineno})"
    frames = [f for f in traceback.extract_tb(exc.__traceback__) if not f.filename.startswith("<")]
    at = f" ({frames[-1].filename}, line {frames[-1].lineno})" if frames else ""
    message = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    return f"{type(exc).__name__}: {message}{at}" if message else f"{type(exc).__name__}{at}"


# --- built-in types ------------------------------------------------------------------


async def _sleep_async(seconds: float) -> None:
    # asyncio is imported here, not at the top: ``import skiplock`` (and so the client, in
    # applications that never run a worker) would otherwise pay for it.
    import asyncio

    await asyncio.sleep(seconds)


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
        await _sleep_async(duration)
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
    await _sleep_async(seconds)
    return {"slept_s": seconds}


def _fail(payload: Any) -> None:
    message = payload.get("message", "failed on purpose") if isinstance(payload, dict) else None
    raise RuntimeError(message or "failed on purpose")


for _name, _sim in SIMULATIONS.items():
    registry.register(_name, _simulated(_name, _sim))
registry.register("sleep", _sleep)
registry.register("async_sleep", _async_sleep)
registry.register("fail", _fail)
