"""``plinth providers list`` and ``plinth providers show``: clients of the providers API."""

from __future__ import annotations

from typing import Annotated, Any
from urllib.parse import quote

import typer

from plinth.experience.cli.context import AllOption, LimitOption, OutputOption, guarded, state_of
from plinth.experience.cli.output import OutputFormat, print_data, print_object
from plinth.experience.cli.read import list_items, show_list

__all__ = ["providers_app"]

providers_app = typer.Typer(
    help=(
        "Providers: the installed plugins that realise resources (entry points in the "
        "plinth.providers group), whether this control plane uses them, and the JSON "
        "Schema of each resource type they realise."
    ),
    no_args_is_help=True,
)

_COLUMNS = ("name", "enabled", "package", "version", "types", "error")


def _row(item: dict[str, Any]) -> dict[str, Any]:
    """Return a table row: type names instead of their schemas."""
    return item | {"types": [t["name"] for t in item.get("types") or []]}


@providers_app.command("list")
@guarded
def list_providers(
    ctx: typer.Context,
    output: OutputOption = OutputFormat.table,
    limit: LimitOption = 50,
    all_pages: AllOption = False,
) -> None:
    """List installed providers: package and version, enabled here or not, resource types.

    ENABLED says whether this control plane realises resources with the provider
    (setting `providers`, env PLINTH_PROVIDERS). ERROR shows why a provider could
    not be loaded. Use -o json for each type's JSON Schema.

    Examples:

      plinth providers list

      plinth providers list -o json
    """
    data = list_items(state_of(ctx).client(), "/providers", limit=limit, all_pages=all_pages)
    show_list(data, _COLUMNS, output, row=_row, empty="No providers are installed.")


@providers_app.command("show")
@guarded
def show_provider(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="Provider name, e.g. local.")],
    output: OutputOption = OutputFormat.table,
) -> None:
    """Show one provider with the JSON Schema of each resource type it realises.

    Examples:

      plinth providers show local

      plinth providers show local -o json
    """
    data = state_of(ctx).client().get(f"/providers/{quote(name, safe='')}")
    if output is not OutputFormat.table:
        print_data(data, output)
        return
    summary = {k: v for k, v in data.items() if k != "types"}
    print_object(summary | {"types": [t["name"] for t in data.get("types") or []]}, title=name)
    for declared in data.get("types") or []:
        print_object({"schema": declared["schema"]}, title=f"type {declared['name']}")
