"""The FastAPI application."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from fastapi import FastAPI, Request, Response
from starlette.concurrency import run_in_threadpool

from plinth import __version__
from plinth.core.errors import PlinthError
from plinth.experience.api.deps import bearer_token
from plinth.experience.api.problems import install_problem_handlers, problem
from plinth.experience.api.routes import router
from plinth.experience.api.routes_billing import router as billing_router
from plinth.experience.api.routes_cost import router as cost_router
from plinth.experience.api.routes_janitor import router as janitor_router
from plinth.orchestration.platform import Platform

__all__ = ["create_app"]


def create_app(platform: Platform) -> FastAPI:
    """Build the API around a platform (which the caller starts and stops)."""
    app = FastAPI(
        title="Plinth",
        version=__version__,
        description="The Plinth control plane API: plan, gate, decide, apply, observe.",
    )
    app.state.platform = platform
    install_problem_handlers(app)
    settings = platform.settings
    bulk_paths = ("/api/v1/usage", "/api/v1/cost/import")

    @app.middleware("http")
    async def limit_body(
        request: Request, call_next: Callable[[Request], Awaitable[Response]]
    ) -> Response:
        # Usage batches and billing files are bulk uploads with their own, larger limit.
        bulk = request.url.path in bulk_paths
        limit = settings.max_upload_bytes if bulk else settings.max_body_bytes
        too_large = problem(
            413,
            "too-large",
            "Request body too large",
            f"the body is larger than the limit of {limit} bytes",
        )
        length = request.headers.get("content-length")
        if length is not None and (not length.isdigit() or int(length) > limit):
            return too_large
        chunked = length is None and request.method in ("POST", "PUT", "PATCH")
        if chunked and len(await request.body()) > limit:
            return too_large
        return await call_next(request)

    @app.middleware("http")
    async def authenticate(
        request: Request, call_next: Callable[[Request], Awaitable[Response]]
    ) -> Response:
        # Authenticate before the body is parsed, so a bad body never hides a bad token.
        if request.url.path.startswith("/api/"):
            try:
                request.state.actor = await run_in_threadpool(
                    platform.authenticate, bearer_token(request)
                )
            except PlinthError as exc:
                response = problem(exc.status, exc.type, exc.title, exc.detail)
                response.headers["WWW-Authenticate"] = "Bearer"
                return response
        return await call_next(request)

    @app.get("/healthz", tags=["health"])
    def healthz() -> dict[str, Any]:
        """Liveness: no authentication."""
        return {"status": "ok", "version": __version__}

    app.include_router(router)
    app.include_router(cost_router)
    app.include_router(billing_router)
    app.include_router(janitor_router)
    return app
