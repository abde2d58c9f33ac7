"""The load generator of ``benchmarks/llm_gateway.py``: a lean HTTP/1.1 client on asyncio.

Each worker owns one kept-alive connection and sends OpenAI chat requests one after the
other; ``measure`` runs the paths in interleaved rounds (the order rotates every round)
so that other load on the machine falls on every path alike, and opens fresh
connections before each round's clock starts (so an idle connection closed by a
server's keep-alive timeout between rounds never counts). The client is a few dozen
lines of asyncio rather than ``httpx`` so that, on a small machine, the load generator
takes as little CPU as possible from the servers it measures. Every answer is checked:
status 200, and for a plain request a JSON body with a non-empty message and usage, for
a streamed one the ``data: [DONE]`` end; anything else is an error, never a fast call.
"""

from __future__ import annotations

import asyncio
import json
import math
import time
from dataclasses import dataclass, field
from typing import Any

__all__ = ["Phase", "Target", "measure", "percentile"]


@dataclass(frozen=True)
class Target:
    """One way to reach the upstream's chat completions: address, path, bearer token."""

    name: str
    host: str
    port: int
    path: str
    token: str
    model: str


@dataclass(frozen=True)
class Phase:
    """What one measurement does: concurrency, requests per path, rounds, streaming."""

    concurrency: int
    requests: int
    rounds: int
    warmup: int
    stream: bool = False
    prompt: str = "Summarise the quarterly report for the platform team in two sentences."


@dataclass
class _Tally:
    samples: list[float] = field(default_factory=list)
    errors: int = 0
    elapsed: float = 0.0
    first_error: str | None = None


def percentile(values: list[float], q: float) -> float:
    """Return the ``q`` (0..100) percentile of ``values`` by nearest rank."""
    ordered = sorted(values)
    rank = max(1, min(len(ordered), math.ceil(q / 100 * len(ordered))))
    return ordered[rank - 1]


def _request_bytes(target: Target, phase: Phase) -> bytes:
    body: dict[str, Any] = {
        "model": target.model,
        "messages": [{"role": "user", "content": phase.prompt}],
        "max_tokens": 16,
    }
    if phase.stream:
        body |= {"stream": True, "stream_options": {"include_usage": True}}
    raw = json.dumps(body).encode()
    head = (
        f"POST {target.path} HTTP/1.1\r\nHost: {target.host}:{target.port}\r\n"
        f"Authorization: Bearer {target.token}\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(raw)}\r\n\r\n"
    )
    return head.encode() + raw


async def _read_response(reader: asyncio.StreamReader) -> tuple[int, bytes]:
    """Read one response; return (status, body) with a chunked body decoded."""
    head = await reader.readuntil(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split(" ", 2)[1])
    headers = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    if "content-length" in headers:
        return status, await reader.readexactly(int(headers["content-length"]))
    if headers.get("transfer-encoding", "").lower() != "chunked":
        raise ValueError(f"unframed response: {lines[:1]}")
    parts: list[bytes] = []
    while True:
        size = int((await reader.readuntil(b"\r\n")).split(b";")[0], 16)
        if size == 0:
            await reader.readuntil(b"\r\n")
            return status, b"".join(parts)
        parts.append(await reader.readexactly(size))
        await reader.readexactly(2)


def _problem(status: int, body: bytes, stream: bool) -> str | None:
    """Return why an answer is wrong, or None when it is a good completion."""
    if status != 200:
        return f"HTTP {status}: {body[:200]!r}"
    if stream:
        return None if b"data: [DONE]" in body else f"stream without [DONE]: {body[-200:]!r}"
    try:
        found = json.loads(body)
        ok = bool(found["choices"][0]["message"]["content"]) and bool(found["usage"])
    except (ValueError, KeyError, IndexError, TypeError):
        ok = False
    return None if ok else f"not a completion: {body[:200]!r}"


async def _worker(
    target: Target, request: bytes, stream: bool, budget: list[int], tally: _Tally
) -> None:
    reader, writer = await asyncio.open_connection(target.host, target.port)
    try:
        while budget[0] > 0:
            budget[0] -= 1
            started = time.perf_counter()
            try:
                writer.write(request)
                status, body = await _read_response(reader)
                problem = _problem(status, body, stream)
            except (OSError, ValueError, asyncio.IncompleteReadError) as exc:
                problem = f"{type(exc).__name__}: {exc}"
                writer.close()
                reader, writer = await asyncio.open_connection(target.host, target.port)
            tally.samples.append(time.perf_counter() - started)
            if problem is not None:
                tally.errors += 1
                tally.first_error = tally.first_error or problem
    finally:
        writer.close()


async def _burst(target: Target, phase: Phase, count: int, tally: _Tally) -> None:
    """Send ``count`` requests over ``phase.concurrency`` connections; add to ``tally``."""
    request = _request_bytes(target, phase)
    budget = [count]
    started = time.perf_counter()
    await asyncio.gather(
        *(
            _worker(target, request, phase.stream, budget, tally)
            for _ in range(min(phase.concurrency, count))
        )
    )
    tally.elapsed += time.perf_counter() - started


def _figures(tally: _Tally) -> dict[str, Any]:
    ms = [s * 1000 for s in tally.samples]
    return {
        "requests": len(ms),
        "errors": tally.errors,
        "first_error": tally.first_error,
        "p50_ms": round(percentile(ms, 50), 3),
        "p99_ms": round(percentile(ms, 99), 3),
        "mean_ms": round(sum(ms) / len(ms), 3),
        "requests_per_s": round(len(ms) / tally.elapsed, 1),
    }


async def _measure(targets: list[Target], phase: Phase) -> dict[str, dict[str, Any]]:
    for target in targets:
        await _burst(target, phase, phase.warmup, _Tally())
    tallies = {t.name: _Tally() for t in targets}
    per_round = max(1, phase.requests // phase.rounds)
    for index in range(phase.rounds):
        shift = index % len(targets)
        for target in targets[shift:] + targets[:shift]:
            await _burst(target, phase, per_round, tallies[target.name])
    return {name: _figures(tally) for name, tally in tallies.items()}


def measure(targets: list[Target], phase: Phase) -> dict[str, dict[str, Any]]:
    """Return per target: requests, errors, p50/p99/mean latency and requests/s."""
    return asyncio.run(_measure(targets, phase))
