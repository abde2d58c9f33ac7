"""The LLM gateway benchmark's own parts: load generator, summary, LiteLLM check."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

sys.path.append(str(Path(__file__).resolve().parents[2] / "benchmarks"))

import llm_gateway
import llm_litellm
from llm_load import Phase, Target, measure, percentile


@pytest.fixture(scope="module")
def upstream_port() -> Iterator[int]:
    """Run the local OpenAI-speaking upstream in its own process."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    argv = [sys.executable, "-m", "plinth.integration.llm_upstream", "--port", str(port)]
    process = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                assert time.monotonic() < deadline, "the upstream did not start"
                time.sleep(0.05)
        yield port
    finally:
        process.terminate()
        process.wait(timeout=30)


def _target(port: int, path: str = "/v1/chat/completions") -> Target:
    return Target("direct", "127.0.0.1", port, path, "none", "bench-model")


@pytest.mark.parametrize("stream", [False, True])
def test_measure_counts_good_answers(upstream_port: int, stream: bool) -> None:
    phase = Phase(concurrency=4, requests=40, rounds=2, warmup=4, stream=stream)
    figures = measure([_target(upstream_port)], phase)["direct"]
    assert figures["requests"] == 40
    assert figures["errors"] == 0 and figures["first_error"] is None
    assert 0 < figures["p50_ms"] <= figures["p99_ms"]
    assert figures["requests_per_s"] > 0


def test_measure_counts_a_refusal_as_an_error(upstream_port: int) -> None:
    phase = Phase(concurrency=2, requests=6, rounds=1, warmup=0)
    figures = measure([_target(upstream_port, "/v1/nowhere")], phase)["direct"]
    assert figures["errors"] == 6
    assert str(figures["first_error"]).startswith("HTTP 404")


def test_percentile_is_nearest_rank() -> None:
    values = [float(v) for v in range(1, 101)]
    assert percentile(values, 50) == 50.0
    assert percentile(values, 99) == 99.0
    assert percentile([3.0], 99) == 3.0


def _path(p50: float, p99: float, rate: float, errors: int = 0) -> dict[str, object]:
    return {
        "p50_ms": p50,
        "p99_ms": p99,
        "requests_per_s": rate,
        "errors": errors,
        "server_cpu_ms_per_request": 1.0,
    }


def test_summary_ratios_and_goals() -> None:
    figures = {
        "direct": _path(1.0, 2.0, 1000.0),
        "plinth": _path(2.0, 4.0, 300.0),
        "litellm": _path(21.0, 42.0, 50.0),
    }
    summary = llm_gateway.summarise_phase(figures)
    assert summary["ratios"]["added_p50"] == 0.05
    assert summary["ratios"]["added_p99"] == 0.05
    assert summary["ratios"]["throughput"] == 6.0
    assert summary["goal_met"] is True
    figures["plinth"] = _path(11.0, 4.0, 100.0)
    summary = llm_gateway.summarise_phase(figures)
    assert summary["goals"] == {
        "latency_at_most_quarter_of_litellm": False,
        "throughput_at_least_3x_litellm": False,
        "no_errors": True,
    }


def test_summary_without_litellm_misses_the_goal() -> None:
    figures = {"direct": _path(1.0, 2.0, 1000.0), "plinth": _path(2.0, 4.0, 300.0)}
    summary = llm_gateway.summarise_phase(figures)
    assert summary["ratios"]["throughput"] is None
    assert summary["goal_met"] is False


def test_missing_litellm_says_how_to_install_it() -> None:
    with pytest.raises(llm_litellm.LiteLLMError, match=r"benchmarks/litellm/setup\.sh"):
        llm_litellm.require_litellm(llm_litellm.REPO / ".cache" / "no-such-venv")
