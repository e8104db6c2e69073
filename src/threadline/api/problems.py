"""RFC 9457 problem details (``application/problem+json``) for every error the API returns."""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from threadline.store.errors import StoreError, StoreUnavailable

log = logging.getLogger("threadline.api")
PROBLEM_JSON = "application/problem+json"
_TITLES = {400: "Bad Request", 401: "Unauthorized", 403: "Forbidden", 404: "Not Found", 405: "Method Not Allowed",
           409: "Conflict", 413: "Content Too Large", 415: "Unsupported Media Type", 422: "Unprocessable Content",
           429: "Too Many Requests", 500: "Internal Server Error", 503: "Service Unavailable"}


class Problem(Exception):
    """Raise to answer with a problem document: ``status`` (HTTP), ``detail`` (a sentence a person can act on),
    optional ``errors`` (a list of field errors) and headers (e.g. Retry-After)."""

    def __init__(self, status: int, detail: str, *, errors: list[dict[str, Any]] | None = None,
                 headers: dict[str, str] | None = None) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail
        self.errors = errors
        self.headers = headers or {}


def problem_response(status: int, detail: str, *, instance: str = "", errors: list[dict[str, Any]] | None = None,
                     headers: dict[str, str] | None = None, extensions: dict[str, Any] | None = None) -> JSONResponse:
    """A problem+json response; ``extensions`` adds members (RFC 9457, "Extension Members"), e.g. the ``error``
    member a client reads its message from."""
    body: dict[str, Any] = {**(extensions or {}), "type": "about:blank", "title": _TITLES.get(status, "Error"),
                            "status": status, "detail": detail}
    if instance:
        body["instance"] = instance
    if errors:
        body["errors"] = errors
    return JSONResponse(body, status_code=status, media_type=PROBLEM_JSON, headers=headers)


def _field_errors(exc: RequestValidationError) -> list[dict[str, Any]]:
    return [{"location": ".".join(str(p) for p in err.get("loc", ())), "message": err.get("msg", ""),
             "type": err.get("type", "")} for err in exc.errors()]


def install(app: FastAPI) -> None:
    """Register handlers so that every error, validation errors included, is problem+json (never a stack trace)."""

    @app.exception_handler(Problem)
    async def _problem(request: Request, exc: Problem) -> JSONResponse:
        return problem_response(exc.status, exc.detail, instance=request.url.path, errors=exc.errors,
                                headers=exc.headers)

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        detail = exc.detail if isinstance(exc.detail, str) else str(exc.detail)
        if exc.status_code == 404 and detail == "Not Found":
            detail = f"there is no endpoint at {request.url.path}; see /docs for the API"
        return problem_response(exc.status_code, detail, instance=request.url.path,
                                headers=dict(exc.headers or {}))

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError) -> JSONResponse:
        errors = _field_errors(exc)
        first = errors[0] if errors else {"location": "request", "message": "invalid"}
        detail = f"the request is invalid: {first['location']}: {first['message']}"
        if len(errors) > 1:
            detail += f" (and {len(errors) - 1} more error(s), listed in 'errors')"
        return problem_response(422, detail, instance=request.url.path, errors=errors)

    @app.exception_handler(StoreUnavailable)
    async def _unavailable(request: Request, exc: StoreUnavailable) -> JSONResponse:
        log.error("store unavailable during %s: %s", exc.tag, exc)
        return problem_response(503, "the store is unavailable; retry shortly", instance=request.url.path,
                                headers={"Retry-After": "1"})

    @app.exception_handler(StoreError)
    async def _store(request: Request, exc: StoreError) -> JSONResponse:
        log.error("store error during %s: %s", exc.tag, exc)
        return problem_response(500, "the server failed to run a query; the error is in the server log",
                                instance=request.url.path)

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        log.exception("unhandled error on %s", request.url.path)
        return problem_response(500, "the server failed unexpectedly; the error is in the server log",
                                instance=request.url.path)
