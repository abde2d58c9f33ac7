"""The measuring side of ``benchmarks/mcp_gateway.py``: the official MCP SDK client.

``latency_rounds`` keeps one initialised session per target and times sequential
``tools/call`` requests, interleaving the targets in rounds; ``throughput`` runs many
sessions at once against one target for a fixed time. Every answer is checked (not an
error, and the text sent comes back), so a refused or rate-limited call is counted as
an error instead of passing for a fast one.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass
from typing import Any

import anyio
import mcp_types as types
from mcp.client.session import ClientSession
from mcp.client.streamable_http import streamable_http_client
from mcp.shared._httpx_utils import create_mcp_http_client

__all__ = ["Target", "latency_rounds", "percentile", "throughput"]

TEXT = "benchmark"


@dataclass(frozen=True)
class Target:
    """One way to reach the upstream's ``echo`` tool: endpoint, bearer token, tool name."""

    name: str
    url: str
    token: str
    tool: str
    calls: int


def percentile(values: list[float], q: float) -> float:
    """Return the ``q`` (0..100) percentile of ``values`` by nearest rank."""
    ordered = sorted(values)
    rank = max(1, min(len(ordered), round(q / 100 * len(ordered) + 0.5)))
    return ordered[rank - 1]


@asynccontextmanager
async def session_of(target: Target) -> AsyncIterator[ClientSession]:
    """Open and initialise one client session to ``target``."""
    headers = {"Authorization": f"Bearer {target.token}"} if target.token else None
    http = create_mcp_http_client(headers=headers)
    async with (
        http,
        streamable_http_client(target.url, http_client=http) as (read, write),
        ClientSession(read, write) as session,
    ):
        await session.initialize()
        yield session


async def _call(session: ClientSession, tool: str) -> bool:
    """Call ``tool`` once; True when it answered with the text it was sent."""
    try:
        result: Any = await session.call_tool(tool, {"text": TEXT})
    except Exception:
        return False
    if not isinstance(result, types.CallToolResult) or result.is_error:
        return False
    texts = [c.text for c in result.content if isinstance(c, types.TextContent)]
    return texts == [TEXT]


def _figures(samples: list[float], errors: int) -> dict[str, Any]:
    ms = [s * 1000 for s in samples]
    return {
        "calls": len(ms),
        "errors": errors,
        "p50_ms": round(percentile(ms, 50), 3),
        "p99_ms": round(percentile(ms, 99), 3),
        "mean_ms": round(sum(ms) / len(ms), 3),
    }


async def _latency(targets: list[Target], warmup: int, rounds: int) -> dict[str, dict[str, Any]]:
    samples: dict[str, list[float]] = {t.name: [] for t in targets}
    errors = dict.fromkeys(samples, 0)
    async with AsyncExitStack() as stack:
        sessions = [await stack.enter_async_context(session_of(t)) for t in targets]
        for target, session in zip(targets, sessions, strict=True):
            for _ in range(warmup):
                await _call(session, target.tool)
        perf = time.perf_counter
        for _ in range(rounds):
            for target, session in zip(targets, sessions, strict=True):
                for _ in range(max(1, target.calls // rounds)):
                    started = perf()
                    ok = await _call(session, target.tool)
                    samples[target.name].append(perf() - started)
                    errors[target.name] += not ok
    return {name: _figures(samples[name], errors[name]) for name in samples}


def latency_rounds(targets: list[Target], *, warmup: int, rounds: int) -> dict[str, dict[str, Any]]:
    """Return p50/p99/mean per target of sequential calls on one session each."""
    found: dict[str, dict[str, Any]] = anyio.run(_latency, targets, warmup, rounds)
    return found


async def _throughput(target: Target, concurrency: int, seconds: float) -> tuple[float, int]:
    done, errors = [0], [0]
    async with AsyncExitStack() as stack:
        sessions = [await stack.enter_async_context(session_of(target)) for _ in range(concurrency)]
        for session in sessions:
            await _call(session, target.tool)
        started = time.perf_counter()
        deadline = started + seconds

        async def worker(session: ClientSession) -> None:
            while time.perf_counter() < deadline:
                ok = await _call(session, target.tool)
                done[0] += ok
                errors[0] += not ok

        async with anyio.create_task_group() as group:
            for session in sessions:
                group.start_soon(worker, session)
        elapsed = time.perf_counter() - started
    return round(done[0] / elapsed, 1), errors[0]


def throughput(target: Target, *, concurrency: int, seconds: float) -> tuple[float, int]:
    """Return (successful calls per second, errors) of ``concurrency`` sessions at once."""
    found: tuple[float, int] = anyio.run(_throughput, target, concurrency, seconds)
    return found
