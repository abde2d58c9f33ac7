"""Shared test support: real servers, real databases, and their clean-up."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import create_engine, text

__all__ = ["PlinthServer", "free_port", "start_server", "temporary_pg_database", "wait_until"]

REPO = Path(__file__).resolve().parent.parent


def free_port() -> int:
    """Return a free TCP port on loopback."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def wait_until(
    predicate: Any, *, timeout: float = 60.0, interval: float = 0.2, what: str = ""
) -> Any:
    """Poll ``predicate`` until it returns a truthy value; fail after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        try:
            last = predicate()
        except (httpx.HTTPError, OSError) as exc:
            last = exc
        if last and not isinstance(last, Exception):
            return last
        time.sleep(interval)
    raise AssertionError(f"timed out waiting for {what or predicate}: last={last!r}")


@dataclass
class PlinthServer:
    """A control plane running as a real process on loopback."""

    data_dir: Path
    port: int
    env: dict[str, str]
    process: subprocess.Popen[bytes] | None = None
    tokens: dict[str, str] = field(default_factory=dict)

    @property
    def url(self) -> str:
        """Base URL of the server."""
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        """Start (or restart) the server and wait until it answers."""
        log = open(self.data_dir / "server.log", "ab")  # noqa: SIM115 - closed with the process
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "plinth",
                "up",
                "--port",
                str(self.port),
                "--data-dir",
                str(self.data_dir),
            ],
            env=self.env,
            stdout=log,
            stderr=subprocess.STDOUT,
            cwd=REPO,
        )
        wait_until(self._healthy, timeout=60, what="the control plane to answer /healthz")
        tokens_file = self.data_dir / "tokens.json"
        if tokens_file.exists():
            self.tokens = json.loads(tokens_file.read_text())

    def _healthy(self) -> bool:
        if self.process is not None and self.process.poll() is not None:
            raise AssertionError(f"server exited with {self.process.returncode}: {self.log_tail()}")
        return httpx.get(self.url + "/healthz", timeout=2).status_code == 200

    def log_tail(self, lines: int = 40) -> str:
        """Return the end of the server's log."""
        path = self.data_dir / "server.log"
        return (
            "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
            if path.exists()
            else ""
        )

    def kill(self) -> None:
        """Kill the server with SIGKILL (no clean shutdown)."""
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait(timeout=30)

    def stop(self) -> None:
        """Stop the server gracefully."""
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=30)

    def client(self, user: str = "ada") -> httpx.Client:
        """Return an HTTP client authenticated as a seeded user."""
        return httpx.Client(
            base_url=self.url, headers={"Authorization": f"Bearer {self.tokens[user]}"}, timeout=60
        )

    def cli_env(self, user: str = "ada") -> dict[str, str]:
        """Return environment variables pointing the CLI at this server as ``user``."""
        return {**self.env, "PLINTH_URL": self.url, "PLINTH_TOKEN": self.tokens[user]}


@contextmanager
def start_server(
    data_dir: Path, *, extra_env: dict[str, str] | None = None
) -> Iterator[PlinthServer]:
    """Run a control plane in ``data_dir``; stop it and every workload it started afterwards."""
    from plinth.infrastructure.providers.local.provider import stop_local_runtime

    data_dir.mkdir(parents=True, exist_ok=True)
    env = {
        **os.environ,
        "PLINTH_RECONCILE_INTERVAL": "0.5",
        "PYTHONUNBUFFERED": "1",
        **(extra_env or {}),
    }
    env.pop("PLINTH_CONFIG", None)
    server = PlinthServer(data_dir=data_dir, port=free_port(), env=env)
    try:
        server.start()
        yield server
    finally:
        server.stop()
        stop_local_runtime(data_dir)


@contextmanager
def temporary_pg_database(admin_url: str) -> Iterator[str]:
    """Create a fresh database on a PostgreSQL server; drop it afterwards."""
    name = f"plinth_test_{uuid.uuid4().hex[:12]}"
    admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    base, _, _ = admin_url.rpartition("/")
    try:
        yield f"{base}/{name}"
    finally:
        with admin.connect() as conn:
            conn.execute(
                text("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = :n"),
                {"n": name},
            )
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}"'))
        admin.dispose()
