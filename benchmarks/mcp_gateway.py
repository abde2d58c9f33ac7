"""MCP gateway overhead: ``tools/call`` through Plinth's gateway and ContextForge vs direct.

In one run, against ONE upstream process (``benchmarks/mcp_upstream.py``, Streamable
HTTP, tool ``echo``), with the official MCP SDK client:

- direct: the client calls the upstream itself;
- plinth: a real control plane (``python -m plinth up`` on a temporary data dir, SQLite)
  whose gateway (``/gateway/mcp``) authenticates the agent's signed token, authorizes
  each call with Cedar and appends it to the audit chain. The upstream is registered as
  an ``McpServer`` document and the agent as an ``Agent`` document granting ``bench/*``,
  both planned and applied through the API by the platform engineer ``pat``;
- contextforge: IBM's ContextForge (``benchmarks/contextforge.py``: its own virtual
  environment, default install, SQLite, JWT authentication, ``RATE_LIMITING_ENABLED=false``).

Latency: one session per path, ``--warmup`` calls, then ``--calls`` sequential calls,
measured in interleaved rounds (direct, plinth, contextforge, repeat) so that other load
on the machine falls on every path alike. Added latency = the path's percentile minus
the direct one. Throughput: ``--concurrency`` sessions calling in a loop for
``--seconds`` per path. The gateway's per-agent rate limit and daily call budget are
raised for the run through ``PLINTH_GATEWAY_RATE_PER_SECOND``, ``PLINTH_GATEWAY_BURST``
and ``PLINTH_GATEWAY_CALLS_PER_DAY`` (ContextForge's rate limiter is off too);
everything else is as shipped.

Goal (issue 3): Plinth's added p50 < 2 ms; Plinth's added p50 and p99 at most a tenth of
ContextForge's; Plinth's calls/s at least ten times ContextForge's. Last line: one JSON
object with every figure and ``goal_met``.

    .venv/bin/python benchmarks/mcp_gateway.py [--calls 2000] [--concurrency 16]
        [--contextforge-calls 300] [--no-contextforge]
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from contextforge import ContextForgeError, running_contextforge
from mcp_bench_client import Target, latency_rounds, throughput

REPO = Path(__file__).resolve().parent.parent
GOAL_ADDED_P50_MS = 2.0
GOAL_LATENCY_RATIO = 0.1
GOAL_THROUGHPUT_RATIO = 10.0
AGENT = "bench-agent"
# `plinth up` from this checkout's interpreter (the gateway's limits come from the
# PLINTH_GATEWAY_* variables set in running_plinth).
PLINTH_LAUNCHER = """
import sys
from plinth.experience.cli.main import app
sys.argv = ["plinth", *sys.argv[1:]]
app()
"""
DOCUMENTS = """apiVersion: plinth.dev/v1
kind: McpServer
metadata: {{name: bench}}
spec:
  url: "{url}"
  owner: platform
  trust: trusted
  version: "1"
  description: the benchmark's upstream
---
apiVersion: plinth.dev/v1
kind: Agent
metadata: {{name: {agent}}}
spec:
  team: platform
  purpose: measures the MCP gateway
  identity: {{token_ttl_seconds: 3600, audiences: [plinth-gateway]}}
  capability: {{tools: ["bench/*"]}}
"""


def free_port() -> int:
    """Return a free TCP port on loopback."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _wait(url: str, process: subprocess.Popen[bytes], what: str, timeout: float = 90) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{what} exited with {process.returncode}")
        try:
            httpx.get(url, timeout=2)
            return
        except httpx.HTTPError:
            time.sleep(0.2)
    raise RuntimeError(f"{what} did not answer within {timeout:.0f} s")


@contextmanager
def _process(argv: list[str], *, log: Path, env: dict[str, str] | None = None) -> Iterator[None]:
    """Run a child process; terminate it (then kill it) on exit."""
    with open(log, "wb") as out:
        process = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT, cwd=REPO, env=env)
    try:
        yield
    finally:
        process.terminate()
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=30)


@contextmanager
def running_upstream(work: Path) -> Iterator[str]:
    """Run the shared upstream; yield its MCP endpoint."""
    port = free_port()
    argv = [sys.executable, str(REPO / "benchmarks" / "mcp_upstream.py"), "--port", str(port)]
    with _process(argv, log=work / "upstream.log"):
        url = f"http://127.0.0.1:{port}/mcp"
        deadline = time.monotonic() + 60
        while True:
            try:
                httpx.get(url, timeout=2)
                break
            except httpx.HTTPError:
                if time.monotonic() > deadline:
                    raise RuntimeError("the upstream did not start") from None
                time.sleep(0.2)
        yield url


@dataclass
class Plinth:
    """A running control plane: its gateway endpoint, the agent's token, its data dir."""

    base: str
    url: str
    token: str
    data_dir: Path
    pat: str


def _apply_documents(base: str, pat: str, upstream_url: str) -> str:
    """Plan and apply the McpServer and Agent as ``pat``; return the agent's gateway token."""
    headers = {"Authorization": f"Bearer {pat}"}
    with httpx.Client(base_url=base, headers=headers, timeout=60) as client:
        docs = DOCUMENTS.format(url=upstream_url, agent=AGENT)
        plan = client.post("/api/v1/plans", json={"environment": "dev", "documents": docs})
        plan.raise_for_status()
        applied = client.post(f"/api/v1/plans/{plan.json()['digest']}/apply")
        applied.raise_for_status()
        if applied.json()["status"] != "applied":
            raise RuntimeError(f"the documents were not applied: {applied.text[:300]}")
        issued = client.post(
            f"/api/v1/agents/{AGENT}/tokens",
            json={"audience": "plinth-gateway", "ttl_seconds": 3600},
        )
        issued.raise_for_status()
        return str(issued.json()["token"])


@contextmanager
def running_plinth(work: Path, upstream_url: str) -> Iterator[Plinth]:
    """Run ``plinth up`` on a temporary SQLite data dir with the upstream and agent applied."""
    data_dir, port = work / "plinth", free_port()
    data_dir.mkdir()
    env = {k: v for k, v in os.environ.items() if k != "PLINTH_CONFIG"}
    env.update(
        PLINTH_GATEWAY_RATE_PER_SECOND="1000000000",
        PLINTH_GATEWAY_BURST="1000000000",
        PLINTH_GATEWAY_CALLS_PER_DAY="1000000000",
        PYTHONUNBUFFERED="1",
    )
    argv = [sys.executable, "-c", PLINTH_LAUNCHER, "up", "--port", str(port)]
    argv += ["--data-dir", str(data_dir)]
    base = f"http://127.0.0.1:{port}"
    with _process(argv, log=data_dir / "server.log", env=env):
        deadline = time.monotonic() + 90
        while not (data_dir / "tokens.json").exists() or not _answers(base + "/healthz"):
            if time.monotonic() > deadline:
                raise RuntimeError(f"plinth did not start; see {data_dir / 'server.log'}")
            time.sleep(0.2)
        pat = json.loads((data_dir / "tokens.json").read_text())["pat"]
        token = _apply_documents(base, pat, upstream_url)
        yield Plinth(base, base + "/gateway/mcp", token, data_dir, pat)


def _answers(url: str) -> bool:
    try:
        return httpx.get(url, timeout=2).status_code == 200
    except httpx.HTTPError:
        return False


def audit_verify(plinth: Plinth) -> dict[str, Any]:
    """Return the control plane's verdict on its audit chain."""
    headers = {"Authorization": f"Bearer {plinth.pat}"}
    with httpx.Client(base_url=plinth.base, headers=headers, timeout=300) as client:
        found: dict[str, Any] = client.get("/api/v1/audit/verify").json()
        return found


def audited_calls(data_dir: Path) -> dict[str, int]:
    """Count the gateway's tool calls on the audit chain by outcome (after a clean stop)."""
    with sqlite3.connect(data_dir / "plinth.db") as db:
        rows = db.execute(
            "select json_extract(data, '$.outcome'), count(*) from audit_records "
            "where action = 'gateway.tool_call' group by 1"
        ).fetchall()
    return {str(k): int(n) for k, n in rows}


def _ratio(a: float | None, b: float | None) -> float | None:
    return round(a / b, 4) if a is not None and b else None


def summarise(figures: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """Add the added latencies to the gateways' figures; return the ratios and goal verdicts."""
    direct, plinth, cf = figures["direct"], figures["plinth"], figures.get("contextforge")
    for path in (plinth, cf):
        if path:
            path["added_p50_ms"] = round(path["p50_ms"] - direct["p50_ms"], 3)
            path["added_p99_ms"] = round(path["p99_ms"] - direct["p99_ms"], 3)
    ratios = {
        key: _ratio(plinth[field], cf[field] if cf else None)
        for key, field in (
            ("latency_p50", "added_p50_ms"),
            ("latency_p99", "added_p99_ms"),
            ("throughput", "calls_per_s"),
        )
    }
    p50, p99, rate = ratios["latency_p50"], ratios["latency_p99"], ratios["throughput"]
    goals = {
        "plinth_added_p50_under_2ms": plinth["added_p50_ms"] < GOAL_ADDED_P50_MS,
        "latency_at_most_tenth_of_contextforge": p50 is not None
        and p50 <= GOAL_LATENCY_RATIO
        and p99 is not None
        and p99 <= GOAL_LATENCY_RATIO,
        "throughput_at_least_10x_contextforge": rate is not None and rate >= GOAL_THROUGHPUT_RATIO,
        "no_errors": all(
            p["errors"] == 0 and p["throughput_errors"] == 0 for p in figures.values()
        ),
    }
    return {"ratios": ratios, "goals": goals, "goal_met": all(goals.values())}


def print_table(figures: dict[str, Any], summary: dict[str, Any]) -> None:
    """Print the figures as a readable table."""
    print(f"{'path':<13}{'calls':>7}{'p50 ms':>9}{'p99 ms':>9}{'+p50 ms':>9}{'+p99 ms':>9}", end="")
    print(f"{'calls/s':>10}{'errors':>8}")
    for name in ("direct", "plinth", "contextforge"):
        p = figures.get(name)
        if not p:
            print(f"{name:<13}  (not measured)")
            continue
        added = [p.get("added_p50_ms"), p.get("added_p99_ms")]
        shown = ["-" if a is None else f"{a:.3f}" for a in added]
        print(
            f"{name:<13}{p['calls']:>7}{p['p50_ms']:>9.3f}{p['p99_ms']:>9.3f}"
            f"{shown[0]:>9}{shown[1]:>9}{p['calls_per_s']:>10.1f}{p['errors']:>8}"
        )
    r = summary["ratios"]
    print(
        f"Plinth/ContextForge: added p50 x{r['latency_p50']}, added p99 x{r['latency_p99']}"
        f" (goal <= {GOAL_LATENCY_RATIO}); calls/s x{r['throughput']}"
        f" (goal >= {GOAL_THROUGHPUT_RATIO})"
    )
    for goal, met in summary["goals"].items():
        print(f"  {'met ' if met else 'MISSED'} {goal}")


def _targets(
    stack: ExitStack, work: Path, args: argparse.Namespace, result: dict[str, Any]
) -> tuple[list[Target], Plinth]:
    """Start the upstream, Plinth and (unless skipped or failing) ContextForge."""
    upstream = stack.enter_context(running_upstream(work))
    plinth = stack.enter_context(running_plinth(work, upstream))
    targets = [
        Target("direct", upstream, "", "echo", args.calls),
        Target("plinth", plinth.url, plinth.token, "bench__echo", args.calls),
    ]
    if args.no_contextforge:
        result["contextforge_error"] = "skipped (--no-contextforge)"
        return targets, plinth
    try:
        cf = stack.enter_context(
            running_contextforge(
                upstream_url=upstream, port=free_port(), data_dir=work / "contextforge"
            )
        )
        tool = next(t for t in cf.tools if t.endswith("echo"))
    except (ContextForgeError, StopIteration, httpx.HTTPError) as exc:
        result["contextforge_error"] = f"{type(exc).__name__}: {exc}"
        return targets, plinth
    targets.append(Target("contextforge", cf.url, cf.token, tool, args.contextforge_calls))
    return targets, plinth


def measure(args: argparse.Namespace, result: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Run every phase on every target; return the per-target figures."""
    with tempfile.TemporaryDirectory(prefix="plinth-mcp-bench-") as tmp, ExitStack() as stack:
        targets, plinth = _targets(stack, Path(tmp), args, result)
        figures = latency_rounds(targets, warmup=args.warmup, rounds=args.rounds)
        for target in targets:
            rate, errors = throughput(target, concurrency=args.concurrency, seconds=args.seconds)
            figures[target.name].update(calls_per_s=rate, throughput_errors=errors)
        result["plinth_audit_chain"] = audit_verify(plinth)
        stack.close()  # stops the servers; the gateway drains its audit queue first
        result["plinth_audited_calls"] = audited_calls(plinth.data_dir)
    return figures


def main() -> None:
    """Run the benchmark and print the table, then the JSON line."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=2000, help="sequential calls per path")
    parser.add_argument("--contextforge-calls", type=int, default=300)
    parser.add_argument("--warmup", type=int, default=100)
    parser.add_argument("--rounds", type=int, default=10)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--seconds", type=float, default=10.0, help="throughput phase per path")
    parser.add_argument("--no-contextforge", action="store_true")
    args = parser.parse_args()
    result: dict[str, Any] = {"benchmark": "mcp_gateway", "contextforge_error": None}
    figures = measure(args, result)
    summary = summarise(figures)
    print_table(figures, summary)
    if result["contextforge_error"]:
        print(f"ContextForge not measured: {result['contextforge_error']}")
    result.update(
        calls=args.calls,
        contextforge_calls=args.contextforge_calls,
        warmup=args.warmup,
        concurrency=args.concurrency,
        throughput_seconds=args.seconds,
        direct=figures["direct"],
        plinth=figures["plinth"],
        contextforge=figures.get("contextforge"),
        **summary,
    )
    print(json.dumps(result))


if __name__ == "__main__":
    main()
