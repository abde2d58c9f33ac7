"""The OpenAI-compatible endpoints, served ahead of the API's stack (pure ASGI).

``POST /v1/chat/completions`` (``stream: true`` as server-sent events),
``POST /v1/embeddings`` and ``GET /v1/models``, authenticated by a Plinth LLM key
(``plk-...``) or an agent's JWT for the audience ``plinth-gateway``. Errors are OpenAI's
``{"error": {...}}`` documents. The request body is read with its own limit before it
is parsed; a stream is watched for the client leaving (``http.disconnect``), and is
metered once either way (``ChatStream.close``).
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any

import anyio
from starlette.applications import Starlette
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from plinth.orchestration.llm_gateway import (
    Caller,
    ChatStream,
    LlmError,
    LlmGateway,
    complete,
    dumps,
    embed,
    parse_chat,
    parse_embeddings,
)

__all__ = ["LLM_PATHS", "LlmEndpoints", "mount_llm"]

log = logging.getLogger(__name__)

LLM_PATHS = ("/v1/chat/completions", "/v1/embeddings", "/v1/models")
_INTERNAL = LlmError(
    500,
    "the gateway failed; nothing was sent upstream after the failure",
    type="server_error",
    code="internal_error",
)
_JSON = [(b"content-type", b"application/json")]
_SSE = [
    (b"content-type", b"text/event-stream"),
    (b"cache-control", b"no-cache"),
    (b"x-accel-buffering", b"no"),
]


async def _send_json(send: Send, status: int, body: bytes, extra: list[Any] | None = None) -> None:
    headers = [*_JSON, (b"content-length", str(len(body)).encode()), *(extra or [])]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


async def _error(send: Send, error: LlmError) -> None:
    extra = [(b"www-authenticate", b"Bearer")] if error.status == 401 else None
    await _send_json(send, error.status, error.body(), extra)


def _token(scope: Scope) -> str | None:
    for name, value in scope["headers"]:
        if name == b"authorization":
            scheme, _, token = value.decode("latin-1").partition(" ")
            return token.strip() if scheme.lower() == "bearer" else None
    return None


async def _body(scope: Scope, receive: Receive, limit: int) -> bytes:
    """Read the request body; raise a 400 LlmError when it is larger than ``limit``."""
    too_large = LlmError(
        400,
        f"the request body is larger than {limit} bytes",
        type="invalid_request_error",
        code="request_too_large",
    )
    for name, value in scope["headers"]:
        if name == b"content-length" and (not value.isdigit() or int(value) > limit):
            raise too_large
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] != "http.request":
            raise LlmError(400, "the client left", type="invalid_request_error", code="aborted")
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            raise too_large
        chunks.append(chunk)
        if not message.get("more_body", False):
            return b"".join(chunks)


class LlmEndpoints:
    """The three ``/v1`` endpoints as one ASGI app (dispatched by path)."""

    def __init__(self, gateway: LlmGateway, *, max_body_bytes: int = 16_777_216) -> None:
        self.gateway, self.max_body_bytes = gateway, max_body_bytes
        self._routes: dict[
            tuple[str, str], Callable[[Caller, Scope, Receive, Send], Awaitable[None]]
        ] = {
            ("POST", "/v1/chat/completions"): self._chat,
            ("POST", "/v1/embeddings"): self._embeddings,
            ("GET", "/v1/models"): self._models,
        }

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Serve one request."""
        handler = self._routes.get((scope["method"], scope["path"]))
        if handler is None:
            error = LlmError(
                405,
                f"{scope['method']} is not allowed on {scope['path']}",
                type="invalid_request_error",
                code="method_not_allowed",
            )
            await _error(send, error)
            return
        started: list[bool] = []

        async def tracked(message: Message) -> None:
            started.append(True)
            await send(message)

        try:
            caller = await self.gateway.caller(_token(scope))
            await handler(caller, scope, receive, tracked)
        except LlmError as exc:
            if not started:
                await _error(send, exc)
        except Exception:
            log.exception("the LLM gateway failed on %s", scope["path"])
            if not started:  # fail closed, in the OpenAI format
                await _error(send, _INTERNAL)

    async def _models(self, caller: Caller, scope: Scope, receive: Receive, send: Send) -> None:
        data = await self.gateway.models(caller)
        await _send_json(send, 200, dumps({"object": "list", "data": data}))

    async def _embeddings(self, caller: Caller, scope: Scope, receive: Receive, send: Send) -> None:
        raw = await _body(scope, receive, self.max_body_bytes)
        prepared = await self.gateway.prepare_embeddings(caller, parse_embeddings(raw), len(raw))
        try:
            answer = await embed(self.gateway, prepared)
        finally:  # an unexpected failure still releases the hold (once)
            self.gateway.finish(prepared, outcome="error", status=500, reason="gateway error")
        await _send_json(send, 200, answer)

    async def _chat(self, caller: Caller, scope: Scope, receive: Receive, send: Send) -> None:
        raw = await _body(scope, receive, self.max_body_bytes)
        request = parse_chat(raw)
        prepared = await self.gateway.prepare_chat(caller, request, len(raw))
        if not request.stream:
            try:
                answer = await complete(self.gateway, prepared)
            finally:  # an unexpected failure still releases the hold (once)
                self.gateway.finish(prepared, outcome="error", status=500, reason="gateway error")
            await _send_json(send, 200, answer)
            return
        stream = ChatStream(self.gateway, prepared, client_usage=request.include_usage)
        try:
            await stream.open()
            await send({"type": "http.response.start", "status": 200, "headers": _SSE})
            async with anyio.create_task_group() as group:

                async def watch() -> None:
                    while (await receive())["type"] != "http.disconnect":
                        pass
                    group.cancel_scope.cancel()  # the client left: stop reading upstream

                group.start_soon(watch)
                async for event in stream.chunks():
                    await send({"type": "http.response.body", "body": event, "more_body": True})
                await send({"type": "http.response.body", "body": b""})
                group.cancel_scope.cancel()
        except OSError:
            pass  # the connection is gone; the stream is metered as cut
        finally:
            with anyio.CancelScope(shield=True):
                await stream.close()


def mount_llm(app: Starlette, direct: dict[str, ASGIApp], gateway: LlmGateway) -> LlmEndpoints:
    """Serve the ``/v1`` endpoints ahead of the API stack and run the gateway in the lifespan."""
    endpoints = LlmEndpoints(gateway)
    for path in LLM_PATHS:
        direct[path] = endpoints
    inner = app.router.lifespan_context

    @asynccontextmanager
    async def lifespan(target: Any) -> AsyncIterator[Any]:
        async with gateway.running(), inner(target) as state:
            yield state

    app.router.lifespan_context = lifespan
    return endpoints
