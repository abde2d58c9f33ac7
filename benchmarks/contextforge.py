"""IBM's ContextForge MCP gateway, for side-by-side runs of ``benchmarks/mcp_gateway.py``.

``ensure_venv()`` creates ``.venv-contextforge`` (a virtual environment of its own: the
package needs Python >= 3.12 and pins its own ``mcp``) with ``mcp-contextforge-gateway``
from PyPI. ``running_contextforge()`` starts its default install the way its README does
(``mcpgateway --host --port``: one uvicorn process, SQLite, authentication on with JWT
bearer tokens signed by ``JWT_SECRET_KEY``, strong generated secrets) with two settings
changed: ``RATE_LIMITING_ENABLED=false`` (asked for by the benchmark) and
``SSRF_ALLOW_LOCALHOST=true`` (its SSRF guard refuses loopback upstreams by default, and
the shared upstream listens on loopback). It then registers the upstream through its
REST admin API (``POST /gateways`` with transport ``STREAMABLEHTTP``), bundles the
upstream's tools into a virtual server (``POST /servers``) and yields the virtual
server's Streamable HTTP endpoint (``/servers/<id>/mcp``) with an admin bearer token.

    python benchmarks/contextforge.py      # only create the virtual environment
"""

from __future__ import annotations

import glob
import os
import secrets
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

__all__ = [
    "PACKAGE",
    "VENV",
    "ContextForge",
    "ContextForgeError",
    "ensure_venv",
    "running_contextforge",
]

REPO = Path(__file__).resolve().parent.parent
VENV = REPO / ".venv-contextforge"
PACKAGE = "mcp-contextforge-gateway==1.1.0"
ADMIN = "admin@example.com"


class ContextForgeError(RuntimeError):
    """ContextForge could not be installed, started or configured (the message says why)."""


@dataclass(frozen=True)
class ContextForge:
    """A running ContextForge: the virtual server's MCP endpoint and a bearer token."""

    url: str
    token: str
    tools: tuple[str, ...]


def _python312() -> str:
    """Return an interpreter of Python 3.12 or 3.13 (what the package supports)."""
    found = [shutil.which(n) for n in ("python3.12", "python3.13")]
    found += sorted(glob.glob(os.path.expanduser("~/.pyenv/versions/3.1[23].*/bin/python3")))
    for candidate in (c for c in found if c):
        probe = subprocess.run(
            [candidate, "-c", "import sys, venv; print(sys.version_info[:2] >= (3, 12))"],
            capture_output=True,
            text=True,
            check=False,
        )
        if probe.returncode == 0 and probe.stdout.strip() == "True":
            return candidate
    raise ContextForgeError(
        f"{PACKAGE} needs Python >= 3.12 (< 3.14) and none was found "
        "(looked for python3.12, python3.13 and pyenv versions)"
    )


def ensure_venv(venv: Path = VENV) -> Path:
    """Create ``venv`` with ContextForge installed (once); return its ``mcpgateway`` script."""
    script = venv / "bin" / "mcpgateway"
    marker = venv / ".installed"
    if script.exists() and marker.exists() and marker.read_text().strip() == PACKAGE:
        return script
    python = _python312()
    steps = [
        [python, "-m", "venv", "--clear", str(venv)],
        [str(venv / "bin" / "python"), "-m", "pip", "install", "-q", "--upgrade", "pip"],
        [str(venv / "bin" / "python"), "-m", "pip", "install", "-q", PACKAGE],
    ]
    for step in steps:
        done = subprocess.run(step, capture_output=True, text=True, check=False)
        if done.returncode != 0:
            tail = (done.stderr or done.stdout).strip().splitlines()[-5:]
            raise ContextForgeError(f"`{' '.join(step)}` failed: {' | '.join(tail)}")
    marker.write_text(PACKAGE + "\n")
    return script


def _environment(data_dir: Path) -> dict[str, str]:
    """The default install's settings with strong secrets, and the two changes named above."""

    def strong() -> str:
        return secrets.token_urlsafe(24) + "-Aa1!"

    return {
        **{k: v for k, v in os.environ.items() if not k.startswith(("PLINTH_", "VIRTUAL_ENV"))},
        "JWT_SECRET_KEY": secrets.token_hex(32),
        "AUTH_ENCRYPTION_SECRET": secrets.token_hex(32),
        "PLATFORM_ADMIN_EMAIL": ADMIN,
        "PLATFORM_ADMIN_PASSWORD": strong(),
        "BASIC_AUTH_PASSWORD": strong(),
        "DEFAULT_USER_PASSWORD": strong(),
        "DATABASE_URL": f"sqlite:///{data_dir / 'mcp.db'}",
        "RATE_LIMITING_ENABLED": "false",
        "SSRF_ALLOW_LOCALHOST": "true",
        "MCPGATEWAY_AUTO_INIT_SECRETS": "false",
    }


def _token(venv: Path, env: dict[str, str]) -> str:
    """Mint an admin bearer token with ContextForge's own tool (as its README does)."""
    done = subprocess.run(
        [
            str(venv / "bin" / "python"),
            "-m",
            "mcpgateway.utils.create_jwt_token",
            "--username",
            ADMIN,
            "--exp",
            "120",
            "--secret",
            env["JWT_SECRET_KEY"],
        ],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    lines = done.stdout.strip().splitlines()
    if done.returncode != 0 or not lines:
        raise ContextForgeError(f"create_jwt_token failed: {done.stderr.strip()[-500:]}")
    return lines[-1].strip()


def _wait_healthy(url: str, process: subprocess.Popen[bytes], log: Path, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            tail = log.read_text(errors="replace").strip().splitlines()[-8:]
            raise ContextForgeError(f"mcpgateway exited with {process.returncode}: {tail}")
        try:
            if httpx.get(url + "/health", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.5)
    raise ContextForgeError(f"mcpgateway did not answer /health within {timeout:.0f} s")


def _register(base: str, token: str, upstream_url: str) -> ContextForge:
    """Register the upstream, bundle its tools into a virtual server, return its endpoint."""
    client = httpx.Client(base_url=base, headers={"Authorization": f"Bearer {token}"}, timeout=60)
    with client:
        body = {"name": "bench", "url": upstream_url, "transport": "STREAMABLEHTTP"}
        made = client.post("/gateways", json=body)
        if made.status_code >= 300:
            raise ContextForgeError(f"POST /gateways: {made.status_code} {made.text[:300]}")
        listed: Any = client.get("/tools").json()
        items = listed if isinstance(listed, list) else listed.get("items", [])
        tools = [t for t in items if t.get("gatewaySlug", "bench") == "bench"]
        if not tools:
            raise ContextForgeError(f"no tools discovered from the upstream: {listed!r:.300}")
        server = {"name": "bench", "associated_tools": [t["id"] for t in tools]}
        made = client.post("/servers", json={"server": server})
        if made.status_code >= 300:
            raise ContextForgeError(f"POST /servers: {made.status_code} {made.text[:300]}")
        server_id = made.json()["id"]
    return ContextForge(
        url=f"{base}/servers/{server_id}/mcp",
        token=token,
        tools=tuple(str(t["name"]) for t in tools),
    )


@contextmanager
def running_contextforge(
    *, upstream_url: str, port: int, data_dir: Path, venv: Path = VENV, timeout: float = 180.0
) -> Iterator[ContextForge]:
    """Run ContextForge on loopback proxying ``upstream_url``; stop it afterwards."""
    script = ensure_venv(venv)
    data_dir.mkdir(parents=True, exist_ok=True)
    env = _environment(data_dir)
    log = data_dir / "contextforge.log"
    with open(log, "wb") as out:
        process = subprocess.Popen(
            [str(script), "--host", "127.0.0.1", "--port", str(port)],
            env=env,
            cwd=data_dir,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group: its helpers end with it
        )
    base = f"http://127.0.0.1:{port}"
    try:
        _wait_healthy(base, process, log, timeout)
        yield _register(base, _token(venv, env), upstream_url)
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
        os.killpg(process.pid, signal.SIGKILL)  # any helper that outlived its parent


if __name__ == "__main__":
    try:
        print(ensure_venv())
    except ContextForgeError as exc:
        sys.exit(f"ContextForge: {exc}")
