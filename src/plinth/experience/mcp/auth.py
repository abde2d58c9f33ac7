"""Who is calling the MCP server: Origin check, bearer authentication, the current actor.

Every HTTP request to ``/mcp`` passes here before the MCP SDK sees it:

1. A browser's ``Origin`` must be the server's own or a configured one (403
   otherwise), so a web page cannot drive a local control plane through the
   user's browser (DNS rebinding). Requests without ``Origin`` (agents, CLIs)
   pass.
2. The bearer token must belong to an agent and be issued for the audience
   ``plinth-mcp`` (401 with ``WWW-Authenticate`` otherwise). Human tokens are
   refused: humans use the API, the CLI or the portal, so an agent's calls are
   always made under the agent's own identity and envelope.
3. A verified token is remembered (``TokenCache``) until it expires, for at most a
   second, and only until identity data (tokens, agents, grants) changes in this
   process, so revocation still takes effect on the next request.
4. The actor is put in a context variable that the tools read, and in the
   ASGI scope as the SDK's ``AuthenticatedUser`` so that a session can only be
   used with the credential of the agent that opened it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from typing import cast

import anyio.to_thread
from mcp.server.auth.middleware.bearer_auth import AuthenticatedUser
from mcp.server.auth.provider import AccessToken
from starlette.datastructures import Headers
from starlette.types import ASGIApp, Receive, Scope, Send

from plinth.capabilities.identity.schemas import Actor
from plinth.core.errors import Forbidden, PlinthError, Unauthenticated
from plinth.experience.api.problems import problem
from plinth.orchestration.mcp_gateway.token_cache import TokenCache
from plinth.orchestration.platform import Platform

__all__ = [
    "MCP_AUDIENCE",
    "Authenticator",
    "McpAuth",
    "acting_as",
    "current_actor",
    "own_origins",
    "platform_authenticator",
]

MCP_AUDIENCE = "plinth-mcp"
Authenticator = Callable[[str | None], Actor]
_LOOPBACK = ("127.0.0.1", "localhost", "[::1]")

# Resolves the caller: over HTTP the actor each request authenticated as; over stdio
# a function that checks the token again on every call (revocation is immediate).
_actor: ContextVar[Callable[[], Actor] | None] = ContextVar("plinth_mcp_actor", default=None)


def current_actor() -> Actor:
    """Return the actor of the MCP request being served, or raise Unauthenticated."""
    resolve = _actor.get()
    if resolve is None:
        raise Unauthenticated("no authenticated agent for this MCP call")
    return resolve()


@contextmanager
def acting_as(resolve: Callable[[], Actor]) -> Iterator[None]:
    """Make ``resolve()`` the current actor of every MCP call inside the block."""
    token = _actor.set(resolve)
    try:
        yield
    finally:
        _actor.reset(token)


def own_origins(host: str, port: int) -> list[str]:
    """Return the browser origins of a server listening on ``host:port``."""
    names = _LOOPBACK if host in ("0.0.0.0", "::", "::1", *_LOOPBACK) else (host,)
    return [f"{scheme}://{name}:{port}" for scheme in ("http", "https") for name in names]


def platform_authenticator(platform: Platform) -> Authenticator:
    """Return a function that resolves a bearer token to an agent allowed on ``/mcp``."""
    # Platform.authenticate checks signatures, audience, expiry and revocation.
    call = cast(Callable[..., Actor], platform.authenticate)

    def authenticate(token: str | None) -> Actor:
        return require_mcp_agent(call(token, audience=MCP_AUDIENCE))

    return authenticate


def require_mcp_agent(actor: Actor) -> Actor:
    """Return ``actor`` if it is an agent whose token was issued for ``plinth-mcp``."""
    if actor.kind != "agent":
        raise Unauthenticated(
            f"{actor.name} is a {actor.kind}: this MCP server accepts agent tokens only "
            f"(signed tokens for the audience {MCP_AUDIENCE!r}); humans use the API, CLI or portal"
        )
    if actor.audience != MCP_AUDIENCE:
        audience = actor.audience
        issued_for = f"the audience {audience!r}" if audience else "no audience (an opaque token)"
        raise Unauthenticated(
            f"the token of agent {actor.name} was issued for {issued_for}, not {MCP_AUDIENCE!r}: "
            f"issue a token for {MCP_AUDIENCE!r}"
        )
    return actor


class McpAuth:
    """ASGI middleware in front of the MCP endpoint: Origin check, then bearer authentication."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        authenticate: Authenticator,
        allowed_origins: Sequence[str],
        cache: TokenCache | None = None,
    ) -> None:
        self.app = app
        self.authenticate = authenticate
        self.allowed_origins = frozenset(o.rstrip("/").lower() for o in allowed_origins)
        self.cache = cache

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Serve one request: refuse it, or pass it on with the actor set."""
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = Headers(scope=scope)
        origin = headers.get("origin")
        if origin is not None and origin.rstrip("/").lower() not in self.allowed_origins:
            refusal = Forbidden(
                f"requests from the browser origin {origin!r} are not allowed; "
                "allowed origins are the server's own and those configured"
            )
            await _refuse(refusal)(scope, receive, send)
            return
        token = _bearer(headers)
        cache = self.cache
        actor = cache.get(token) if cache is not None and token else None
        if actor is None:
            checked_at = cache.generation() if cache is not None else 0
            try:
                actor = await anyio.to_thread.run_sync(self.authenticate, token)
            except PlinthError as exc:
                await _refuse(exc, token_sent=token is not None)(scope, receive, send)
                return
            if cache is not None and token:
                cache.put(token, actor, checked_at_generation=checked_at)
        scope["user"] = AuthenticatedUser(
            AccessToken(
                token="",
                client_id=actor.name,
                scopes=list(actor.scopes),
                subject=actor.id,
            )
        )
        with acting_as(lambda: actor):
            await self.app(scope, receive, send)


def _bearer(headers: Headers) -> str | None:
    value = headers.get("authorization", "")
    scheme, _, token = value.partition(" ")
    return (token.strip() or None) if scheme.lower() == "bearer" else None


def _refuse(exc: PlinthError, *, token_sent: bool = False) -> ASGIApp:
    response = problem(exc.status, exc.type, exc.title, exc.detail, **exc.extra)
    if exc.status == 401:
        # RFC 6750: no error code when no credentials were sent at all.
        challenge = f'Bearer realm="{MCP_AUDIENCE}"'
        if token_sent:
            description = exc.detail.encode("ascii", "replace").decode().replace('"', "'")
            challenge += f', error="invalid_token", error_description="{description}"'
        response.headers["WWW-Authenticate"] = challenge
    return response
