"""Every error is a JSON body ``{error, message, fields?}`` with a 4xx/503 status — never a
stack trace. Domain errors map to one status each."""

from __future__ import annotations

import logging
import math
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import Match

from skiplock.domain.errors import (
    Conflict,
    Forbidden,
    Invalid,
    NotFound,
    RateLimited,
    TimedOut,
    TooLarge,
    Unavailable,
)
from skiplock.domain.states import InvalidTransition
from skiplock.logs import OutageLog
from skiplock.services.tasks import OverLimit

log = logging.getLogger("skiplock.api")


outage_log = OutageLog(log)


def is_outage(exc: BaseException) -> bool:
    """Whether ``exc`` is a dependency being unreachable rather than a bug: every adapter
    raises ``Unavailable`` for its outages; a call the API bounds itself ends in
    ``TimeoutError``."""
    return isinstance(exc, Unavailable | TimeoutError | ConnectionError)


class FieldError(BaseModel):
    field: str
    message: str


class ErrorOut(BaseModel):
    """The body of every error response."""

    error: str
    message: str
    fields: list[FieldError] | None = None


_DESCRIPTIONS = {
    400: "Malformed request (query parameter, cursor, Content-Length)",
    401: "Missing, unknown or revoked API key",
    403: "A tenant key on an admin route",
    404: "No such resource, or another tenant's",
    409: "The resource's state forbids the action",
    413: "Request body or payload too large",
    422: "Validation failed: out-of-range field, unknown task type, malformed JSON",
    429: "Rate limited; see Retry-After",
    503: "A dependency is unavailable; see Retry-After",
}


def responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI ``responses=`` for these error statuses, all with the error body."""
    return {s: {"model": ErrorOut, "description": _DESCRIPTIONS[s]} for s in statuses}


# FastAPI answers 400 with this detail for a body it cannot decode at all (not UTF-8,
# nested past the parser's recursion limit); the API promises 422 for malformed JSON.
_UNPARSABLE_BODY = "There was an error parsing the body"


_METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE")


def _allowed_methods(request: Request) -> str | None:
    """Every method some route serves at this path. Starlette's 405 names only the first
    partly matching route's methods, and a path may have one route per method; probing
    each method through the public ``matches`` works however the routes are nested."""
    allowed = []
    for method in _METHODS:
        probe = {**request.scope, "method": method}
        if any(route.matches(probe)[0] is Match.FULL for route in request.app.router.routes):
            allowed.append(method)
    return ", ".join(allowed) or None


class ApiError(Exception):
    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        *,
        fields: list[dict[str, str]] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.fields = fields
        self.headers = headers


def error_response(
    status: int,
    code: str,
    message: str,
    *,
    fields: list[dict[str, str]] | None = None,
    headers: dict[str, str] | None = None,
) -> JSONResponse:
    body: dict[str, Any] = {"error": code, "message": message}
    if fields:
        body["fields"] = fields
    return JSONResponse(body, status_code=status, headers=headers)


def answer_outside_routes(exc: Exception) -> JSONResponse | None:
    """The answer to ``exc`` raised before routing (the request guard authenticates
    there, out of reach of the handlers below), or None for a bug to re-raise."""
    if isinstance(exc, ApiError):
        return error_response(exc.status, exc.code, exc.message, headers=exc.headers)
    if isinstance(exc, Unavailable) or is_outage(exc):
        outage_log.warning("503 before routing: %s", exc)
        retry = exc.retry_after_s if isinstance(exc, Unavailable) else 5
        return error_response(
            503,
            "unavailable",
            "temporarily unavailable; retry shortly",
            headers={"Retry-After": str(retry)},
        )
    return None


def _field_name(loc: tuple[Any, ...]) -> str:
    parts = [str(p) for p in loc if p not in ("body", "query", "path", "header")]
    return ".".join(parts) or "body"


_CODES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    409: "conflict",
    413: "payload_too_large",
    415: "unsupported_media_type",
    422: "validation_error",
    429: "rate_limited",
    503: "unavailable",
}


def install(app: FastAPI) -> None:
    @app.exception_handler(ApiError)
    async def _api_error(_: Request, exc: ApiError) -> JSONResponse:
        return error_response(
            exc.status, exc.code, exc.message, fields=exc.fields, headers=exc.headers
        )

    @app.exception_handler(RequestValidationError)
    async def _validation(_: Request, exc: RequestValidationError) -> JSONResponse:
        fields = []
        for err in exc.errors():
            msg = str(err.get("msg", "invalid"))
            field = _field_name(tuple(err.get("loc", ())))
            if err.get("type") == "json_invalid":
                reason = err.get("ctx", {}).get("error", "parse error")
                msg, field = f"request body is not valid JSON ({reason})", "body"
            fields.append({"field": field, "message": msg})
        summary = "; ".join(f"{f['field']}: {f['message']}" for f in fields[:5])
        return error_response(422, "validation_error", summary or "invalid request", fields=fields)

    @app.exception_handler(NotFound)
    async def _not_found(_: Request, exc: NotFound) -> JSONResponse:
        return error_response(404, "not_found", str(exc))

    @app.exception_handler(Conflict)
    async def _conflict(_: Request, exc: Conflict) -> JSONResponse:
        return error_response(409, "conflict", str(exc))

    @app.exception_handler(InvalidTransition)
    async def _transition(_: Request, exc: InvalidTransition) -> JSONResponse:
        return error_response(409, "conflict", str(exc))

    @app.exception_handler(Invalid)
    async def _invalid(_: Request, exc: Invalid) -> JSONResponse:
        fields = [{"field": f.field, "message": f.message} for f in exc.fields] or None
        status = 413 if isinstance(exc, TooLarge) else 422
        return error_response(status, exc.code, str(exc), fields=fields)

    @app.exception_handler(Forbidden)
    async def _forbidden(_: Request, exc: Forbidden) -> JSONResponse:
        return error_response(403, "forbidden", str(exc))

    @app.exception_handler(RateLimited)
    async def _rate_limited(_: Request, exc: RateLimited) -> JSONResponse:
        # A tenant over its limit: its standing goes out in the RateLimit-* headers.
        headers = exc.quota.headers() if isinstance(exc, OverLimit) else {}
        headers["Retry-After"] = str(max(1, math.ceil(exc.retry_after_s)))
        return error_response(429, "rate_limited", str(exc), headers=headers)

    @app.exception_handler(Unavailable)
    async def _unavailable(_: Request, exc: Unavailable) -> JSONResponse:
        # The message (driver errors: host, port, errno) goes to the log, not to clients.
        outage_log.warning("503: %s", exc)
        return error_response(
            503,
            "unavailable",
            "temporarily unavailable; retry shortly",
            headers={"Retry-After": str(exc.retry_after_s)},
        )

    @app.exception_handler(TimedOut)
    async def _timed_out(request: Request, exc: TimedOut) -> JSONResponse:
        log.info("%s %s: %s", request.method, request.url.path, exc)
        return error_response(
            503,
            "unavailable",
            "the query ran past its time limit (SKIPLOCK_ANALYTICS_TIMEOUT_S); narrow the "
            "filters or the window, or retry shortly",
            headers={"Retry-After": str(exc.retry_after_s)},
        )

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        if exc.status_code == 400 and exc.detail == _UNPARSABLE_BODY:
            return error_response(
                422,
                "validation_error",
                "request body is not valid JSON",
                fields=[{"field": "body", "message": "not valid JSON"}],
            )
        headers = dict(getattr(exc, "headers", None) or {})
        if exc.status_code == 405 and (allowed := _allowed_methods(request)):
            headers["Allow"] = allowed
        code = _CODES.get(exc.status_code, "error")
        return error_response(exc.status_code, code, str(exc.detail), headers=headers or None)

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        # Database outages surface as driver errors deep in a call; answer 503 rather
        # than 500 for anything that looks like one, and never leak a traceback.
        if is_outage(exc):
            outage_log.warning("503 on %s %s: %s", request.method, request.url.path, exc)
            return error_response(
                503,
                "unavailable",
                "a dependency is unavailable; retry shortly",
                headers={"Retry-After": "5"},
            )
        log.exception("unexpected error on %s %s", request.method, request.url.path)
        return error_response(500, "internal_error", "internal error; see the server log")
