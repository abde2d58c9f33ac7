"""Per-invocation state of the CLI and the one place errors become exit codes.

``CliState`` is the Click context object. The root callback fills in the
global options; commands ask it for a connected ``PlinthClient``. Tests (and
embedders) may pass their own ``CliState(transport=...)`` as ``obj`` so that
the client talks to an in-process server instead of the network.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Annotated, ParamSpec, TypeVar

import httpx
import typer

from plinth.core.errors import PlinthError
from plinth.experience.cli.client import (
    CliConfig,
    PlinthClient,
    exit_code_for,
    make_client,
    resolve_config,
)
from plinth.experience.cli.output import OutputFormat, print_error

__all__ = [
    "EXIT_DENIED",
    "EXIT_ERROR",
    "EXIT_INVALID",
    "EXIT_OK",
    "EXIT_WAITING_APPROVAL",
    "AllOption",
    "CliState",
    "EnvOption",
    "LimitOption",
    "OutputOption",
    "ProjectOption",
    "YesOption",
    "guarded",
    "state_of",
]

EXIT_OK = 0
EXIT_ERROR = 1
EXIT_INVALID = 2
EXIT_DENIED = 3
EXIT_WAITING_APPROVAL = 4

P = ParamSpec("P")
R = TypeVar("R")


@dataclass
class CliState:
    """Global options of one invocation plus the seams tests may replace."""

    url: str | None = None
    token: str | None = None
    as_user: str | None = None
    transport: httpx.BaseTransport | None = None
    poll_interval_s: float = 1.0
    _config: CliConfig | None = field(default=None, repr=False)
    _client: PlinthClient | None = field(default=None, repr=False)

    def config(self) -> CliConfig:
        """Return the resolved connection settings (resolved once per invocation)."""
        if self._config is None:
            self._config = resolve_config(url=self.url, token=self.token, as_user=self.as_user)
        return self._config

    def client(self) -> PlinthClient:
        """Return the API client for this invocation."""
        if self._client is None:
            self._client = make_client(self.config(), transport=self.transport)
        return self._client

    def close(self) -> None:
        """Release the client's connections."""
        if self._client is not None:
            self._client.close()
            self._client = None


def state_of(ctx: typer.Context) -> CliState:
    """Return the ``CliState`` of this invocation, creating a default one if needed."""
    state = ctx.find_object(CliState)
    if state is None:
        state = ctx.ensure_object(CliState)
    return state


def guarded(func: Callable[P, R]) -> Callable[P, R]:
    """Wrap a command so that Plinth errors print cleanly and exit with their code."""

    @functools.wraps(func)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return func(*args, **kwargs)
        except PlinthError as exc:
            print_error(exc)
            raise typer.Exit(exit_code_for(exc)) from exc

    return wrapper


OutputOption = Annotated[
    OutputFormat,
    typer.Option("--output", "-o", help="table for people; json or yaml print the raw API data."),
]
EnvOption = Annotated[str | None, typer.Option("--env", "-e", help="Environment, e.g. dev.")]
ProjectOption = Annotated[str | None, typer.Option("--project", "-p", help="Project, if any.")]
LimitOption = Annotated[
    int, typer.Option("--limit", "-l", min=1, max=500, help="Items per page (server max 500).")
]
AllOption = Annotated[bool, typer.Option("--all", "-A", help="Follow pages to the end.")]
YesOption = Annotated[bool, typer.Option("--yes", "-y", help="Do not ask for confirmation.")]
