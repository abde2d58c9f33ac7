"""Streamed responses over kept-alive HTTP/1.1 connections, read line by line.

A general client spends more Python per server-sent event than the gateway spends on
the event itself, so streams to an upstream reached without a proxy go over this small
client: a pool of idle connections to one URL, one POST, then the body (chunked, a
``Content-Length`` or up to the close) handed out line by line. A connection goes back
to the pool only when its response was read to the end; a stream abandoned half-way
closes its connection. ``Streamed`` is also what the ``httpx`` fallback is adapted to.
"""

from __future__ import annotations

import asyncio
import ssl
import time
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Protocol
from urllib.parse import urlsplit

import httpx

__all__ = ["HttpxStreamed", "LeanStreams", "Streamed"]

_MAX_HEAD = 65536


class Streamed(Protocol):
    """A response whose body is read as it arrives."""

    status: int

    async def read(self) -> bytes:
        """Return the whole (rest of the) body."""
        ...

    def lines(self) -> AsyncIterator[str]:
        """Yield the body's lines (without line ends)."""
        ...


class HttpxStreamed:
    """An ``httpx`` streaming response, as a ``Streamed``."""

    def __init__(self, response: httpx.Response) -> None:
        self.response, self.status = response, response.status_code

    async def read(self) -> bytes:
        """Return the whole body."""
        return await self.response.aread()

    async def lines(self) -> AsyncIterator[str]:
        """Yield the body's lines."""
        async for line in self.response.aiter_lines():
            yield line


@dataclass
class _Connection:
    reader: asyncio.StreamReader
    writer: asyncio.StreamWriter
    idle_since: float = 0.0


@dataclass
class _LeanStreamed:
    conn: _Connection
    headers: dict[str, str]
    timeout_s: float
    status: int = 0
    done: bool = False
    reusable: bool = True
    _rest: bytes = field(default=b"")

    async def _chunks(self) -> AsyncIterator[bytes]:
        reader = self.conn.reader
        if "chunked" in self.headers.get("transfer-encoding", "").lower():
            while True:
                async with asyncio.timeout(self.timeout_s):
                    size = int((await reader.readuntil(b"\r\n")).split(b";")[0].strip(), 16)
                    if size == 0:
                        while (await reader.readuntil(b"\r\n")) != b"\r\n":
                            pass  # trailers
                        break
                    data = await reader.readexactly(size + 2)
                yield data[:-2]
        elif "content-length" in self.headers:
            left = int(self.headers["content-length"])
            while left > 0:
                async with asyncio.timeout(self.timeout_s):
                    data = await reader.read(min(left, 65536))
                if not data:
                    raise asyncio.IncompleteReadError(b"", left)
                left -= len(data)
                yield data
        else:
            self.reusable = False
            while True:
                async with asyncio.timeout(self.timeout_s):
                    data = await reader.read(65536)
                if not data:
                    break
                yield data
        self.done = True

    async def read(self) -> bytes:
        """Return the whole (rest of the) body."""
        return b"".join([data async for data in self._chunks()])

    async def lines(self) -> AsyncIterator[str]:
        """Yield the body's lines as they arrive."""
        pending = b""
        async for data in self._chunks():
            pending += data
            if b"\n" not in data:
                continue
            *complete, pending = pending.split(b"\n")
            for line in complete:
                yield line.rstrip(b"\r").decode("utf-8", "replace")
        if pending:
            yield pending.rstrip(b"\r").decode("utf-8", "replace")


class LeanStreams:
    """POSTs to one URL whose responses are read as streams (see the module)."""

    def __init__(
        self,
        url: str,
        *,
        headers: Mapping[str, str],
        timeout_s: float,
        keepalive_s: float = 4.0,
        max_idle: int = 256,
    ) -> None:
        parts = urlsplit(url)
        self.host, self.tls = parts.hostname or "", parts.scheme == "https"
        self.port = parts.port or (443 if self.tls else 80)
        target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        host = f"[{self.host}]" if ":" in self.host else self.host
        default = self.port == (443 if self.tls else 80)
        lines = [f"POST {target} HTTP/1.1", f"Host: {host if default else f'{host}:{self.port}'}"]
        lines += ["User-Agent: plinth-gateway", *(f"{k}: {v}" for k, v in headers.items())]
        self._head = "\r\n".join(lines)
        self.timeout_s, self.keepalive_s, self.max_idle = timeout_s, keepalive_s, max_idle
        self._idle: list[_Connection] = []
        self._ssl = ssl.create_default_context() if self.tls else None

    def _take(self) -> _Connection | None:
        now = time.monotonic()
        while self._idle:
            conn = self._idle.pop()
            if now - conn.idle_since < self.keepalive_s and not conn.reader.at_eof():
                return conn
            conn.writer.close()
        return None

    async def _connect(self) -> _Connection:
        async with asyncio.timeout(self.timeout_s):
            reader, writer = await asyncio.open_connection(
                self.host, self.port, ssl=self._ssl, server_hostname=self.host if self.tls else None
            )
        return _Connection(reader, writer)

    @asynccontextmanager
    async def post(self, body: bytes) -> AsyncIterator[Streamed]:
        """Send a POST and yield its response, whose body is read by the caller."""
        conn = self._take() or await self._connect()
        try:
            async with asyncio.timeout(self.timeout_s):
                conn.writer.write(
                    f"{self._head}\r\nContent-Length: {len(body)}\r\n\r\n".encode("latin-1") + body
                )
                raw = await conn.reader.readuntil(b"\r\n\r\n")
            if len(raw) > _MAX_HEAD:
                raise ValueError("response head too large")
            status_line, *header_lines = raw.decode("latin-1").split("\r\n")
            version, status, *_ = status_line.split(" ", 2)
            headers = {}
            for line in header_lines:
                if line:
                    name, _, value = line.partition(":")
                    headers[name.strip().lower()] = value.strip()
            response = _LeanStreamed(conn, headers, self.timeout_s, status=int(status))
            response.reusable = (
                version == "HTTP/1.1" and headers.get("connection", "").lower() != "close"
            )
        except BaseException:
            conn.writer.close()
            raise
        try:
            yield response
        finally:
            if response.done and response.reusable and len(self._idle) < self.max_idle:
                conn.idle_since = time.monotonic()
                self._idle.append(conn)
            else:
                conn.writer.close()

    async def aclose(self) -> None:
        """Close every idle connection."""
        idle, self._idle = self._idle, []
        for conn in idle:
            conn.writer.close()
