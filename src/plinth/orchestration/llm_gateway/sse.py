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
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Protocol

import httpx

from plinth.infrastructure.http11 import Connection, OriginPool, read_head

__all__ = ["HttpxStreamed", "LeanStreams", "Streamed"]


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
class _LeanStreamed:
    conn: Connection
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
        self.pool = OriginPool(url, timeout_s=timeout_s, keepalive_s=keepalive_s, max_idle=max_idle)
        self.timeout_s = timeout_s
        lines = [f"POST {self.pool.target} HTTP/1.1", f"Host: {self.pool.authority}"]
        lines += ["User-Agent: plinth-gateway", *(f"{k}: {v}" for k, v in headers.items())]
        self._head = "\r\n".join(lines)

    @asynccontextmanager
    async def post(self, body: bytes) -> AsyncIterator[Streamed]:
        """Send a POST and yield its response, whose body is read by the caller."""
        conn = await self.pool.take()
        try:
            async with asyncio.timeout(self.timeout_s):
                conn.writer.write(
                    f"{self._head}\r\nContent-Length: {len(body)}\r\n\r\n".encode("latin-1") + body
                )
                status, headers, reusable = await read_head(conn.reader)
            response = _LeanStreamed(conn, headers, self.timeout_s, status=status)
            response.reusable = reusable
        except BaseException:
            conn.writer.close()
            raise
        try:
            yield response
        finally:
            self.pool.give_back(conn, reusable=response.done and response.reusable)

    async def aclose(self) -> None:
        """Close every idle connection."""
        await self.pool.aclose()
