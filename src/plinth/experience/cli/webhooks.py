"""``plinth webhooks`` (add, list, remove, deliveries, redeliver): platform engineers only."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.text import Text

from plinth.experience.cli.context import AllOption, LimitOption, OutputOption, guarded, state_of
from plinth.experience.cli.output import OutputFormat, err_console, print_data, print_table
from plinth.experience.cli.read import list_items, show_list

__all__ = ["webhooks_app"]

webhooks_app = typer.Typer(
    help=(
        "Webhooks: every change on the platform as a signed CloudEvent POSTed to your URL, "
        "retried with backoff; failed deliveries wait for a redelivery. See docs/events.md."
    ),
    no_args_is_help=True,
)

_SUBSCRIPTION = ("id", "url", "types", "max_attempts", "created_by", "description")
_DELIVERY = (
    "id",
    "target",
    "event_type",
    "subject",
    "status",
    "attempts",
    "last_status",
    "last_error",
)


def _joined(item: dict[str, object]) -> dict[str, object]:
    types = item.get("types")
    return item | {"types": ", ".join(types) if isinstance(types, list) else types}


@webhooks_app.command("add")
@guarded
def add(
    ctx: typer.Context,
    url: Annotated[str, typer.Argument(help="http(s) URL that receives the POSTs.")],
    types: Annotated[
        list[str] | None,
        typer.Option("--type", "-t", help="Event type glob, repeatable (default: every event)."),
    ] = None,
    description: Annotated[str, typer.Option("--description", "-d", help="What it is for.")] = "",
    max_attempts: Annotated[
        int, typer.Option("--max-attempts", min=1, max=50, help="Attempts before dead letter.")
    ] = 8,
    output: OutputOption = OutputFormat.table,
) -> None:
    """Add a webhook; prints its signing secret, which is shown only this once.

    Example:

      plinth webhooks add https://ci.example.com/plinth -t 'dev.plinth.plan.*'
    """
    body = {
        "url": url,
        "types": types or ["*"],
        "description": description,
        "max_attempts": max_attempts,
    }
    result = state_of(ctx).client().post("/webhooks", body)
    if output is not OutputFormat.table:
        print_data(result, output)
        return
    print_table([_joined(result)], _SUBSCRIPTION)
    typer.echo(f"secret: {result['secret']}")
    err_console().print(Text("Store the secret now: it is not shown again.", style="yellow"))


@webhooks_app.command("list")
@guarded
def list_webhooks(
    ctx: typer.Context,
    output: OutputOption = OutputFormat.table,
    limit: LimitOption = 50,
    all_pages: AllOption = False,
) -> None:
    """List webhooks (never their secrets).

    Example:

      plinth webhooks list -o json
    """
    data = list_items(state_of(ctx).client(), "/webhooks", limit=limit, all_pages=all_pages)
    show_list(data, _SUBSCRIPTION, output, row=_joined, empty="No webhooks.")


@webhooks_app.command("remove")
@guarded
def remove(
    ctx: typer.Context,
    webhook_id: Annotated[str, typer.Argument(help="The webhook's id (see `webhooks list`).")],
    output: OutputOption = OutputFormat.table,
) -> None:
    """Remove a webhook and its deliveries.

    Example:

      plinth webhooks remove wh_3f9c0e1a2b4d4c6e8f0a1b2c3d4e5f60
    """
    result = state_of(ctx).client().request("DELETE", f"/webhooks/{webhook_id}")
    if output is not OutputFormat.table:
        print_data(result, output)
        return
    typer.echo(f"removed webhook {result['id']} ({result['url']})")


@webhooks_app.command("deliveries")
@guarded
def deliveries(
    ctx: typer.Context,
    webhook_id: Annotated[
        str | None, typer.Option("--webhook", "-w", help="Only this webhook (or 'broker').")
    ] = None,
    status: Annotated[
        str | None, typer.Option("--status", "-s", help="pending, delivered or failed.")
    ] = None,
    output: OutputOption = OutputFormat.table,
    limit: LimitOption = 50,
    all_pages: AllOption = False,
) -> None:
    """List deliveries, oldest first; `--status failed` shows the dead letters.

    Example:

      plinth webhooks deliveries --status failed
    """
    params = {"target": webhook_id, "status": status}
    client = state_of(ctx).client()
    data = list_items(client, "/webhooks/deliveries", limit=limit, all_pages=all_pages, **params)
    show_list(data, _DELIVERY, output, empty="No deliveries.")


@webhooks_app.command("redeliver")
@guarded
def redeliver(
    ctx: typer.Context,
    delivery_id: Annotated[int, typer.Argument(help="The delivery's id (see `deliveries`).")],
    output: OutputOption = OutputFormat.table,
) -> None:
    """Send a delivery again with a fresh set of attempts (same event id).

    Example:

      plinth webhooks redeliver 42
    """
    result = state_of(ctx).client().post(f"/webhooks/deliveries/{delivery_id}/redeliver")
    if output is not OutputFormat.table:
        print_data(result, output)
        return
    print_table([result], _DELIVERY)
