"""Errors as RFC 9457 problem documents (``application/problem+json``)."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, Request
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import JSONResponse

from plinth.core.documents import json_path
from plinth.core.errors import PlinthError

__all__ = ["PROBLEM_BASE", "error_path", "install_problem_handlers", "problem"]

PROBLEM_BASE = "https://plinth.dev/problems/"
MEDIA_TYPE = "application/problem+json"


def problem(status: int, slug: str, title: str, detail: str, **extra: Any) -> JSONResponse:
    """Return a problem+json response."""
    body = {
        "type": PROBLEM_BASE + slug,
        "title": title,
        "status": status,
        "detail": detail,
        **extra,
    }
    return JSONResponse(jsonable_encoder(body), status_code=status, media_type=MEDIA_TYPE)


def error_path(loc: tuple[Any, ...] | list[Any]) -> str:
    """Return the JSON path of a Pydantic error location (``$.samples[1].at``)."""
    return json_path(*(p if isinstance(p, int) else str(p) for p in loc))


def _loc(loc: tuple[Any, ...] | list[Any]) -> str:
    return error_path(loc[1:] if loc and loc[0] in ("body", "query", "path") else loc)


def install_problem_handlers(app: FastAPI) -> None:
    """Map every error to a problem document."""

    @app.exception_handler(PlinthError)
    async def plinth_error(_: Request, exc: PlinthError) -> JSONResponse:
        headers = {"WWW-Authenticate": "Bearer"} if exc.status == 401 else None
        response = problem(exc.status, exc.type, exc.title, exc.detail, **exc.extra)
        if headers:
            response.headers.update(headers)
        return response

    @app.exception_handler(RequestValidationError)
    async def invalid_request(_: Request, exc: RequestValidationError) -> JSONResponse:
        issues = [
            {
                "file": None,
                "document": None,
                "path": f"{e['loc'][0]}:{_loc(e['loc'])}",
                "message": e["msg"],
            }
            for e in exc.errors()
        ]
        first = issues[0]
        return problem(
            422,
            "invalid-input",
            "Invalid input",
            f"{first['path']}: {first['message']}",
            issues=issues,
        )

    @app.exception_handler(StarletteHTTPException)
    async def http_error(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        slug = {404: "not-found", 405: "method-not-allowed", 413: "too-large"}.get(
            exc.status_code, "error"
        )
        return problem(exc.status_code, slug, str(exc.detail), str(exc.detail))

    @app.exception_handler(Exception)
    async def unexpected(_: Request, exc: Exception) -> JSONResponse:
        return problem(
            500, "internal", "Internal error", f"{type(exc).__name__}: the server failed"
        )
