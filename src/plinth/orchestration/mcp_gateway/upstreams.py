"""A pool of long-lived client sessions to upstream MCP servers.

Each upstream runs in one task of the pool's task group: it starts the server (a stdio
child process, or a Streamable HTTP connection), initialises the session, caches the
tool list with its annotations and then serves calls until it is stopped or fails.
Upstreams start lazily on first use; a failed one is restarted on the next use after
a short back-off. The agent's token never travels upstream: an HTTP upstream gets only
the headers of its own platform secret (``headers_secret``), a stdio one only its env.
A stdio command whose first word is ``python``/``python3`` runs with the control plane's
own interpreter, so servers installed beside Plinth need no absolute path.
"""

from __future__ import annotations

import json
import logging
import os
import sys
import time
from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass
from typing import Any, Protocol

import anyio
import anyio.abc
import httpx2
import mcp_types as types
from mcp.client.session import ClientSession
from mcp.client.stdio import StdioServerParameters, stdio_client
from mcp.client.streamable_http import streamable_http_client

from plinth import __version__
from plinth.core.errors import TemporaryError
from plinth.orchestration.mcp_gateway.raw_client import RawToolClient, UpstreamTransportError
from plinth.orchestration.mcp_gateway.registry import UpstreamDefinition

__all__ = [
    "DEFAULT_ANNOTATIONS",
    "CredentialSource",
    "EnvironmentCredentials",
    "StaticCredentials",
    "ToolInfo",
    "UpstreamPool",
    "UpstreamUnavailable",
]

log = logging.getLogger(__name__)

# What MCP says a client must assume when a tool declares no annotation.
DEFAULT_ANNOTATIONS: Mapping[str, bool] = {
    "readOnlyHint": False,
    "destructiveHint": True,
    "idempotentHint": False,
    "openWorldHint": True,
}


class UpstreamUnavailable(TemporaryError):
    """The upstream server could not be started or reached; retry later."""

    type = "upstream-unavailable"


class CredentialSource(Protocol):
    """Resolves a platform secret into the HTTP headers sent to one upstream."""

    def headers(self, secret_name: str) -> Mapping[str, str]:
        """Return the headers of ``secret_name``; raise NotFound when there is no such secret."""
        ...


class StaticCredentials:
    """Secrets held in memory (tests, embedded use)."""

    def __init__(self, secrets: Mapping[str, Mapping[str, str]] | None = None) -> None:
        self._secrets = {k: dict(v) for k, v in (secrets or {}).items()}

    def headers(self, secret_name: str) -> Mapping[str, str]:
        """Return the headers stored under ``secret_name`` (empty when unknown)."""
        return self._secrets.get(secret_name, {})


class EnvironmentCredentials:
    """Secrets from ``PLINTH_SECRET_<NAME>``: a JSON object of headers, or a bearer token."""

    def __init__(self, prefix: str = "PLINTH_SECRET_") -> None:
        self.prefix = prefix

    def headers(self, secret_name: str) -> Mapping[str, str]:
        """Return the headers of the secret (empty when the variable is not set)."""
        key = self.prefix + secret_name.upper().replace("-", "_")
        raw = os.environ.get(key, "")
        if not raw:
            return {}
        if raw.lstrip().startswith("{"):
            value = json.loads(raw)
            return {str(k): str(v) for k, v in value.items()}
        return {"Authorization": f"Bearer {raw}"}


@dataclass(frozen=True)
class ToolInfo:
    """One upstream tool, as listed by its server, with annotations filled with defaults."""

    server: str
    name: str
    tool: types.Tool
    annotations: Mapping[str, bool]


def _annotations(tool: types.Tool) -> dict[str, bool]:
    found = dict(DEFAULT_ANNOTATIONS)
    if tool.annotations is not None:
        given = tool.annotations.model_dump(by_alias=True, exclude_none=True)
        found.update({k: bool(v) for k, v in given.items() if k in DEFAULT_ANNOTATIONS})
    return found


class _Upstream:
    """One server's session, owned by one task of the pool."""

    def __init__(
        self, definition: UpstreamDefinition, headers: Mapping[str, str], call_timeout_s: float
    ) -> None:
        self.definition = definition
        self.headers = dict(headers)
        self.call_timeout_s = call_timeout_s
        self.session: ClientSession | None = None
        self.raw: RawToolClient | None = None
        self.tools: dict[str, ToolInfo] = {}
        self.error: str = ""
        self.ready = anyio.Event()
        self.done = anyio.Event()
        self._stop = anyio.Event()

    @asynccontextmanager
    async def _transport(self) -> AsyncIterator[Any]:
        d = self.definition
        if d.url:
            async with (
                httpx2.AsyncClient(headers=self.headers, timeout=30.0) as client,
                streamable_http_client(d.url, http_client=client) as streams,
            ):
                yield streams
            return
        command = sys.executable if d.command[0] in ("python", "python3") else d.command[0]
        params = StdioServerParameters(command=command, args=list(d.command[1:]), env=dict(d.env))
        with open(os.devnull, "w") as errlog:
            async with stdio_client(params, errlog=errlog) as streams:
                yield streams

    async def run(self) -> None:
        """Start the server, list its tools, then hold the session until stopped."""
        try:
            async with AsyncExitStack() as stack:
                read, write = await stack.enter_async_context(self._transport())
                session = await stack.enter_async_context(ClientSession(read, write))
                await session.initialize()
                self.tools = await _list_tools(self.definition.name, session)
                await self._open_raw(stack)
                self.session = session
                self.ready.set()
                await self._stop.wait()
        except Exception as exc:  # the upstream failed: report it, restart on next use
            self.error = f"{type(exc).__name__}: {exc}"
            log.warning("upstream %s failed: %s", self.definition.name, self.error)
        finally:
            self.session = None
            self.raw = None
            self.ready.set()
            self.done.set()

    async def _open_raw(self, stack: AsyncExitStack) -> None:
        """Open the lean tools/call client of an HTTP upstream (the SDK session is the fallback)."""
        if not self.definition.url:
            return
        raw = RawToolClient(
            self.definition.url,
            headers=self.headers,
            client_version=__version__,
            timeout_s=self.call_timeout_s,
        )
        stack.push_async_callback(raw.aclose)
        try:
            with anyio.fail_after(10.0):
                await raw.open()
        except Exception as exc:  # the SDK session serves the calls instead
            log.warning("upstream %s: lean client unavailable: %s", self.definition.name, exc)
            return
        self.raw = raw

    def stop(self) -> None:
        """Ask the task to close the session (and end a stdio child process)."""
        self._stop.set()


async def _list_tools(server: str, session: ClientSession) -> dict[str, ToolInfo]:
    tools: dict[str, ToolInfo] = {}
    cursor: str | None = None
    for _ in range(100):  # a server that pages forever is cut off
        params = types.PaginatedRequestParams(cursor=cursor) if cursor else None
        result = await session.send_request(
            types.ListToolsRequest(params=params), types.ListToolsResult
        )
        for tool in result.tools:
            tools[tool.name] = ToolInfo(server, tool.name, tool, _annotations(tool))
        cursor = result.next_cursor
        if not cursor:
            break
    return tools


class UpstreamPool:
    """Long-lived sessions to upstream servers, started lazily inside ``running()``."""

    def __init__(
        self,
        *,
        credentials: CredentialSource,
        connect_timeout_s: float = 30.0,
        call_timeout_s: float = 60.0,
        restart_backoff_s: float = 1.0,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.credentials = credentials
        self.connect_timeout_s = connect_timeout_s
        self.call_timeout_s = call_timeout_s
        self.restart_backoff_s = restart_backoff_s
        self._monotonic = monotonic
        self._upstreams: dict[str, _Upstream] = {}
        self._retry_at: dict[str, float] = {}
        self._locks: dict[str, anyio.Lock] = {}
        self._group: anyio.abc.TaskGroup | None = None

    @asynccontextmanager
    async def running(self) -> AsyncIterator[UpstreamPool]:
        """Own the upstream tasks; on exit every session is closed and every child ended."""
        async with anyio.create_task_group() as group:
            self._group = group
            try:
                yield self
            finally:
                self._group = None
                await self._stop_all()
                group.cancel_scope.cancel()

    async def _stop_all(self) -> None:
        upstreams = list(self._upstreams.values())
        self._upstreams.clear()
        for upstream in upstreams:
            upstream.stop()
        with anyio.move_on_after(10.0, shield=True):
            for upstream in upstreams:
                await upstream.done.wait()

    def cached_tool(self, server: str, tool: str) -> ToolInfo | None:
        """Return a tool of a running upstream from its cached list (None when not known)."""
        upstream = self._upstreams.get(server)
        return upstream.tools.get(tool) if upstream is not None else None

    def started(self) -> list[str]:
        """Return the names of the upstreams whose session is up."""
        return sorted(n for n, u in self._upstreams.items() if u.session is not None)

    async def forget(self, keep: Mapping[str, UpstreamDefinition]) -> None:
        """Stop upstreams that are no longer registered or whose definition changed."""
        for name, upstream in list(self._upstreams.items()):
            current = keep.get(name)
            if current is None or current.fingerprint() != upstream.definition.fingerprint():
                self._upstreams.pop(name, None)
                upstream.stop()

    async def _upstream(self, definition: UpstreamDefinition) -> _Upstream:
        running = self._upstreams.get(definition.name)
        if (
            running is not None
            and running.session is not None
            and not running.done.is_set()
            and running.definition == definition
        ):
            return running  # the hot path: up, and started from this very definition
        lock = self._locks.setdefault(definition.name, anyio.Lock())
        async with lock:
            upstream = self._upstreams.get(definition.name)
            if (
                upstream is not None
                and upstream.definition.fingerprint() != definition.fingerprint()
            ):
                upstream.stop()
                upstream = None
            if upstream is not None and upstream.done.is_set():
                upstream = None
            if upstream is None:
                upstream = self._start(definition)
        with anyio.move_on_after(self.connect_timeout_s):
            await upstream.ready.wait()
        if upstream.session is None:
            self._retry_at[definition.name] = self._monotonic() + self.restart_backoff_s
            if not upstream.ready.is_set():
                upstream.stop()
            why = upstream.error or "it did not answer in time"
            raise UpstreamUnavailable(f"upstream {definition.name!r} is unavailable: {why}")
        return upstream

    def _start(self, definition: UpstreamDefinition) -> _Upstream:
        if self._group is None:
            raise UpstreamUnavailable("the gateway is not running")
        wait = self._retry_at.get(definition.name, 0.0) - self._monotonic()
        if wait > 0:
            raise UpstreamUnavailable(
                f"upstream {definition.name!r} failed recently; retry in {wait:.1f}s"
            )
        headers = (
            self.credentials.headers(definition.headers_secret) if definition.headers_secret else {}
        )
        upstream = _Upstream(definition, headers, self.call_timeout_s)
        self._upstreams[definition.name] = upstream
        self._group.start_soon(upstream.run)
        return upstream

    async def tools(self, definition: UpstreamDefinition) -> Mapping[str, ToolInfo]:
        """Return the upstream's tools (starting it if needed)."""
        return (await self._upstream(definition)).tools

    async def call(
        self, definition: UpstreamDefinition, tool: str, arguments: Mapping[str, Any]
    ) -> types.CallToolResult:
        """Call one tool upstream; raise UpstreamUnavailable when the server is gone."""
        upstream = await self._upstream(definition)
        session = upstream.session
        if session is None:
            raise UpstreamUnavailable(f"upstream {definition.name!r} is unavailable")
        if upstream.raw is not None:
            return await self._call_raw(upstream, upstream.raw, tool, arguments)
        request = types.CallToolRequest(
            params=types.CallToolRequestParams(name=tool, arguments=dict(arguments))
        )
        try:
            return await session.send_request(
                request, types.CallToolResult, request_read_timeout_seconds=self.call_timeout_s
            )
        except Exception:
            if upstream.done.is_set() or upstream.session is None:
                raise UpstreamUnavailable(
                    f"upstream {definition.name!r} went away during the call: {upstream.error}"
                ) from None
            raise

    async def _call_raw(
        self, upstream: _Upstream, raw: RawToolClient, tool: str, arguments: Mapping[str, Any]
    ) -> types.CallToolResult:
        name = upstream.definition.name
        try:
            result = await raw.call(tool, arguments)
        except UpstreamTransportError as exc:
            raise UpstreamUnavailable(f"upstream {name!r} failed during the call: {exc}") from None
        return types.CallToolResult.model_validate(result, by_name=False)
