"""Skiplock: a distributed background job engine.

User code registers task handlers with :func:`handler`::

    from engine import handler

    @handler("resize_image")
    def resize(payload: dict, ctx) -> dict: ...
"""

from engine.handlers import HandlerContext, handler

__all__ = ["HandlerContext", "handler"]
__version__ = "0.1.0"
