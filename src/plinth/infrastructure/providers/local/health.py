"""Health checks (HTTP, TCP, exec) and free-port allocation on the loopback interface."""

from __future__ import annotations

import http.client
import socket
import subprocess
from collections.abc import Mapping, Sequence
from urllib.parse import urlsplit

__all__ = ["exec_ok", "free_port", "http_status", "tcp_ok"]

CHECK_TIMEOUT_S = 2.0


def free_port(*, exclude: frozenset[int] = frozenset()) -> int:
    """Return a TCP port on 127.0.0.1 that is free now (the kernel picks it)."""
    for _ in range(20):
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            sock.bind(("127.0.0.1", 0))
            port = int(sock.getsockname()[1])
        if port not in exclude:
            return port
    raise OSError("could not find a free port on 127.0.0.1")


def http_status(url: str, *, timeout: float = CHECK_TIMEOUT_S) -> int | None:
    """Return the status of ``GET url`` (redirects not followed), or None if it did not answer."""
    parts = urlsplit(url)
    if parts.hostname is None:
        return None
    conn_type = (
        http.client.HTTPSConnection if parts.scheme == "https" else http.client.HTTPConnection
    )
    conn = conn_type(parts.hostname, parts.port, timeout=timeout)
    target = parts.path or "/"
    if parts.query:
        target = f"{target}?{parts.query}"
    try:
        conn.request("GET", target, headers={"User-Agent": "plinth-health"})
        response = conn.getresponse()
        response.read(65536)
        return int(response.status)
    except (OSError, http.client.HTTPException):
        return None
    finally:
        conn.close()


def tcp_ok(port: int, *, host: str = "127.0.0.1", timeout: float = CHECK_TIMEOUT_S) -> bool:
    """Return whether a TCP connection to ``host:port`` succeeds."""
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def exec_ok(
    command: Sequence[str], *, env: Mapping[str, str], cwd: str, timeout: float = 5.0
) -> bool:
    """Return whether ``command`` exits 0 within ``timeout`` seconds."""
    try:
        done = subprocess.run(
            list(command),
            env=dict(env),
            cwd=cwd,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            timeout=timeout,
            check=False,
        )
    except (OSError, subprocess.SubprocessError):
        return False
    return done.returncode == 0
