"""A lean path for the gateway's hottest request: ``tools/call`` in an open session.

The SDK serves a request of a 2025-era session by passing it through memory streams
to the session's message loop and back, which costs milliseconds per call. For the one
request that matters for latency - a POST carrying a single JSON-RPC ``tools/call``
of a session the SDK opened, in JSON-response mode - this module answers it directly:
the same checks the SDK makes (the session exists, belongs to the same credential and
is live; Accept and Content-Type), the gateway's pipeline, and the same wire answer
(the result shaped by the SDK's own per-version serializer, the ``Mcp-Session-Id``
header). Anything else - ``initialize``, ``tools/list``, notifications, batches, a
2026-07-28 request, a request the SDK would refuse - goes to the SDK unchanged, with
its body replayed. The SDK version is pinned; the end-to-end tests with the official
client in both protocol modes cover this path.
"""

from __future__ import annotations

import json
from typing import Any

import anyio
import mcp_types as types
from mcp.server.auth.middleware.bearer_auth import AuthenticatedUser, authorization_context
from mcp.server.streamable_http import check_accept_headers
from mcp.server.streamable_http_manager import StreamableHTTPSessionManager
from mcp_types import methods
from mcp_types.version import HANDSHAKE_PROTOCOL_VERSIONS
from starlette.requests import Request
from starlette.types import Message, Receive, Scope, Send

from plinth.capabilities.identity.schemas import Actor
from plinth.orchestration.mcp_gateway import Gateway, ToolRefused

__all__ = ["FastToolCalls"]

_PARAMS = frozenset({"name", "arguments", "_meta"})


def _headers(scope: Scope) -> dict[bytes, bytes]:
    return dict(scope["headers"])


def _call_of(body: bytes) -> tuple[Any, str, dict[str, Any] | None] | None:
    """Return (id, tool, arguments) when ``body`` is one plain tools/call request."""
    try:
        message = json.loads(body)
    except (ValueError, RecursionError):
        return None
    if not isinstance(message, dict) or message.get("method") != "tools/call":
        return None
    if message.get("jsonrpc") != "2.0" or set(message) - {"jsonrpc", "id", "method", "params"}:
        return None
    request_id = message.get("id")
    if isinstance(request_id, bool) or not isinstance(request_id, int | str):
        return None
    params = message.get("params")
    if not isinstance(params, dict) or set(params) - _PARAMS:
        return None
    name, arguments, meta = params.get("name"), params.get("arguments"), params.get("_meta")
    if not isinstance(name, str) or not (arguments is None or isinstance(arguments, dict)):
        return None
    if meta is not None and (not isinstance(meta, dict) or "progressToken" in meta):
        return None
    return request_id, name, arguments


class FastToolCalls:
    """Answers ``tools/call`` POSTs of open 2025-era sessions without the session loop."""

    def __init__(self, gateway: Gateway, *, max_body_bytes: int) -> None:
        self.gateway = gateway
        self.max_body_bytes = max_body_bytes
        self.answered = 0  # requests this path answered (the rest went to the SDK)

    def _transport(
        self, manager: StreamableHTTPSessionManager, scope: Scope, headers: dict[bytes, bytes]
    ) -> tuple[Any, str, str] | None:
        """Return (transport, session id, protocol version) when the SDK would serve it."""
        if scope["method"] != "POST":
            return None
        session_id = headers.get(b"mcp-session-id", b"").decode("latin-1")
        version = headers.get(b"mcp-protocol-version", b"").decode("latin-1")
        if not session_id or version not in HANDSHAKE_PROTOCOL_VERSIONS:
            return None
        content_type = headers.get(b"content-type", b"").decode("latin-1")
        if content_type.split(";")[0].strip().lower() != "application/json":
            return None
        if not check_accept_headers(Request(scope))[0]:
            return None
        transport = manager._server_instances.get(session_id)
        user = scope.get("user")
        if transport is None or not isinstance(user, AuthenticatedUser):
            return None
        if authorization_context(user) != manager._session_owners.get(session_id):
            return None
        idle = transport.idle_scope
        if transport.is_terminated or (idle is not None and idle.cancel_called):
            return None
        return transport, session_id, version

    async def serve(
        self,
        manager: StreamableHTTPSessionManager,
        actor: Actor,
        scope: Scope,
        receive: Receive,
        send: Send,
    ) -> Receive | None:
        """Answer the request and return None, or return the ``receive`` to pass it on with."""
        headers = _headers(scope)
        found = self._transport(manager, scope, headers)
        if found is None:
            return receive
        length = headers.get(b"content-length", b"")
        if not length.isdigit() or int(length) > self.max_body_bytes:
            return receive
        messages, body = await _read(receive)
        call = _call_of(body) if body is not None else None
        if call is None:
            return _replay(messages, receive)
        transport, session_id, version = found
        self.answered += 1
        await self._answer(transport, session_id, version, actor, call, send)
        return None

    async def _answer(
        self,
        transport: Any,
        session_id: str,
        version: str,
        actor: Actor,
        call: tuple[Any, str, dict[str, Any] | None],
        send: Send,
    ) -> None:
        request_id, name, arguments = call
        idle, timeout = transport.idle_scope, getattr(transport, "_idle_timeout", None)
        if idle is not None and timeout is not None:  # the session is in use: no idle expiry
            transport._requests_in_flight += 1
            idle.deadline = float("inf")
        try:
            message = await self._message(actor, request_id, name, arguments, version)
        finally:
            if idle is not None and timeout is not None:
                transport._requests_in_flight -= 1
                if not transport._requests_in_flight:
                    idle.deadline = anyio.current_time() + timeout
        body = json.dumps(message, ensure_ascii=False, separators=(",", ":")).encode()
        await send(
            {
                "type": "http.response.start",
                "status": 200,
                "headers": [
                    (b"content-length", str(len(body)).encode()),
                    (b"content-type", b"application/json"),
                    (b"mcp-session-id", session_id.encode("latin-1")),
                ],
            }
        )
        await send({"type": "http.response.body", "body": body})

    async def _message(
        self,
        actor: Actor,
        request_id: Any,
        name: str,
        arguments: dict[str, Any] | None,
        version: str,
    ) -> dict[str, Any]:
        try:
            result = await self.gateway.call_tool(actor, name, arguments)
        except ToolRefused as exc:
            error = {"code": types.INVALID_PARAMS, "message": exc.detail}
            return {"jsonrpc": "2.0", "id": request_id, "error": error}
        result.setdefault("resultType", "complete")
        try:
            shaped = methods.serialize_server_result("tools/call", version, result)
        except ValueError:
            error = {"code": types.INTERNAL_ERROR, "message": "Handler returned an invalid result"}
            return {"jsonrpc": "2.0", "id": request_id, "error": error}
        return {"jsonrpc": "2.0", "id": request_id, "result": shaped}


async def _read(receive: Receive) -> tuple[list[Message], bytes | None]:
    """Read the whole body; None as the body when the stream ended early."""
    messages: list[Message] = []
    chunks: list[bytes] = []
    while True:
        message = await receive()
        messages.append(message)
        if message["type"] != "http.request":
            return messages, None
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            return messages, b"".join(chunks)


def _replay(messages: list[Message], receive: Receive) -> Receive:
    """Return a ``receive`` that yields ``messages`` again, then defers to ``receive``."""
    pending = list(messages)

    async def replay() -> Message:
        return pending.pop(0) if pending else await receive()

    return replay
