"""A lean client for ``tools/call`` on a Streamable HTTP upstream.

The SDK's ``ClientSession`` routes every request through memory streams and a reader
task; for the gateway's hot path that costs more than the call itself. This client
keeps its own session on the upstream (``initialize``, then
``notifications/initialized``) and sends each ``tools/call`` as one JSON-RPC POST on
kept-alive connections (``http11.LeanHttp``; the general ``httpx2`` client when a proxy
is configured), with the session id and protocol version headers. It reads a JSON
answer, or an SSE stream up to the answer with the request's id (notifications before
it are skipped). An expired session (HTTP 404) is reopened once. The SDK's session
still lists the tools and stays the fallback when this client cannot open.

Limit: a server that sends a request back to the client in the middle of a call
(sampling, elicitation) gets no answer on this path; such upstreams are rare behind a
gateway, which offers neither to its upstreams.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
from collections.abc import Mapping
from typing import Any

import anyio
import httpx2

from plinth.infrastructure.http11 import HttpResponse, LeanHttp, usable

__all__ = ["PROTOCOL_VERSION", "RawToolClient", "UpstreamRpcError", "UpstreamTransportError"]

PROTOCOL_VERSION = "2025-11-25"
_ACCEPT = "application/json, text/event-stream"
_TRANSPORT_ERRORS = (
    httpx2.HTTPError,
    OSError,
    EOFError,
    TimeoutError,
    ValueError,
    asyncio.LimitOverrunError,
)


class UpstreamRpcError(Exception):
    """The upstream answered a call with a JSON-RPC error."""

    def __init__(self, code: int, message: str) -> None:
        super().__init__(message)
        self.code = code


class UpstreamTransportError(Exception):
    """The exchange with the upstream failed (connection, HTTP status, unreadable answer)."""


class RawToolClient:
    """``tools/call`` as plain JSON-RPC POSTs over kept-alive connections (see the module)."""

    def __init__(
        self, url: str, *, headers: Mapping[str, str], client_version: str, timeout_s: float
    ) -> None:
        self.url = url
        self.client_version = client_version
        base = {**headers, "Accept": _ACCEPT, "Content-Type": "application/json"}
        self._lean = LeanHttp(url, headers=base, timeout_s=timeout_s) if usable(url) else None
        self._http = (
            None if self._lean is not None else httpx2.AsyncClient(headers=base, timeout=timeout_s)
        )
        self._session: dict[str, str] = {}
        self._ids = itertools.count(1)
        self._lock = anyio.Lock()

    async def _send(
        self, method: str, body: bytes = b"", headers: Mapping[str, str] | None = None
    ) -> HttpResponse:
        try:
            if self._lean is not None:
                response = await self._lean.request(method, body=body, headers=headers)
            else:
                assert self._http is not None
                got = await self._http.request(method, self.url, content=body, headers=headers)
                lowered = {k.lower(): v for k, v in got.headers.items()}
                response = HttpResponse(got.status_code, lowered, got.content)
        except _TRANSPORT_ERRORS as exc:
            raise UpstreamTransportError(f"{type(exc).__name__}: {exc}") from None
        return response

    async def open(self) -> None:
        """Open a session on the upstream (initialize, then initialized)."""
        async with self._lock:
            await self._open()

    async def _open(self) -> None:
        init = {
            "protocolVersion": PROTOCOL_VERSION,
            "capabilities": {},
            "clientInfo": {"name": "plinth-gateway", "version": self.client_version},
        }
        response = _ok(await self._send("POST", _request(0, "initialize", init)))
        result = _answer(response, 0)
        session = {"MCP-Protocol-Version": str(result.get("protocolVersion") or PROTOCOL_VERSION)}
        session_id = response.headers.get("mcp-session-id")
        if session_id:
            session["Mcp-Session-Id"] = session_id
        note = json.dumps({"jsonrpc": "2.0", "method": "notifications/initialized"}).encode()
        _ok(await self._send("POST", note, session))
        self._session = session

    async def call(self, tool: str, arguments: Mapping[str, Any]) -> dict[str, Any]:
        """Call ``tool``; return the JSON-RPC result.

        Raises UpstreamRpcError on a JSON-RPC error, UpstreamTransportError when the
        exchange failed.
        """
        request_id = next(self._ids)
        body = _request(request_id, "tools/call", {"name": tool, "arguments": dict(arguments)})
        session = self._session
        response = await self._send("POST", body, session)
        if response.status == 404 and session:
            async with self._lock:  # the session expired: open a new one, once
                if self._session is session:
                    await self._open()
            response = await self._send("POST", body, self._session)
        return _answer(_ok(response), request_id)

    async def aclose(self) -> None:
        """Close the session (best effort) and the connections."""
        try:
            if "Mcp-Session-Id" in self._session:
                with anyio.move_on_after(2.0), contextlib.suppress(UpstreamTransportError):
                    await self._send("DELETE", b"", self._session)
        finally:
            if self._lean is not None:
                await self._lean.aclose()
            if self._http is not None:
                await self._http.aclose()


def _ok(response: HttpResponse) -> HttpResponse:
    if response.status >= 400:
        raise UpstreamTransportError(f"the upstream answered HTTP {response.status}")
    return response


def _request(request_id: int, method: str, params: dict[str, Any]) -> bytes:
    message = {"jsonrpc": "2.0", "id": request_id, "method": method, "params": params}
    return json.dumps(message, ensure_ascii=False, separators=(",", ":")).encode()


def _answer(response: HttpResponse, request_id: int) -> dict[str, Any]:
    """Return the result of request ``request_id`` from a JSON or SSE response."""
    kind = response.headers.get("content-type", "").split(";")[0].strip().lower()
    try:
        if kind == "text/event-stream":
            messages = _events(response.body.decode("utf-8"))
        else:
            messages = [json.loads(response.body)]
    except ValueError as exc:
        raise UpstreamTransportError(f"unreadable answer: {exc}") from None
    for message in messages:
        if not isinstance(message, dict) or message.get("id") != request_id:
            continue
        if "error" in message:
            error = message["error"] if isinstance(message["error"], dict) else {}
            raise UpstreamRpcError(int(error.get("code", 0)), str(error.get("message", "")))
        result = message.get("result")
        if isinstance(result, dict):
            return result
    raise UpstreamTransportError(f"the upstream sent no answer to request {request_id}")


def _events(text: str) -> list[Any]:
    """Return the JSON data of each SSE event in ``text``."""
    found: list[Any] = []
    data: list[str] = []
    for line in [*text.splitlines(), ""]:
        if line.startswith("data:"):
            data.append(line[5:].removeprefix(" "))
        elif not line and data:
            with contextlib.suppress(ValueError):
                found.append(json.loads("\n".join(data)))
            data = []
    return found
