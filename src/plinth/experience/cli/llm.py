"""``plinth llm``: the AI gateway's virtual keys, usage and models (clients of its API)."""

from __future__ import annotations

from typing import Annotated, Any

import typer
from rich.text import Text

from plinth.experience.cli.context import AllOption, LimitOption, OutputOption, guarded, state_of
from plinth.experience.cli.output import (
    OutputFormat,
    err_console,
    out_console,
    print_data,
)
from plinth.experience.cli.read import list_items, show_list

__all__ = ["llm_app"]

llm_app = typer.Typer(
    help=(
        "The AI gateway (OpenAI-compatible, at /v1): virtual keys per team and agent, "
        "usage and cost per team, agent and model, and the models each team may call."
    ),
    no_args_is_help=True,
)
keys_app = typer.Typer(help="Virtual keys (plk-...) for the AI gateway.", no_args_is_help=True)
llm_app.add_typer(keys_app, name="keys")

_KEY_COLUMNS = ("id", "name", "prefix", "team", "agent", "models", "budget", "period", "revoked_at")
_USAGE_COLUMNS = (
    "team",
    "agent",
    "model",
    "outcome",
    "requests",
    "tokens_in",
    "tokens_out",
    "cost",
    "redactions",
)
_MODEL_COLUMNS = (
    "model",
    "kind",
    "provider",
    "input_per_million",
    "output_per_million",
    "currency",
    "teams",
)
TeamOption = Annotated[str | None, typer.Option(help="Only this team.")]


def _model_row(item: dict[str, Any]) -> dict[str, Any]:
    return item | {"teams": ", ".join(item.get("teams") or []) or "-"}


@keys_app.command("create")
@guarded
def create(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="What the key is for.")],
    team: Annotated[str, typer.Option(help="The team the key spends for.")],
    agent: Annotated[str, typer.Option(help="The agent that uses the key, if any.")] = "",
    model: Annotated[
        list[str] | None, typer.Option("--model", help="Allowed model (glob); repeatable.")
    ] = None,
    budget: Annotated[str | None, typer.Option(help="The key's own budget, e.g. 25.00.")] = None,
    period: Annotated[str, typer.Option(help="Budget period: day or month.")] = "month",
    output: OutputOption = OutputFormat.table,
) -> None:
    """Create a virtual key; the key is printed once.

    Example:

      plinth llm keys create checkout-bot --team payments --model gpt-4o-mini --budget 25
    """
    body = {
        "name": name,
        "team": team,
        "agent": agent,
        "models": model or [],
        "budget": budget,
        "period": period,
    }
    data = state_of(ctx).client().post("/llm/keys", body)
    if output is not OutputFormat.table:
        print_data(data, output)
        return
    err_console().print(
        Text(f"Key {data['id']} for team {data['team']} (shown once):", style="dim")
    )
    out_console().print(data["key"], soft_wrap=True, highlight=False)


@keys_app.command("list")
@guarded
def list_keys(
    ctx: typer.Context,
    team: TeamOption = None,
    output: OutputOption = OutputFormat.table,
    limit: LimitOption = 50,
    all_pages: AllOption = False,
) -> None:
    """List the keys of your teams (every key for platform engineers), never their text."""
    client = state_of(ctx).client()
    data = list_items(client, "/llm/keys", limit=limit, all_pages=all_pages, team=team)
    show_list(data, _KEY_COLUMNS, output)


@keys_app.command("revoke")
@guarded
def revoke(
    ctx: typer.Context,
    key_id: Annotated[str, typer.Argument(help="The key's id (llmkey_...).")],
    output: OutputOption = OutputFormat.table,
) -> None:
    """Revoke a key: the next request with it is refused."""
    data = state_of(ctx).client().request("DELETE", f"/llm/keys/{key_id}")
    if output is not OutputFormat.table:
        print_data(data, output)
        return
    out_console().print(Text(f"Revoked {data['id']} ({data['name']}).", style="bold"))


@llm_app.command("usage")
@guarded
def usage(
    ctx: typer.Context,
    team: TeamOption = None,
    key: Annotated[str | None, typer.Option(help="Only this key (its id).")] = None,
    days: Annotated[int, typer.Option(min=1, max=366, help="How many days back.")] = 30,
    output: OutputOption = OutputFormat.table,
    limit: LimitOption = 50,
    all_pages: AllOption = False,
) -> None:
    """Requests, tokens and cost per team, agent, model and outcome (refused: shadow AI)."""
    client = state_of(ctx).client()
    data = list_items(
        client, "/llm/usage", limit=limit, all_pages=all_pages, team=team, key=key, days=days
    )
    show_list(data, _USAGE_COLUMNS, output)


@llm_app.command("models")
@guarded
def models(
    ctx: typer.Context,
    output: OutputOption = OutputFormat.table,
    limit: LimitOption = 50,
    all_pages: AllOption = False,
) -> None:
    """Served models: provider, prices per 1M tokens, and the teams allowed each."""
    data = list_items(state_of(ctx).client(), "/llm/models", limit=limit, all_pages=all_pages)
    show_list(data, _MODEL_COLUMNS, output, row=_model_row, empty="No models served.")
