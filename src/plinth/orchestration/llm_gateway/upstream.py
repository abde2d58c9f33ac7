"""Connections to the upstream providers, kept alive and pooled per provider.

Whole responses (chat without streaming, embeddings) go over the lean HTTP/1.1 client
of the MCP gateway (``http11.LeanHttp``: a pool of kept-alive connections to one URL,
little Python per request), streams over its streaming sibling (``sse.LeanStreams``);
a URL that needs a proxy from the environment goes over a pooled ``httpx.AsyncClient``. The API
key is read from the environment variable the ``LlmProvider`` names, at first use, and
sent as a bearer token; the caller's own credential never goes upstream.
"""

from __future__ import annotations

import asyncio
import json
import os
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import httpx

from plinth.infrastructure.http11 import HttpResponse, LeanHttp, usable
from plinth.orchestration.llm_gateway.config import Provider
from plinth.orchestration.llm_gateway.errors import LlmError
from plinth.orchestration.llm_gateway.sse import HttpxStreamed, LeanStreams, Streamed

__all__ = ["TRANSPORT_ERRORS", "Upstreams", "unavailable", "upstream_error"]

TRANSPORT_ERRORS = (
    httpx.HTTPError,
    OSError,
    EOFError,
    TimeoutError,
    ValueError,
    asyncio.LimitOverrunError,
)


def unavailable(provider: str, why: str) -> LlmError:
    """Return the 502 sent when an upstream cannot be reached or answers badly."""
    return LlmError(
        502,
        f"the upstream provider {provider} is unavailable: {why}",
        type="upstream_error",
        code="upstream_unavailable",
    )


@dataclass
class _Clients:
    provider: Provider
    headers: dict[str, str]
    lean: dict[str, LeanHttp | None]  # None: the URL needs the general client (a proxy)
    http: httpx.AsyncClient
    streams: dict[str, LeanStreams | None] = field(default_factory=dict)


class Upstreams:
    """Kept-alive clients per provider; ``aclose`` closes them all."""

    def __init__(self, *, max_connections: int = 512) -> None:
        self.max_connections = max_connections
        self._clients: dict[str, _Clients] = {}

    def _of(self, provider: Provider) -> _Clients:
        found = self._clients.get(provider.name)
        if found is not None and found.provider == provider:
            return found
        if found is not None:  # changed: the old connections close when idle ones are dropped
            self._clients.pop(provider.name)
        headers = {"Content-Type": "application/json", "Accept": "application/json"}
        key = os.environ.get(provider.api_key_env, "") if provider.api_key_env else ""
        if key:
            headers["Authorization"] = f"Bearer {key}"
        limits = httpx.Limits(max_connections=self.max_connections, max_keepalive_connections=128)
        timeout = httpx.Timeout(provider.timeout_s, connect=10.0)
        http = httpx.AsyncClient(headers=headers, limits=limits, timeout=timeout)
        found = self._clients[provider.name] = _Clients(provider, headers, {}, http)
        return found

    async def post(self, provider: Provider, path: str, body: bytes) -> HttpResponse:
        """POST a JSON body to ``base_url + path``; return the whole response."""
        clients = self._of(provider)
        url = provider.base_url + path
        if path not in clients.lean:  # whether a proxy is needed is decided once per URL
            clients.lean[path] = (
                LeanHttp(url, headers=clients.headers, timeout_s=provider.timeout_s, max_idle=256)
                if usable(url)
                else None
            )
        lean = clients.lean[path]
        try:
            if lean is not None:
                return await lean.request("POST", body=body)
            got = await clients.http.post(url, content=body)
            lowered = {k.lower(): v for k, v in got.headers.items()}
            return HttpResponse(got.status_code, lowered, got.content)
        except TRANSPORT_ERRORS as exc:
            raise unavailable(provider.name, f"{type(exc).__name__}: {exc}") from None

    @asynccontextmanager
    async def stream(self, provider: Provider, path: str, body: bytes) -> AsyncIterator[Streamed]:
        """POST and yield the streaming response (its body not read yet)."""
        clients = self._of(provider)
        url = provider.base_url + path
        if path not in clients.streams:
            clients.streams[path] = (
                LeanStreams(url, headers=clients.headers, timeout_s=provider.timeout_s)
                if usable(url)
                else None
            )
        lean = clients.streams[path]
        async with AsyncExitStack() as stack:
            try:
                if lean is not None:
                    response: Streamed = await stack.enter_async_context(lean.post(body))
                else:
                    request = clients.http.build_request("POST", url, content=body)
                    sent = await clients.http.send(request, stream=True)
                    stack.push_async_callback(sent.aclose)
                    response = HttpxStreamed(sent)
            except TRANSPORT_ERRORS as exc:
                raise unavailable(provider.name, f"{type(exc).__name__}: {exc}") from None
            yield response

    async def aclose(self) -> None:
        """Close every connection."""
        clients, self._clients = list(self._clients.values()), {}
        for found in clients:
            for lean in found.lean.values():
                if lean is not None:
                    await lean.aclose()
            for streams in found.streams.values():
                if streams is not None:
                    await streams.aclose()
            await found.http.aclose()


def upstream_error(provider: str, status: int, body: bytes) -> LlmError:
    """Return the error to send for an upstream's error answer (4xx kept, 5xx as 502)."""
    message, kind, code = f"HTTP {status}", "upstream_error", "upstream_error"
    try:
        found: Any = json.loads(body).get("error")
        if isinstance(found, dict):
            message = str(found.get("message") or message)
            kind = str(found.get("type") or kind)
            code = str(found.get("code") or code)
    except (ValueError, AttributeError):
        pass
    if status >= 500 or status < 400:
        return unavailable(provider, message)
    return LlmError(status, f"upstream {provider}: {message}", type=kind, code=code)
