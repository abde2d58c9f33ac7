"""A small HTTP/1.1 client for one upstream URL: kept-alive connections, nothing else.

The MCP gateway sends every ``tools/call`` to an HTTP upstream as one POST, and the
LLM gateway its requests to an OpenAI-compatible upstream (streams read through
``OriginPool`` and ``read_head`` by ``llm_gateway.sse``). A general HTTP
client spends more Python per request than the upstream needs to answer, so this one
does only what that exchange needs: a pool of idle connections to one origin (plain
TCP, or TLS with the default certificate checks), a request with a ``Content-Length``,
and a response with ``Content-Length``, chunked encoding or an end at close. An idle
connection the server has closed, or one idle longer than ``keepalive_s``, is not
reused. No proxies, redirects, cookies or compression: ``usable`` says when a URL needs
more (a proxy in the environment), and the caller then keeps its general client.
"""

from __future__ import annotations

import asyncio
import ssl
import time
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass
from urllib.parse import urlsplit

__all__ = ["Connection", "HttpResponse", "LeanHttp", "OriginPool", "read_head", "usable"]

_MAX_HEAD = 65536


def usable(url: str) -> bool:
    """True when ``url`` is http(s) and reached without a proxy from the environment."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return False
    proxies = urllib.request.getproxies_environment()
    if parts.scheme not in proxies and "all" not in proxies:
        return True
    return bool(urllib.request.proxy_bypass(parts.hostname))


@dataclass(frozen=True)
class HttpResponse:
    """A whole response: status, headers (lower-case names) and body."""

    status: int
    headers: Mapping[str, str]
    body: bytes


@dataclass
class Connection:
    """One kept-alive connection and when it went idle."""

    reader: asyncio.StreamReader
    writer: asyncio.StreamWriter
    idle_since: float = 0.0


class OriginPool:
    """Idle kept-alive connections to the origin of one URL (plain TCP or TLS)."""

    def __init__(self, url: str, *, timeout_s: float, keepalive_s: float, max_idle: int) -> None:
        parts = urlsplit(url)
        self.host = parts.hostname or ""
        self.tls = parts.scheme == "https"
        self.port = parts.port or (443 if self.tls else 80)
        self.target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        default_port = self.port == (443 if self.tls else 80)
        host = f"[{self.host}]" if ":" in self.host else self.host
        self.authority = host if default_port else f"{host}:{self.port}"
        self.timeout_s, self.keepalive_s, self.max_idle = timeout_s, keepalive_s, max_idle
        self._idle: list[Connection] = []
        self._ssl = ssl.create_default_context() if self.tls else None

    async def take(self) -> Connection:
        """Return an idle connection still fit for use, or a new one."""
        now = time.monotonic()
        while self._idle:
            conn = self._idle.pop()
            if now - conn.idle_since < self.keepalive_s and not conn.reader.at_eof():
                return conn
            conn.writer.close()
        async with asyncio.timeout(self.timeout_s):
            reader, writer = await asyncio.open_connection(
                self.host, self.port, ssl=self._ssl, server_hostname=self.host if self.tls else None
            )
        return Connection(reader, writer)

    def give_back(self, conn: Connection, *, reusable: bool) -> None:
        """Keep ``conn`` for the next request when it may be reused and there is room."""
        if reusable and len(self._idle) < self.max_idle:
            conn.idle_since = time.monotonic()
            self._idle.append(conn)
        else:
            conn.writer.close()

    async def aclose(self) -> None:
        """Close every idle connection."""
        idle, self._idle = self._idle, []
        for conn in idle:
            conn.writer.close()


async def read_head(reader: asyncio.StreamReader) -> tuple[int, dict[str, str], bool]:
    """Read a response head; return its status, headers (lower-case names), keep-alive."""
    raw = await reader.readuntil(b"\r\n\r\n")
    if len(raw) > _MAX_HEAD:
        raise ValueError("response head too large")
    status_line, *header_lines = raw.decode("latin-1").split("\r\n")
    version, status, *_ = status_line.split(" ", 2)
    headers: dict[str, str] = {}
    for line in header_lines:
        if line:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
    reusable = version == "HTTP/1.1" and headers.get("connection", "").lower() != "close"
    return int(status), headers, reusable


class LeanHttp:
    """Requests to one origin over a pool of kept-alive HTTP/1.1 connections."""

    def __init__(
        self,
        url: str,
        *,
        headers: Mapping[str, str],
        timeout_s: float,
        keepalive_s: float = 4.0,
        max_idle: int = 64,
    ) -> None:
        self.pool = OriginPool(url, timeout_s=timeout_s, keepalive_s=keepalive_s, max_idle=max_idle)
        self.timeout_s = timeout_s
        self._head = {"Host": self.pool.authority, "User-Agent": "plinth-gateway", **headers}

    async def request(
        self, method: str, *, body: bytes = b"", headers: Mapping[str, str] | None = None
    ) -> HttpResponse:
        """Send one request and return the whole response."""
        lines = [f"{method} {self.pool.target} HTTP/1.1"]
        lines += [f"{k}: {v}" for k, v in {**self._head, **(headers or {})}.items()]
        lines.append(f"Content-Length: {len(body)}")
        data = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body
        conn = await self.pool.take()
        try:
            async with asyncio.timeout(self.timeout_s):
                conn.writer.write(data)
                response, reusable = await _read_response(conn.reader, head=method == "HEAD")
        except BaseException:
            conn.writer.close()
            raise
        self.pool.give_back(conn, reusable=reusable)
        return response

    async def aclose(self) -> None:
        """Close every idle connection."""
        await self.pool.aclose()


async def _read_response(reader: asyncio.StreamReader, *, head: bool) -> tuple[HttpResponse, bool]:
    """Read one response; return it and whether the connection may be reused."""
    code, headers, reusable = await read_head(reader)
    if head or code in (204, 304) or 100 <= code < 200:
        body = b""
    elif "chunked" in headers.get("transfer-encoding", "").lower():
        body = await _read_chunked(reader)
    elif "content-length" in headers:
        body = await reader.readexactly(int(headers["content-length"]))
    else:
        body, reusable = await reader.read(), False
    return HttpResponse(code, headers, body), reusable


async def _read_chunked(reader: asyncio.StreamReader) -> bytes:
    chunks: list[bytes] = []
    while True:
        size_line = await reader.readuntil(b"\r\n")
        size = int(size_line.split(b";")[0].strip(), 16)
        if size == 0:
            while (await reader.readuntil(b"\r\n")) != b"\r\n":
                pass  # trailers
            return b"".join(chunks)
        chunks.append(await reader.readexactly(size))
        await reader.readexactly(2)
