"""Run the control plane: migrate, seed, reconcile in the background, serve HTTP."""

from __future__ import annotations

import json
import os
import signal
import socket
from pathlib import Path
from types import FrameType

import uvicorn

from plinth.core.config import Settings, load_settings
from plinth.experience.api.app import create_app
from plinth.orchestration.platform import Platform

__all__ = ["serve", "write_tokens"]


def write_tokens(data_dir: Path, tokens: dict[str, str]) -> Path:
    """Store freshly issued demo tokens under the data dir (mode 0600)."""
    path = data_dir / "tokens.json"
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        json.dump(tokens, fh, indent=2)
    return path


def _announce(settings: Settings, tokens: dict[str, str]) -> None:
    from plinth.experience.cli.client import set_server_url, write_cli_config

    url = f"http://{settings.host}:{settings.port}"
    if tokens:
        # New users of an existing store (an upgrade) join the tokens issued before.
        known_path = settings.data_dir / "tokens.json"
        known = json.loads(known_path.read_text()) if known_path.exists() else {}
        merged = {**known, **tokens}
        path = write_tokens(settings.data_dir, merged)
        current = "ada" if "ada" in merged else next(iter(merged))
        write_cli_config(
            settings.data_dir / "cli.yaml", url=url, users=merged, current_user=current
        )
        print("New API tokens (shown once, stored in", path, "):")
        for name, token in tokens.items():
            print(f"  {name:<6} {token}", flush=True)
    else:
        set_server_url(settings.data_dir / "cli.yaml", url)  # restarted on another port
    print(f"Plinth control plane on {url}  (API docs: {url}/docs)")
    print(f"Portal: {url}/portal  (a home per persona; sign in with a token above)")
    print(
        f"Data under {settings.data_dir.resolve()}; CLI config {settings.data_dir / 'cli.yaml'}",
        flush=True,
    )


def _reuse_port_socket(host: str, port: int) -> socket.socket:
    """Bind a listening socket that other replicas on this host may bind too."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    sock.bind((host, port))
    sock.listen(2048)
    sock.set_inheritable(True)
    return sock


def _exit_cleanly(signum: int, frame: FrameType | None) -> None:
    raise SystemExit(0)


def serve(
    *,
    host: str | None = None,
    port: int | None = None,
    data_dir: Path | None = None,
    database_url: str | None = None,
    reuse_port: bool = False,
) -> None:
    """Run the control plane in the foreground until interrupted.

    ``reuse_port`` lets several replicas on one host listen on the same port
    (SO_REUSEPORT: the kernel spreads connections between them).
    """
    settings = load_settings(
        {"host": host, "port": port, "data_dir": data_dir, "database_url": database_url}
    )
    platform = Platform(settings)
    tokens = platform.prepare()
    _announce(settings, tokens)
    platform.start()
    config = uvicorn.Config(
        create_app(platform),
        host=settings.host,
        port=settings.port,
        log_level="warning",
        access_log=False,
        # Open server-sent event streams of the portal must not hold a shutdown up.
        timeout_graceful_shutdown=2,
    )
    sockets = [_reuse_port_socket(settings.host, settings.port)] if reuse_port else None
    server = uvicorn.Server(config)
    # uvicorn re-raises SIGTERM once it has shut down: exit through ``finally`` so that
    # a leader stops its background work and hands leadership over cleanly.
    signal.signal(signal.SIGTERM, _exit_cleanly)
    try:
        server.run(sockets=sockets)
    except KeyboardInterrupt:
        pass
    finally:
        platform.stop()
    if not server.started:
        raise SystemExit(3)  # uvicorn logged why (e.g. the port is taken)
