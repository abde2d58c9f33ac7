"""A lean client for ``tools/call`` on a Streamable HTTP upstream.

The SDK's ``ClientSession`` routes every request through memory streams and a reader
task; for the gateway's hot path that costs more than the call itself. This client
keeps its own session on the upstream (``initialize``, then
``notifications/initialized``) and sends each ``tools/call`` as one JSON-RPC POST on
kept-alive connections, with the session id and protocol version headers. It reads a
JSON answer, or an SSE stream up to the answer with the request's id (notifications
before it are skipped). An expired session (HTTP 404) is reopened once. The SDK's
session still lists the tools and stays the fallback when this client cannot open.

Limit: a server that sends a request back to the client in the middle of a call
(sampling, elicitation) gets no answer on this path; such upstreams are rare behind a
gateway, which offers neither to its upstreams.
"""

from __future__ import annotations

import contextlib
import itertools
import json
from collections.abc import Mapping
from typing import Any

import anyio
import httpx2

__all__ = ["PROTOCOL_VERSION", "RawToolClient", "UpstreamRpcError"]

PROTOCOL_VERSION = "2025-11-25"
_ACCEPT = "application/json, text/event-stream"


class UpstreamRpcError(Exception):
    """The upstream answered a call with a JSON-RPC error."""

    def __init__(self, code: int, message: str) -> None:
        super().__init__(message)
        self.code = code


class RawToolClient:
    """``tools/call`` as plain JSON-RPC POSTs over one HTTP client (see the module)."""

    def __init__(
        self, url: str, *, headers: Mapping[str, str], client_version: str, timeout_s: float
    ) -> None:
        self.url = url
        self.client_version = client_version
        self._http = httpx2.AsyncClient(
            headers={**headers, "Accept": _ACCEPT, "Content-Type": "application/json"},
            timeout=timeout_s,
            limits=httpx2.Limits(max_connections=64, max_keepalive_connections=64),
        )
        self._session: dict[str, str] = {}
        self._ids = itertools.count(1)
        self._lock = anyio.Lock()

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
        response = await self._http.post(self.url, content=_request(0, "initialize", init))
        response.raise_for_status()
        result = await _answer(response, 0)
        version = str(result.get("protocolVersion") or PROTOCOL_VERSION)
        session = {"MCP-Protocol-Version": version}
        session_id = response.headers.get("mcp-session-id")
        if session_id:
            session["Mcp-Session-Id"] = session_id
        note = json.dumps({"jsonrpc": "2.0", "method": "notifications/initialized"})
        done = await self._http.post(self.url, content=note, headers=session)
        done.raise_for_status()
        self._session = session

    async def call(self, tool: str, arguments: Mapping[str, Any]) -> dict[str, Any]:
        """Call ``tool``; return the JSON-RPC result (raise UpstreamRpcError on an error)."""
        request_id = next(self._ids)
        body = _request(request_id, "tools/call", {"name": tool, "arguments": dict(arguments)})
        session = self._session
        response = await self._http.post(self.url, content=body, headers=session)
        if response.status_code == 404 and session:
            async with self._lock:  # the session expired: open a new one, once
                if self._session is session:
                    await self._open()
            response = await self._http.post(self.url, content=body, headers=self._session)
        response.raise_for_status()
        return await _answer(response, request_id)

    async def aclose(self) -> None:
        """Close the session (best effort) and the connections."""
        try:
            if "Mcp-Session-Id" in self._session:
                with anyio.move_on_after(2.0):
                    await self._http.delete(self.url, headers=self._session)
        except httpx2.HTTPError:
            pass
        finally:
            await self._http.aclose()


def _request(request_id: int, method: str, params: dict[str, Any]) -> str:
    message = {"jsonrpc": "2.0", "id": request_id, "method": method, "params": params}
    return json.dumps(message, ensure_ascii=False, separators=(",", ":"))


async def _answer(response: httpx2.Response, request_id: int) -> dict[str, Any]:
    """Return the result of request ``request_id`` from a JSON or SSE response."""
    kind = response.headers.get("content-type", "").split(";")[0].strip().lower()
    if kind == "text/event-stream":
        messages = _events(response.text)
    else:
        messages = [json.loads(response.content)]
    for message in messages:
        if not isinstance(message, dict) or message.get("id") != request_id:
            continue
        if "error" in message:
            error = message["error"] if isinstance(message["error"], dict) else {}
            raise UpstreamRpcError(int(error.get("code", 0)), str(error.get("message", "")))
        result = message.get("result")
        if isinstance(result, dict):
            return result
    raise UpstreamRpcError(0, f"the upstream sent no answer to request {request_id}")


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
