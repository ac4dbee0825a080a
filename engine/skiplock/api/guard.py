"""The request guard: plain ASGI middleware in front of every route.

Policy, in the order it is applied:

1. ``Content-Length`` is checked against the route's body limit before anything is
   read: a batch may be up to ``SKIPLOCK_MAX_BODY_BYTES``, sign-in a few KiB, anything
   else ``SKIPLOCK_MAX_TASK_BODY_BYTES`` (a single task at the payload limit fits).
2. A request to ``/api/*`` that carries a body is authenticated from its headers
   before one byte of the body is read (sign-in, whose body is the key, excepted), so a
   caller without a key costs a header parse and a cached key lookup, never a body.
3. A body is counted as it streams in (``Content-Length`` or not) and cut off at the
   limit, and at ``SKIPLOCK_MAX_JSON_VALUES`` structural characters (see
   :mod:`skiplock.api.bodies`), so no request makes the server hold more than its
   route's limit or parse more values than that.

Plain ASGI rather than ``@app.middleware``: it sees the body chunk by chunk and does not
buffer streaming responses (SSE)."""

from __future__ import annotations

from starlette.datastructures import Headers, MutableHeaders
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from skiplock.api import auth, bodies, errors
from skiplock.api.context import ApiContext

BATCH_PATH = "/api/tasks/batch"
SESSION_PATH = "/api/session"
# Sign-in carries one key (at most 256 characters) in a small JSON object.
SESSION_BODY_LIMIT = 4096


class BodyTooLarge(HTTPException):
    """Raised from ``receive`` once a body passes a limit; FastAPI re-raises HTTP
    exceptions met while it reads a body, so the error handlers answer 413."""

    def __init__(self, message: str) -> None:
        super().__init__(413, message)


def _has_body(headers: Headers) -> bool:
    declared = headers.get("content-length")
    if declared is not None:
        return int(declared) > 0
    return "chunked" in headers.get("transfer-encoding", "").lower()


class Guard:
    """Body limits per route, authentication before the body, and API response headers."""

    def __init__(self, app: ASGIApp, *, ctx: ApiContext) -> None:
        self.app = app
        self.ctx = ctx

    def limit_for(self, method: str, path: str) -> int:
        config = self.ctx.config
        if path == BATCH_PATH:
            return config.max_body_bytes
        if path == SESSION_PATH and method == "POST":
            return SESSION_BODY_LIMIT
        return min(config.max_task_body_bytes, config.max_body_bytes)

    async def _refusal(self, scope: Scope, route_path: str, limit: int) -> JSONResponse | None:
        """The answer to give without reading the body, if any."""
        headers = Headers(scope=scope)
        declared = headers.get("content-length")
        if declared is not None and not (declared.isascii() and declared.isdigit()):
            return errors.error_response(400, "bad_request", "invalid Content-Length")
        if route_path.startswith("/api/") and route_path != SESSION_PATH and _has_body(headers):
            try:
                await auth.authenticate(self.ctx, Request(scope))
            except Exception as exc:
                answer = errors.answer_outside_routes(exc)
                if answer is None:
                    raise
                return answer
        if declared is not None and int(declared) > limit:
            return errors.error_response(
                413, "payload_too_large", f"request body over {limit} bytes"
            )
        return None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        # The path as the routes see it: behind a proxy (SKIPLOCK_ROOT_PATH) the ASGI
        # path still carries the root path in front.
        path, root = str(scope.get("path", "")), str(scope.get("root_path", ""))
        route_path = path.removeprefix(root)
        is_api = route_path.startswith("/api/")
        limit = self.limit_for(str(scope.get("method", "GET")), route_path)
        started = False

        async def send_guarded(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
                if is_api:
                    headers = MutableHeaders(scope=message)
                    headers.setdefault("Cache-Control", "no-store")
                    headers.setdefault("X-Content-Type-Options", "nosniff")
            await send(message)

        refusal = await self._refusal(scope, route_path, limit)
        if refusal is not None:
            # The connection stays open: the server reads and discards whatever of the
            # body the client still sends (no memory held), so a client that writes its
            # whole body before reading still gets this answer rather than a reset.
            await refusal(scope, receive, send_guarded)
            return

        seen = values = 0
        max_values = self.ctx.config.max_json_values

        async def receive_limited() -> Message:
            nonlocal seen, values
            message = await receive()
            if message["type"] == "http.request":
                chunk = message.get("body", b"")
                seen += len(chunk)
                if seen > limit:
                    raise BodyTooLarge(f"request body over {limit} bytes")
                values += bodies.count_values(chunk)
                if values > max_values:
                    raise BodyTooLarge(
                        f"request body holds more than {max_values} JSON values "
                        "(SKIPLOCK_MAX_JSON_VALUES); split it"
                    )
            return message

        try:
            await self.app(scope, receive_limited, send_guarded)
        except BodyTooLarge as exc:
            # Read outside FastAPI's body parsing (no handler saw it): answer here.
            if started:
                raise
            response = errors.error_response(413, "payload_too_large", str(exc.detail))
            await response(scope, receive, send_guarded)
