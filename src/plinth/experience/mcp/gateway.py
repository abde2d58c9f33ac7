"""The MCP gateway's virtual server, over Streamable HTTP at ``/gateway/mcp``.

A thin adapter: the SDK's low-level server answers ``tools/list`` and ``tools/call``
by calling ``plinth.orchestration.mcp_gateway.Gateway`` as the authenticated agent.
Tools are named ``<server>__<tool>``. Authentication reuses the ``/mcp`` middleware
(``McpAuth``: Origin check, bearer token, session bound to the agent) with the
audience ``plinth-gateway``; the agent's token stops here and never goes upstream.

Requests refused before any tool runs - bad or missing tokens, a foreign Origin,
malformed JSON-RPC (HTTP 400), bodies over the limit (413) - are recorded in the audit
chain as ``gateway.rejected``. Responses are plain JSON (no SSE stream) for speed.
"""

from __future__ import annotations

import inspect
import json
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from typing import Any, cast

import mcp_types as types
from mcp.server.context import ServerRequestContext
from mcp.server.lowlevel.server import Server
from mcp.server.streamable_http_manager import StreamableHTTPSessionManager
from mcp.server.transport_security import TransportSecuritySettings
from mcp.shared.exceptions import MCPError
from starlette.applications import Starlette
from starlette.routing import Route
from starlette.types import Message, Receive, Scope, Send

from plinth import __version__
from plinth.capabilities.identity.schemas import Actor
from plinth.core.errors import Unauthenticated
from plinth.experience.api.problems import problem
from plinth.experience.mcp.auth import Authenticator, McpAuth, current_actor, own_origins
from plinth.experience.mcp.fast_path import FastToolCalls
from plinth.orchestration.mcp_gateway import Gateway, ToolRefused
from plinth.orchestration.mcp_gateway.token_cache import TokenCache
from plinth.orchestration.platform import Platform

__all__ = [
    "GATEWAY_AUDIENCE",
    "GATEWAY_PATH",
    "GatewayEndpoint",
    "build_gateway_server",
    "gateway_authenticator",
    "mount_gateway",
    "require_gateway_agent",
]

GATEWAY_AUDIENCE = "plinth-gateway"
GATEWAY_PATH = "/gateway/mcp"
_REFUSALS = {
    400: "malformed JSON-RPC request",
    401: "authentication failed",
    403: "forbidden",
    404: "unknown or expired MCP session",
    406: "unacceptable Accept header",
    413: "request body too large",
    415: "unsupported media type",
}


def require_gateway_agent(actor: Actor) -> Actor:
    """Return ``actor`` if it is an agent whose token was issued for ``plinth-gateway``."""
    if actor.kind != "agent":
        raise Unauthenticated(
            f"{actor.name} is a {actor.kind}: the MCP gateway accepts agent tokens only "
            f"(signed tokens for the audience {GATEWAY_AUDIENCE!r})"
        )
    if actor.audience != GATEWAY_AUDIENCE:
        raise Unauthenticated(
            f"the token of agent {actor.name} was not issued for {GATEWAY_AUDIENCE!r}: "
            f"issue a token for {GATEWAY_AUDIENCE!r}"
        )
    return actor


def gateway_authenticator(platform: Platform) -> Authenticator:
    """Return the platform's authentication for the audience ``plinth-gateway``."""
    call = cast(Callable[..., Actor], platform.authenticate)
    takes_audience = "audience" in inspect.signature(call).parameters

    def authenticate(token: str | None) -> Actor:
        return call(token, audience=GATEWAY_AUDIENCE) if takes_audience else call(token)

    return authenticate


def build_gateway_server(gateway: Gateway) -> Server[Any]:
    """Return the low-level MCP server whose tools are the gateway's, per agent."""

    async def list_tools(
        ctx: ServerRequestContext[Any], params: types.PaginatedRequestParams | None
    ) -> types.ListToolsResult:
        return types.ListToolsResult(tools=await gateway.list_tools(current_actor()))

    async def call_tool(
        ctx: ServerRequestContext[Any], params: types.CallToolRequestParams
    ) -> dict[str, Any]:
        try:
            result = await gateway.call_tool(current_actor(), params.name, params.arguments)
        except ToolRefused as exc:
            raise MCPError(types.INVALID_PARAMS, exc.detail) from None
        # The 2026-07-28 revision requires resultType; the legacy sieve drops it again.
        result.setdefault("resultType", "complete")
        return result

    server: Server[Any] = Server(
        "plinth-gateway",
        version=__version__,
        instructions="Plinth MCP gateway: upstream tools named <server>__<tool>.",
        on_list_tools=list_tools,
        # For Mcp-Param-* header checks (2026-07-28) from the cached upstream lists,
        # instead of a whole tools/list per call.
        get_tool_input_schema=gateway.tool_input_schema,
    )
    server.add_request_handler("tools/call", types.CallToolRequestParams, call_tool)
    server.middleware = []  # no per-message tracing span on the hot path
    return server


class GatewayEndpoint:
    """The ``/gateway/mcp`` ASGI app; serve it inside ``running()`` (the app's lifespan).

    ``authenticate`` resolves a bearer token (default: the platform's, for the audience
    ``plinth-gateway``); only agents whose token was issued for that audience pass.
    ``fast_path`` answers ``tools/call`` of open sessions without the SDK's session
    loop (``fast_path.py``); off, the SDK serves every request.
    """

    def __init__(
        self,
        platform: Platform,
        gateway: Gateway,
        *,
        authenticate: Authenticator | None = None,
        allowed_origins: Sequence[str] | None = None,
        fast_path: bool = True,
    ) -> None:
        settings = platform.settings
        self.gateway = gateway
        self.server = build_gateway_server(gateway)
        self.max_body_bytes = settings.max_body_bytes
        self.fast = (
            FastToolCalls(gateway, max_body_bytes=self.max_body_bytes) if fast_path else None
        )
        origins = list(own_origins(settings.host, settings.port)) + list(allowed_origins or ())
        resolve = authenticate or gateway_authenticator(platform)
        self.app = McpAuth(
            self._serve,
            authenticate=lambda token: require_gateway_agent(resolve(token)),
            allowed_origins=origins,
            cache=TokenCache(clock=platform.clock),
        )
        self._manager: StreamableHTTPSessionManager | None = None

    @asynccontextmanager
    async def running(self) -> AsyncIterator[None]:
        """Run the gateway (upstreams, audit writer) and serve sessions while the block runs."""
        manager = StreamableHTTPSessionManager(
            app=self.server,
            json_response=True,
            max_request_body_size=self.max_body_bytes,
            # Origin is checked by McpAuth; the control plane may answer to any host name.
            security_settings=TransportSecuritySettings(enable_dns_rebinding_protection=False),
        )
        async with self.gateway.running(), manager.run():
            self._manager = manager
            try:
                yield
            finally:
                self._manager = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Serve one ASGI request; record refusals in the audit chain."""
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        watched = _Refusals()

        async def watch(message: Message) -> None:
            # Recorded before the last byte goes out, so a client never outruns the record.
            if watched.see(message):
                user = scope.get("user")
                self.gateway.record_rejection(
                    actor=getattr(user, "username", "") or "",
                    reason=_REFUSALS[watched.status],
                    status=watched.status,
                    detail=watched.detail(),
                )
            await send(message)

        await self.app(scope, receive, watch)

    async def _serve(self, scope: Scope, receive: Receive, send: Send) -> None:
        manager = self._manager
        if manager is None:
            response = problem(
                503, "unavailable", "MCP gateway not running", "the MCP gateway is not started"
            )
            await response(scope, receive, send)
            return
        if self.fast is not None:
            passed = await self.fast.serve(manager, current_actor(), scope, receive, send)
            if passed is None:
                return
            receive = passed
        await manager.handle_request(scope, receive, send)


class _Refusals:
    """Watches a response: its status, and the start of its body when it is a refusal."""

    def __init__(self) -> None:
        self.status = 0
        self._body = b""

    def see(self, message: Message) -> bool:
        """Note one message; True once a refusal's body is complete."""
        if message["type"] == "http.response.start":
            self.status = int(message["status"])
        elif message["type"] == "http.response.body" and self.status in _REFUSALS:
            self._body = (self._body + message.get("body", b""))[:2048]
            return not message.get("more_body", False)
        return False

    def detail(self) -> str:
        """Return the refusal's message, from a JSON-RPC error or a problem document."""
        try:
            body = json.loads(self._body)
        except ValueError:
            return self._body.decode("utf-8", "replace")[:500]
        if isinstance(body, dict):
            error = body.get("error")
            if isinstance(error, dict):
                return str(error.get("message", ""))[:500]
            return str(body.get("detail") or body.get("error_description") or error or "")[:500]
        return ""


def mount_gateway(app: Starlette, endpoint: GatewayEndpoint, *, path: str = GATEWAY_PATH) -> None:
    """Serve ``endpoint`` at ``path`` of ``app`` (exactly, no redirect) during its lifespan."""
    app.router.routes.append(Route(path, endpoint=endpoint, include_in_schema=False))
    inner = app.router.lifespan_context

    @asynccontextmanager
    async def lifespan(target: Any) -> AsyncIterator[Any]:
        async with endpoint.running(), inner(target) as state:
            yield state

    app.router.lifespan_context = lifespan
