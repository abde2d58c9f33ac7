"""``plinth mcp serve --stdio``: the MCP server's tools over stdio, in this process.

For MCP clients that launch their servers as subprocesses. The tools run
against the store under ``--data-dir`` (the same settings as ``plinth up``),
as the agent whose token is in ``PLINTH_TOKEN``; the token is checked again on
every call, so a revoked token stops working at once. Stdout carries the MCP
messages only: everything else goes to stderr.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Annotated

import typer

from plinth.core.config import load_settings
from plinth.core.errors import InvalidInput
from plinth.experience.cli.context import guarded

__all__ = ["mcp_cli", "serve"]

mcp_cli = typer.Typer(
    name="mcp",
    help="Serve the platform's API as MCP tools to agents.",
    no_args_is_help=True,
)


@mcp_cli.callback()
def mcp() -> None:
    """Serve the platform's API as MCP tools to agents."""


@mcp_cli.command("serve")
@guarded
def serve(
    stdio: Annotated[
        bool, typer.Option("--stdio", help="Speak MCP on stdin/stdout (the only transport here).")
    ] = False,
    data_dir: Annotated[
        Path | None,
        typer.Option("--data-dir", help="The control plane's state (as for `plinth up`)."),
    ] = None,
    reconcile: Annotated[
        bool,
        typer.Option(
            "--reconcile/--no-reconcile",
            help="Also run the reconciler; only when no `plinth up` serves this data dir.",
        ),
    ] = False,
) -> None:
    """Serve the MCP tools over stdio as the agent whose token is in PLINTH_TOKEN.

    Over HTTP, the control plane (`plinth up`) serves the same tools at /mcp.

    Example:

      PLINTH_TOKEN=<agent token for plinth-mcp> plinth mcp serve --stdio --data-dir .plinth
    """
    if not stdio:
        raise InvalidInput(
            "choose a transport: --stdio (over HTTP, `plinth up` serves the tools at /mcp)"
        )
    token = os.environ.get("PLINTH_TOKEN", "").strip()
    if not token:
        raise InvalidInput("set PLINTH_TOKEN to the agent's token (issued for plinth-mcp)")
    run_stdio(token, data_dir=data_dir, reconcile=reconcile)


def run_stdio(token: str, *, data_dir: Path | None, reconcile: bool) -> None:
    """Serve the tools over this process's stdin/stdout until the client closes them."""
    import anyio

    from plinth.experience.mcp.auth import acting_as, platform_authenticator
    from plinth.experience.mcp.server import build_server
    from plinth.orchestration.platform import Platform

    settings = load_settings({"data_dir": data_dir})
    platform = Platform(settings)
    try:
        _keep_tokens(settings.data_dir, platform.prepare())
        authenticate = platform_authenticator(platform)
        authenticate(token)  # refuse a bad token before the client starts talking
        if reconcile:
            platform.start()
        server = build_server(platform)
        with acting_as(lambda: authenticate(token)):
            anyio.run(server.run_stdio_async)
    finally:
        platform.stop()


def _keep_tokens(data_dir: Path, fresh: dict[str, str]) -> None:
    """Store tokens a first start issued (as `plinth up` does), saying so on stderr."""
    if not fresh:
        return
    from plinth.experience.api.server import write_tokens

    known_path = data_dir / "tokens.json"
    known = json.loads(known_path.read_text()) if known_path.exists() else {}
    path = write_tokens(data_dir, {**known, **fresh})
    print(f"New API tokens for {', '.join(sorted(fresh))} stored in {path}", file=sys.stderr)
