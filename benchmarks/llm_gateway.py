"""AI gateway overhead: chat completions through Plinth and LiteLLM vs direct, in one run.

Against ONE upstream process (``python -m plinth.integration.llm_upstream``: OpenAI
protocol on plain asyncio, a fixed 16-word answer with usage), three paths:

- direct: the load generator calls the upstream itself;
- plinth: a real control plane (``python -m plinth up`` on a temporary SQLite data dir)
  whose AI gateway (``/v1/chat/completions``) authenticates a virtual key (``plk-``,
  created through ``POST /api/v1/llm/keys`` by the platform engineer ``pat``), checks
  the team's model allow-list, reserves the team's budget, screens the prompt and the
  answer, meters tokens into the FinOps ledger and appends each inference to the audit
  chain. The upstream is an ``LlmProvider`` document and the team's access an
  ``LlmAccess`` document, planned and applied through the API;
- litellm: the LiteLLM proxy (``benchmarks/llm_litellm.py``: its own virtual environment,
  ``benchmarks/litellm/config.yaml``, the same model and prices, one worker, master key,
  no database: see docs/benchmarks.md for what that changes).

Each server is its own process; the load generator (``benchmarks/llm_load.py``) runs in
this one. For each concurrency (1 and 32 by default) every path gets a warm-up, then
the same number of requests in interleaved rounds. Added latency = the path's
percentile minus direct's at the same concurrency. Server CPU per request is read from
``/proc`` for the two gateways' process groups (less sensitive to other load).

Goal (issue 6): at every concurrency, Plinth's added p50 and p99 at most a quarter of
LiteLLM's, and its requests/s at least three times LiteLLM's. The last line printed is
one JSON object with every figure and ``goal_met``.

    .venv/bin/python benchmarks/llm_gateway.py [--concurrency 1 32] [--requests 500 2000]
        [--rounds 5] [--stream [--stream-requests 200 500]] [--no-litellm]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
from contextlib import ExitStack
from dataclasses import asdict
from decimal import Decimal
from pathlib import Path
from tempfile import TemporaryDirectory
from typing import Any

from llm_litellm import VERSION, LiteLLMError, require_litellm, running_litellm
from llm_load import Phase, Target, measure
from llm_plinth import (
    INPUT_PER_MILLION,
    MODEL,
    OUTPUT_PER_MILLION,
    free_port,
    group_cpu_seconds,
    plinth_records,
    running_plinth,
    running_upstream,
    screens_check,
)

GOAL_LATENCY_RATIO = 0.25
GOAL_THROUGHPUT_RATIO = 3.0
PATHS = ("direct", "plinth", "litellm")


def _ratio(a: float | None, b: float | None) -> float | None:
    return round(a / b, 4) if a is not None and b else None


def summarise_phase(figures: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """Add added latencies to the gateways' figures; return ratios and goal verdicts."""
    direct, plinth, lite = figures["direct"], figures["plinth"], figures.get("litellm")
    for path in (plinth, lite):
        if path:
            path["added_p50_ms"] = round(path["p50_ms"] - direct["p50_ms"], 3)
            path["added_p99_ms"] = round(path["p99_ms"] - direct["p99_ms"], 3)
    ratios = {
        key: _ratio(plinth[field], lite[field] if lite else None)
        for key, field in (
            ("added_p50", "added_p50_ms"),
            ("added_p99", "added_p99_ms"),
            ("throughput", "requests_per_s"),
            ("cpu_per_request", "server_cpu_ms_per_request"),
        )
    }
    p50, p99, rate = ratios["added_p50"], ratios["added_p99"], ratios["throughput"]
    goals = {
        "latency_at_most_quarter_of_litellm": p50 is not None
        and p50 <= GOAL_LATENCY_RATIO
        and p99 is not None
        and p99 <= GOAL_LATENCY_RATIO,
        "throughput_at_least_3x_litellm": rate is not None and rate >= GOAL_THROUGHPUT_RATIO,
        "no_errors": all(p["errors"] == 0 for p in figures.values()),
    }
    return {"ratios": ratios, "goals": goals, "goal_met": all(goals.values())}


def print_phase(label: str, figures: dict[str, Any], summary: dict[str, Any]) -> None:
    """Print one phase as a readable table."""
    print(f"\n{label}")
    print(f"{'path':<9}{'reqs':>6}{'p50 ms':>9}{'p99 ms':>9}{'+p50 ms':>9}{'+p99 ms':>9}", end="")
    print(f"{'req/s':>9}{'cpu ms/req':>11}{'errors':>7}")
    for name in PATHS:
        p = figures.get(name)
        if not p:
            print(f"{name:<9}  (not measured)")
            continue
        added = [p.get("added_p50_ms"), p.get("added_p99_ms"), p.get("server_cpu_ms_per_request")]
        a50, a99, cpu = ("-" if a is None else f"{a:.3f}" for a in added)
        print(
            f"{name:<9}{p['requests']:>6}{p['p50_ms']:>9.3f}{p['p99_ms']:>9.3f}{a50:>9}{a99:>9}"
            f"{p['requests_per_s']:>9.1f}{cpu:>11}{p['errors']:>7}"
        )
        if p.get("first_error"):
            print(f"    first error: {p['first_error']}")
    r = summary["ratios"]
    print(
        f"Plinth/LiteLLM: added p50 x{r['added_p50']}, added p99 x{r['added_p99']}"
        f" (goal <= {GOAL_LATENCY_RATIO}); req/s x{r['throughput']}"
        f" (goal >= {GOAL_THROUGHPUT_RATIO}); server CPU/request x{r['cpu_per_request']}"
    )
    for goal, met in summary["goals"].items():
        print(f"  {'met   ' if met else 'MISSED'} {goal}")


def _phases(args: argparse.Namespace) -> list[tuple[str, Phase]]:
    phases = []
    for concurrency, requests in zip(args.concurrency, args.requests, strict=True):
        warmup = max(20, requests // 10)
        phases.append((f"c{concurrency}", Phase(concurrency, requests, args.rounds, warmup)))
    if args.stream:
        for concurrency, requests in zip(args.concurrency, args.stream_requests, strict=True):
            warmup = max(20, requests // 10)
            phase = Phase(concurrency, requests, args.rounds, warmup, stream=True)
            phases.append((f"c{concurrency}_stream", phase))
    return phases


def _run_phases(
    targets: list[Target], pgids: dict[str, int], args: argparse.Namespace
) -> dict[str, dict[str, Any]]:
    """Measure every phase; add each gateway's server CPU per request."""
    results: dict[str, dict[str, Any]] = {}
    for label, phase in _phases(args):
        before = {name: group_cpu_seconds(pgid) for name, pgid in pgids.items()}
        figures = measure(targets, phase)
        for name, pgid in pgids.items():
            served = figures[name]["requests"] + phase.warmup
            spent = group_cpu_seconds(pgid) - before[name]
            figures[name]["server_cpu_ms_per_request"] = round(spent * 1000 / served, 3)
        summary = summarise_phase(figures)
        print_phase(
            f"{label}: concurrency {phase.concurrency}, stream={phase.stream}", figures, summary
        )
        shape = {k: v for k, v in asdict(phase).items() if k != "prompt"}
        results[label] = {"phase": shape, **figures, **summary}
    return results


def run(args: argparse.Namespace, result: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Start the servers, measure, stop them; return the phases' figures."""
    input_price = Decimal(str(INPUT_PER_MILLION)) / 1_000_000
    output_price = Decimal(str(OUTPUT_PER_MILLION)) / 1_000_000
    with TemporaryDirectory(prefix="plinth-llm-bench-") as tmp, ExitStack() as stack:
        work = Path(tmp)
        upstream = stack.enter_context(running_upstream(work))
        plinth = stack.enter_context(running_plinth(work, upstream.base))
        targets = [
            Target("direct", "127.0.0.1", upstream.port, "/v1/chat/completions", "none", MODEL),
            Target("plinth", "127.0.0.1", plinth.port, "/v1/chat/completions", plinth.key, MODEL),
        ]
        pgids = {"plinth": plinth.pgid}
        result["plinth_screens"] = screens_check(plinth)
        if not args.no_litellm:
            lite = stack.enter_context(
                running_litellm(
                    upstream_base=upstream.base,
                    port=free_port(),
                    work=work / "litellm",
                    input_price=input_price,
                    output_price=output_price,
                )
            )
            result["litellm_version"] = lite.version
            targets.append(
                Target("litellm", lite.host, lite.port, "/v1/chat/completions", lite.key, MODEL)
            )
            pgids["litellm"] = lite.pid
        phases = _run_phases(targets, pgids, args)
        stack.close()  # stops the servers; Plinth's writer drains its queue first
        result["plinth_records"] = plinth_records(plinth.data_dir)
    return phases


def main() -> None:
    """Run the benchmark; print the tables, then the JSON line."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--concurrency", type=int, nargs="+", default=[1, 32])
    parser.add_argument("--requests", type=int, nargs="+", default=[500, 2000])
    parser.add_argument("--rounds", type=int, default=5, help="interleaved rounds per phase")
    parser.add_argument("--stream", action="store_true", help="also measure streamed answers")
    parser.add_argument("--stream-requests", type=int, nargs="+", default=[200, 500])
    parser.add_argument("--no-litellm", action="store_true", help="skip LiteLLM (goal unmet)")
    args = parser.parse_args()
    if len(args.requests) != len(args.concurrency) or (
        args.stream and len(args.stream_requests) != len(args.concurrency)
    ):
        parser.error("give one --requests (--stream-requests) figure per --concurrency figure")
    if not args.no_litellm:
        try:
            require_litellm()
        except LiteLLMError as exc:
            sys.exit(f"llm_gateway benchmark: {exc}")
    result: dict[str, Any] = {
        "benchmark": "llm_gateway",
        "litellm_version": None,
        "litellm_pinned": VERSION,
        "litellm_mode": None if args.no_litellm else "master key, no database",
        "python": platform.python_version(),
        "cpus": os.cpu_count(),
        "load_before": [round(x, 2) for x in os.getloadavg()],
    }
    phases = run(args, result)
    result["load_after"] = [round(x, 2) for x in os.getloadavg()]
    result["phases"] = phases
    goals = [p for label, p in phases.items() if not label.endswith("_stream")]
    result["goal_met"] = not args.no_litellm and all(p["goal_met"] for p in goals)
    print(f"\nrecords in Plinth: {result['plinth_records']}")
    print(f"goal met: {result['goal_met']}")
    print(json.dumps(result))


if __name__ == "__main__":
    main()
