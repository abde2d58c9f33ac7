"""The local OpenAI-compatible upstream as a real process, for the LLM gateway's tests."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import httpx

from tests.support import REPO, free_port, wait_until

__all__ = ["LlmUpstream", "start_llm_upstream"]


@dataclass
class LlmUpstream:
    """A running ``plinth.integration.llm_upstream`` process."""

    port: int
    process: subprocess.Popen[bytes]

    @property
    def url(self) -> str:
        """Its OpenAI base URL."""
        return f"http://127.0.0.1:{self.port}/v1"

    def stop(self) -> None:
        """Stop the process (idempotent)."""
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)


@contextmanager
def start_llm_upstream(port: int | None = None) -> Iterator[LlmUpstream]:
    """Run the local upstream on loopback until the block ends."""
    port = port or free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "plinth.integration.llm_upstream", "--port", str(port)],
        cwd=REPO,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    upstream = LlmUpstream(port, process)
    try:
        wait_until(
            lambda: httpx.get(upstream.url + "/models", timeout=2).status_code == 200,
            timeout=20,
            what="the LLM upstream",
        )
        yield upstream
    finally:
        upstream.stop()
