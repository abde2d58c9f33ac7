"""HTTP telemetry: a server span and request metrics per request, and ``GET /metrics``.

``Telemetry`` is pure ASGI and sits outside every other middleware. With tracing
off (the default) a request costs one flag check plus a counter and a histogram
observation; no span, header parsing or context is touched. Requests are labelled
by route template (``/api/v1/workloads/{name}``), by the path for the fixed
endpoints served ahead of the router (``/mcp``, ``/gateway/mcp``, ``/v1/...``),
and as ``unmatched`` otherwise, so labels never grow with raw paths.
"""

from __future__ import annotations

import hmac
import time
from collections.abc import Mapping

import anyio.to_thread
from fastapi import APIRouter, Request, Response
from prometheus_client import Counter, Histogram
from starlette.datastructures import Headers
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from plinth.core import metrics, tracing
from plinth.experience.api.deps import PlatformDep, bearer_token
from plinth.experience.api.problems import problem

__all__ = ["Telemetry", "metrics_router"]

metrics_router = APIRouter(tags=["health"])


def _route(scope: Scope, fixed: Mapping[str, object]) -> str:
    route = scope.get("route")
    template = getattr(route, "path_format", None) or getattr(route, "path", None)
    if isinstance(template, str):
        return template
    path: str = scope["path"]
    return path if path in fixed else "unmatched"


class Telemetry:
    """Pure ASGI middleware: a server span (when tracing is on) and request metrics."""

    def __init__(self, app: ASGIApp, *, fixed: Mapping[str, object]) -> None:
        self.app = app
        self.fixed = fixed
        self._children: dict[tuple[str, str, int], tuple[Counter, Histogram]] = {}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Serve one request, measuring it."""
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500

        async def sending(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            if tracing.enabled():
                await self._traced(scope, receive, sending)
            else:
                await self.app(scope, receive, sending)
        finally:
            key = (scope["method"], _route(scope, self.fixed), status)
            children = self._children.get(key)
            if children is None:  # labels() costs microseconds: look each set up once
                method, route = key[0], key[1]
                children = (
                    metrics.HTTP_REQUESTS.labels(method, route, str(status)),
                    metrics.HTTP_DURATION.labels(method, route),
                )
                if len(self._children) < 10_000:
                    self._children[key] = children
            children[0].inc()
            children[1].observe(time.perf_counter() - started)

    async def _traced(self, scope: Scope, receive: Receive, send: Send) -> None:
        parent = tracing.extract(Headers(scope=scope))
        attributes = {"http.request.method": scope["method"], "url.path": scope["path"]}
        with tracing.span(
            f"{scope['method']} {scope['path']}",
            attributes,
            parent=parent,
            kind=tracing.SpanKind.SERVER,
        ) as current:
            status = 500

            async def sending(message: Message) -> None:
                nonlocal status
                if message["type"] == "http.response.start":
                    status = message["status"]
                await send(message)

            try:
                await self.app(scope, receive, sending)
            finally:
                if current is not None:
                    route = _route(scope, self.fixed)
                    current.update_name(f"{scope['method']} {route}")
                    current.set_attribute("http.route", route)
                    current.set_attribute("http.response.status_code", status)


@metrics_router.get("/metrics", include_in_schema=False)
async def scrape(request: Request, platform: PlatformDep) -> Response:
    """Prometheus text exposition; needs ``metrics_token`` as a bearer token when set."""
    wanted = platform.settings.metrics_token
    if wanted:
        given = bearer_token(request)
        if given is None or not hmac.compare_digest(given.encode(), wanted.encode()):
            refused = problem(
                401, "unauthenticated", "Unauthenticated", "/metrics needs the metrics token"
            )
            refused.headers["WWW-Authenticate"] = "Bearer"
            return refused
    waiting, failed = await anyio.to_thread.run_sync(platform.events.backlog)
    metrics.OUTBOX_BACKLOG.set(waiting)
    metrics.DELIVERIES_FAILED.set(failed)
    metrics.LEADER.set(1 if platform.leadership.is_leader else 0)
    return Response(metrics.exposition(), media_type=metrics.CONTENT_TYPE)
