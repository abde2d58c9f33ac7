"""The LiteLLM proxy for side-by-side runs of ``benchmarks/llm_gateway.py``.

LiteLLM lives in a virtual environment of its own, ``.cache/litellm-venv``, created by
``benchmarks/litellm/setup.sh`` (``litellm[proxy]`` pinned to ``VERSION``); nothing in
Plinth's own environment or CI depends on it, and the benchmark stops with a clear
message when it is missing. ``running_litellm()`` starts the proxy the way its docs do
(``litellm --config config.yaml``: one uvicorn worker, ``general_settings.master_key``)
from ``benchmarks/litellm/config.yaml``, with the upstream and the model's prices filled
in, ``LITELLM_LOCAL_MODEL_COST_MAP=True`` (its cost map is otherwise fetched from GitHub,
which this machine cannot reach; it falls back to the same bundled copy after three
failed tries) and without a database: see docs/benchmarks.md for why (the Prisma query
engine it needs for virtual keys and spend logs cannot be downloaded offline) and what
that changes.

    bash benchmarks/litellm/setup.sh     # create the virtual environment
"""

from __future__ import annotations

import os
import secrets
import signal
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

import httpx

__all__ = ["VENV", "VERSION", "LiteLLM", "LiteLLMError", "require_litellm", "running_litellm"]

REPO = Path(__file__).resolve().parent.parent
VENV = REPO / ".cache" / "litellm-venv"
VERSION = "1.108.7"
TEMPLATE = REPO / "benchmarks" / "litellm" / "config.yaml"


class LiteLLMError(RuntimeError):
    """LiteLLM is not installed, or could not be started (the message says why)."""


@dataclass(frozen=True)
class LiteLLM:
    """A running LiteLLM proxy: host, port, the key clients send, its process id."""

    host: str
    port: int
    key: str
    pid: int
    version: str


def require_litellm(venv: Path = VENV) -> tuple[Path, str]:
    """Return the ``litellm`` script and its version, or explain how to install it."""
    script = venv / "bin" / "litellm"
    if not script.exists():
        raise LiteLLMError(
            f"LiteLLM is not installed ({script} is missing): run "
            f"`bash benchmarks/litellm/setup.sh` (installs litellm[proxy]=={VERSION} into "
            f"{venv.relative_to(REPO)}), or pass --no-litellm"
        )
    probe = subprocess.run(
        [
            str(venv / "bin" / "python"),
            "-c",
            "import importlib.metadata as m; print(m.version('litellm'))",
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    if probe.returncode != 0:
        raise LiteLLMError(f"LiteLLM in {venv} does not import: {probe.stderr.strip()[-300:]}")
    return script, probe.stdout.strip()


def _config(upstream_base: str, input_price: Decimal, output_price: Decimal) -> str:
    """The template with the upstream and prices (per token) filled in."""
    return (
        TEMPLATE.read_text()
        .replace("{upstream}", upstream_base)
        .replace("{input_cost}", f"{input_price:.12f}")
        .replace("{output_cost}", f"{output_price:.12f}")
    )


def _wait_ready(base: str, key: str, process: subprocess.Popen[bytes], log: Path) -> None:
    """Wait until the proxy answers a chat completion (up to 180 s)."""
    deadline = time.monotonic() + 180
    body = {"model": "bench-model", "messages": [{"role": "user", "content": "ready?"}]}
    while time.monotonic() < deadline:
        if process.poll() is not None:
            tail = log.read_text(errors="replace").strip().splitlines()[-8:]
            raise LiteLLMError(f"litellm exited with {process.returncode}: {tail}")
        with suppress(httpx.HTTPError):
            answer = httpx.post(
                base + "/v1/chat/completions",
                json=body,
                headers={"Authorization": f"Bearer {key}"},
                timeout=10,
            )
            if answer.status_code == 200:
                return
        time.sleep(0.5)
    raise LiteLLMError(f"litellm did not answer within 180 s; see {log}")


@contextmanager
def running_litellm(
    *,
    upstream_base: str,
    port: int,
    work: Path,
    input_price: Decimal,
    output_price: Decimal,
    venv: Path = VENV,
) -> Iterator[LiteLLM]:
    """Run the LiteLLM proxy on loopback in front of ``upstream_base``; stop it afterwards."""
    script, version = require_litellm(venv)
    work.mkdir(parents=True, exist_ok=True)
    config = work / "config.yaml"
    config.write_text(_config(upstream_base, input_price, output_price))
    key = "sk-" + secrets.token_urlsafe(24)
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("PLINTH_", "VIRTUAL_ENV"))},
        "LITELLM_MASTER_KEY": key,
        "LITELLM_LOCAL_MODEL_COST_MAP": "True",
    }
    env.pop("DATABASE_URL", None)
    log = work / "litellm.log"
    argv = [str(script), "--config", str(config), "--host", "127.0.0.1", "--port", str(port)]
    with open(log, "wb") as out:
        process = subprocess.Popen(
            argv, env=env, cwd=work, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )
    try:
        _wait_ready(f"http://127.0.0.1:{port}", key, process, log)
        yield LiteLLM("127.0.0.1", port, key, process.pid, version)
    finally:
        _stop_group(process)


def _stop_group(process: subprocess.Popen[bytes]) -> None:
    """Terminate the process group of ``process`` (kill it after 30 s)."""
    with suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(timeout=30)
    except subprocess.TimeoutExpired:
        with suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=30)
    with suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)
