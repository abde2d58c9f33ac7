"""``plinth up`` and ``plinth down``: run the control plane on this machine, and stop it."""

from __future__ import annotations

import importlib
from pathlib import Path
from typing import Annotated, Any

import typer

from plinth.core.errors import PlinthError
from plinth.experience.cli.context import guarded
from plinth.experience.cli.output import err_console

__all__ = ["down", "register", "up"]

DataDirOption = Annotated[
    Path, typer.Option("--data-dir", help="Where state, logs and the CLI config live.")
]


def _load(module: str, name: str) -> Any:
    """Import ``module.name`` only when needed, so the CLI works without server extras."""
    try:
        return getattr(importlib.import_module(module), name)
    except (ImportError, AttributeError) as exc:
        raise PlinthError(f"{module}.{name} is not available in this installation: {exc}") from exc


@guarded
def up(
    host: Annotated[str, typer.Option("--host", help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port", min=0, max=65535, help="Port.")] = 8080,
    data_dir: DataDirOption = Path(".plinth"),
    db: Annotated[
        str | None,
        typer.Option(
            "--db",
            "--database-url",
            help="Store URL, e.g. postgresql+psycopg://user@host/plinth (default: SQLite "
            "in the data dir; env PLINTH_DATABASE_URL).",
        ),
    ] = None,
    reuse_port: Annotated[
        bool,
        typer.Option(
            "--reuse-port", help="Let other replicas on this host listen on the same port."
        ),
    ] = False,
) -> None:
    """Start the Plinth control plane here (API, reconciler, local provider).

    On first start it writes the CLI config (URL and demo users' tokens) under the data dir.
    Several replicas may share one PostgreSQL store: all serve the API, the elected
    leader runs the background work (see docs/replicas.md).

    Examples:

      plinth up --port 8080

      plinth up --db postgresql+psycopg://plinth@db/plinth --reuse-port
    """
    serve = _load("plinth.experience.api.server", "serve")
    err_console().print(f"Starting Plinth on http://{host}:{port} (data in {data_dir})")
    serve(host=host, port=port, data_dir=data_dir, database_url=db, reuse_port=reuse_port)


@guarded
def down(data_dir: DataDirOption = Path(".plinth")) -> None:
    """Stop the workloads the local provider started from this data dir.

    Example:

      plinth down
    """
    stop = _load("plinth.infrastructure.providers.local.provider", "stop_local_runtime")
    stop(data_dir)
    err_console().print(f"Stopped the local runtime in {data_dir}.")


def register(app: typer.Typer) -> None:
    """Add ``up`` and ``down`` to the root app."""
    app.command("up")(up)
    app.command("down")(down)
