"""``plinth agents``: registered agents, their envelopes and their signed tokens."""

from __future__ import annotations

from typing import Annotated, Any

import typer
from rich.text import Text

from plinth.experience.cli.context import (
    AllOption,
    LimitOption,
    OutputOption,
    guarded,
    state_of,
)
from plinth.experience.cli.output import (
    OutputFormat,
    err_console,
    out_console,
    print_data,
    print_object,
    print_table,
)
from plinth.experience.cli.read import list_items, show_list

__all__ = ["agents_app"]

agents_app = typer.Typer(
    help=(
        "AI agents as platform users: register one by applying an Agent document "
        "(plinth apply -f agent.yaml), then issue it short-lived tokens here."
    ),
    no_args_is_help=True,
)

_COLUMNS = ("name", "team", "purpose", "environments", "max_per_change", "prod", "disabled")
_TOKEN_COLUMNS = ("jti", "audience", "issued_at", "expires_at", "revoked_at")


def _row(item: dict[str, Any]) -> dict[str, Any]:
    envelope = item.get("autonomy") or {}
    return item | {
        "environments": ", ".join(envelope.get("environments") or []) or "-",
        "max_per_change": envelope.get("max_cost_delta_per_change") or "-",
        "prod": "yes" if envelope.get("may_touch_prod") else "no",
    }


@agents_app.command("list")
@guarded
def list_agents(
    ctx: typer.Context,
    output: OutputOption = OutputFormat.table,
    limit: LimitOption = 50,
    all_pages: AllOption = False,
) -> None:
    """List registered agents with their owner team and autonomy envelope.

    Example:

      plinth agents list --output json
    """
    data = list_items(state_of(ctx).client(), "/agents", limit=limit, all_pages=all_pages)
    show_list(data, _COLUMNS, output, row=_row)


@agents_app.command("show")
@guarded
def show(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="The agent.")],
    output: OutputOption = OutputFormat.table,
) -> None:
    """Show one agent: purpose, owner, declared concerns and envelope."""
    data = state_of(ctx).client().get(f"/agents/{name}")
    if output is not OutputFormat.table:
        print_data(data, output)
        return
    print_object({k: v for k, v in data.items() if k not in ("spec", "autonomy")}, title=name)
    print_object(data.get("autonomy") or {}, title="Autonomy envelope")


@agents_app.command("token")
@guarded
def token(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="The agent.")],
    audience: Annotated[
        str,
        typer.Option(help="Where the token is valid: plinth-api, plinth-mcp or plinth-gateway."),
    ] = "plinth-mcp",
    ttl: Annotated[
        int | None,
        typer.Option(
            "--ttl", min=60, max=86_400, help="Lifetime in seconds (default: the agent's)."
        ),
    ] = None,
    output: OutputOption = OutputFormat.table,
) -> None:
    """Issue a short-lived signed token for an agent; it is printed once.

    Example:

      plinth agents token deploy-bot --audience plinth-mcp --ttl 900
    """
    body = {"audience": audience, "ttl_seconds": ttl}
    data = state_of(ctx).client().post(f"/agents/{name}/tokens", body)
    if output is not OutputFormat.table:
        print_data(data, output)
        return
    err_console().print(
        Text(
            f"Token for {name} ({data['audience']}), expires {data['expires_at']} "
            f"(jti {data['jti']}):",
            style="dim",
        )
    )
    out_console().print(data["token"], soft_wrap=True, highlight=False)


@agents_app.command("tokens")
@guarded
def tokens(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="The agent.")],
    output: OutputOption = OutputFormat.table,
) -> None:
    """List the tokens issued to an agent (never their text)."""
    data = state_of(ctx).client().get(f"/agents/{name}/tokens")
    if output is not OutputFormat.table:
        print_data(data, output)
        return
    print_table(data.get("items") or [], _TOKEN_COLUMNS, empty="No tokens issued.")


@agents_app.command("revoke")
@guarded
def revoke(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="The agent.")],
    jti: Annotated[
        str | None, typer.Option(help="One token's id; without it every token is revoked.")
    ] = None,
    output: OutputOption = OutputFormat.table,
) -> None:
    """Revoke an agent's tokens; the very next request with them is refused.

    Example:

      plinth agents revoke deploy-bot
    """
    data = state_of(ctx).client().post(f"/agents/{name}/tokens/revoke", {"jti": jti})
    if output is not OutputFormat.table:
        print_data(data, output)
        return
    out_console().print(Text(f"Revoked {data['revoked']} token(s) of {name}.", style="bold"))


@agents_app.command("rotate-keys")
@guarded
def rotate_keys(ctx: typer.Context, output: OutputOption = OutputFormat.table) -> None:
    """Sign new agent tokens with a fresh key (platform engineers)."""
    data = state_of(ctx).client().post("/agents/keys/rotate", {})
    if output is not OutputFormat.table:
        print_data(data, output)
        return
    out_console().print(Text(f"New signing key {data['kid']}.", style="bold"))
