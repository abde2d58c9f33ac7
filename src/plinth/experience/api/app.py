"""The FastAPI application."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import anyio.to_thread
from fastapi import FastAPI
from starlette.datastructures import Headers
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from plinth import __version__
from plinth.core.config import Settings
from plinth.core.errors import PlinthError
from plinth.experience.api.llm import mount_llm
from plinth.experience.api.problems import install_problem_handlers, problem
from plinth.experience.api.routes import router
from plinth.experience.api.routes_agents import router as agents_router
from plinth.experience.api.routes_authz import router as authz_router
from plinth.experience.api.routes_backstage import router as backstage_router
from plinth.experience.api.routes_billing import router as billing_router
from plinth.experience.api.routes_compliance import router as compliance_router
from plinth.experience.api.routes_cost import router as cost_router
from plinth.experience.api.routes_dora import router as dora_router
from plinth.experience.api.routes_events import router as events_router
from plinth.experience.api.routes_gitops import router as gitops_router
from plinth.experience.api.routes_gpus import router as gpus_router
from plinth.experience.api.routes_janitor import router as janitor_router
from plinth.experience.api.routes_kueue import router as kueue_router
from plinth.experience.api.routes_llm import router as llm_router
from plinth.experience.api.routes_models import router as models_router
from plinth.experience.api.routes_policy import router as policy_router
from plinth.experience.api.routes_providers import router as providers_router
from plinth.experience.api.routes_secrets import router as secrets_router
from plinth.experience.api.routes_snapshots import router as snapshots_router
from plinth.experience.api.telemetry import Telemetry, metrics_router
from plinth.experience.mcp import mcp_app, mount
from plinth.experience.mcp.gateway import GATEWAY_PATH, GatewayEndpoint, mount_gateway
from plinth.experience.portal import mount_portal
from plinth.orchestration.platform import Platform

__all__ = ["create_app"]


def create_app(platform: Platform, *, gateway_endpoint: GatewayEndpoint | None = None) -> FastAPI:
    """Build the API around a platform (which the caller starts and stops).

    ``gateway_endpoint`` replaces the default ``/gateway/mcp`` endpoint (the platform's
    gateway), e.g. one with other limits or upstream credentials.
    """
    app = FastAPI(
        title="Plinth",
        version=__version__,
        description="The Plinth control plane API: plan, gate, decide, apply, observe.",
    )
    app.state.platform = platform
    install_problem_handlers(app)
    direct: dict[str, ASGIApp] = {}
    app.add_middleware(_Front, platform=platform, direct=direct)
    app.add_middleware(Telemetry, fixed=direct)  # outermost: spans and request metrics

    @app.get("/healthz", tags=["health"])
    def healthz() -> dict[str, Any]:
        """Liveness: no authentication; ``replica`` says whether this replica leads."""
        replica = platform.leadership.state().as_dict()
        return {"status": "ok", "version": __version__, "replica": replica}

    app.include_router(router)
    app.include_router(cost_router)
    app.include_router(billing_router)
    app.include_router(compliance_router)
    app.include_router(janitor_router)
    app.include_router(secrets_router)
    app.include_router(snapshots_router)
    app.include_router(agents_router)
    app.include_router(models_router)
    app.include_router(authz_router)
    app.include_router(policy_router)
    app.include_router(providers_router)
    app.include_router(gpus_router)
    app.include_router(kueue_router)
    app.include_router(llm_router)
    app.include_router(dora_router)
    app.include_router(events_router)
    app.include_router(metrics_router)  # GET /metrics (Prometheus)
    app.include_router(backstage_router)
    app.include_router(gitops_router)
    # the portal: /portal, and / redirects there; demo login follows seed_demo unless set
    mount_portal(app, platform, demo_login=platform.settings.portal_demo_login)
    mcp_endpoint = mcp_app(platform)
    gateway = gateway_endpoint or GatewayEndpoint(platform, platform.gateway)
    mount(app, mcp_endpoint)
    mount_gateway(app, gateway)
    # The MCP endpoints check their own bodies and tokens: served ahead of the API's stack.
    direct.update({"/mcp": mcp_endpoint, GATEWAY_PATH: gateway})
    mount_llm(app, direct, platform.llm.gateway)  # /v1: the OpenAI-compatible AI gateway
    return app


_BULK_PATHS = ("/api/v1/usage", "/api/v1/cost/import")


class _Front:
    """Pure ASGI middleware: MCP endpoints first, then API authentication, then body limits.

    Authentication runs before the body is read, so a bad body never hides a bad token.
    """

    def __init__(self, app: ASGIApp, *, platform: Platform, direct: Mapping[str, ASGIApp]) -> None:
        self.app = app
        self.platform = platform
        self.settings: Settings = platform.settings
        self.direct = direct

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Serve one request (or pass a non-HTTP event on)."""
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path: str = scope["path"]
        endpoint = self.direct.get(path)
        if endpoint is not None:
            await endpoint(scope, receive, send)
            return
        if path.startswith("/api/") and not await self._authenticate(scope, receive, send):
            return
        await self._limited(scope, receive, send, path)

    async def _authenticate(self, scope: Scope, receive: Receive, send: Send) -> bool:
        scheme, _, token = Headers(scope=scope).get("authorization", "").partition(" ")
        bearer = token.strip() if scheme.lower() == "bearer" else None
        try:
            actor = await anyio.to_thread.run_sync(self.platform.authenticate, bearer)
        except PlinthError as exc:
            response = problem(exc.status, exc.type, exc.title, exc.detail)
            response.headers["WWW-Authenticate"] = "Bearer"
            await response(scope, receive, send)
            return False
        scope.setdefault("state", {})["actor"] = actor
        return True

    async def _limited(self, scope: Scope, receive: Receive, send: Send, path: str) -> None:
        # Usage batches and billing files are bulk uploads with their own, larger limit.
        bulk = path in _BULK_PATHS or (
            path.startswith("/api/v1/models/") and path.endswith("/versions")
        )
        limit = self.settings.max_upload_bytes if bulk else self.settings.max_body_bytes
        too_large = problem(
            413,
            "too-large",
            "Request body too large",
            f"the body is larger than the limit of {limit} bytes",
        )
        length = Headers(scope=scope).get("content-length")
        if length is not None and (not length.isdigit() or int(length) > limit):
            await too_large(scope, receive, send)
            return
        if length is None and scope["method"] in ("POST", "PUT", "PATCH"):
            messages, size = await _read_body(receive)
            if size > limit:
                await too_large(scope, receive, send)
                return
            receive = _replay(messages, receive)
        await self.app(scope, receive, send)


async def _read_body(receive: Receive) -> tuple[list[Message], int]:
    """Read a whole request body; return its messages and its size."""
    messages: list[Message] = []
    size = 0
    while True:
        message = await receive()
        messages.append(message)
        if message["type"] != "http.request":
            return messages, size
        size += len(message.get("body", b""))
        if not message.get("more_body", False):
            return messages, size


def _replay(messages: list[Message], receive: Receive) -> Receive:
    """Return a ``receive`` that yields ``messages`` again, then defers to ``receive``."""
    pending = list(messages)

    async def replay() -> Message:
        return pending.pop(0) if pending else await receive()

    return replay
