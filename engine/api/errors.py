"""Every error is a JSON body ``{error, message, fields?}`` with a 4xx/503 status — never a
stack trace. Domain errors map to one status each."""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from engine.domain.errors import Conflict, Invalid, NotFound, Unavailable
from engine.domain.states import InvalidTransition

log = logging.getLogger("skiplock.api")


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
        fields = [{"field": exc.field, "message": str(exc)}] if exc.field else None
        return error_response(422, "validation_error", str(exc), fields=fields)

    @app.exception_handler(Unavailable)
    async def _unavailable(_: Request, exc: Unavailable) -> JSONResponse:
        log.warning("503: %s", exc)
        return error_response(
            503, "unavailable", str(exc), headers={"Retry-After": str(exc.retry_after_s)}
        )

    @app.exception_handler(StarletteHTTPException)
    async def _http(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        code = _CODES.get(exc.status_code, "error")
        return error_response(
            exc.status_code, code, str(exc.detail), headers=getattr(exc, "headers", None)
        )

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        # Database outages surface as driver errors deep in a call; answer 503 rather
        # than 500 for anything that looks like one, and never leak a traceback.
        name = type(exc).__name__
        if name in ("OperationalError", "InterfaceError", "TimeoutError", "ConnectionError"):
            log.warning("503 on %s %s: %s", request.method, request.url.path, exc)
            return error_response(
                503,
                "unavailable",
                "a dependency is unavailable; retry shortly",
                headers={"Retry-After": "5"},
            )
        log.exception("unexpected error on %s %s", request.method, request.url.path)
        return error_response(500, "internal_error", "internal error; see the server log")
