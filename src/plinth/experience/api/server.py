"""Run the control plane: migrate, seed, reconcile in the background, serve HTTP."""

from __future__ import annotations

import json
import os
from pathlib import Path

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
    from plinth.experience.cli.client import write_cli_config

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
    print(f"Plinth control plane on {url}  (API docs: {url}/docs)")
    print(f"Portal: {url}/portal  (a home per persona; sign in with a token above)")
    print(
        f"Data under {settings.data_dir.resolve()}; CLI config {settings.data_dir / 'cli.yaml'}",
        flush=True,
    )


def serve(
    *, host: str | None = None, port: int | None = None, data_dir: Path | None = None
) -> None:
    """Run the control plane in the foreground until interrupted."""
    settings = load_settings({"host": host, "port": port, "data_dir": data_dir})
    platform = Platform(settings)
    tokens = platform.prepare()
    _announce(settings, tokens)
    platform.start()
    try:
        uvicorn.run(
            create_app(platform),
            host=settings.host,
            port=settings.port,
            log_level="warning",
            access_log=False,
            # Open server-sent event streams of the portal must not hold a shutdown up.
            timeout_graceful_shutdown=2,
        )
    finally:
        platform.stop()
