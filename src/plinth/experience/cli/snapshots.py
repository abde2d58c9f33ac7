"""``plinth snapshot`` (create, list, show, restore): clients of the snapshots API."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from plinth.experience.cli.context import (
    AllOption,
    EnvOption,
    LimitOption,
    OutputOption,
    ProjectOption,
    guarded,
    state_of,
)
from plinth.experience.cli.output import OutputFormat, print_data, print_table
from plinth.experience.cli.read import list_items, show_list

__all__ = ["snapshot_app"]

snapshot_app = typer.Typer(
    help=(
        "Snapshots of volumes and VM disks, and backups of PostgreSQL databases: take one, "
        "list them, restore one into the resource it was taken of. Every one is audited."
    ),
    no_args_is_help=True,
)

_COLUMNS = ("id", "resource", "environment", "project", "kind", "status", "size", "created_by")


def _size(value: object) -> str:
    size = float(value) if isinstance(value, int | float) else 0.0
    for unit in ("B", "KiB", "MiB", "GiB"):
        if size < 1024 or unit == "GiB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{size:.1f} GiB"


def _row(item: dict[str, Any]) -> dict[str, Any]:
    resource = item.get("resource") or {}
    return item | {
        "resource": f"{resource.get('type', '')}/{resource.get('name', '')}",
        "environment": resource.get("environment", ""),
        "project": resource.get("project", ""),
        "size": _size(item.get("size_bytes")),
    }


def _show(result: dict[str, Any], output: OutputFormat) -> None:
    if output is not OutputFormat.table:
        print_data(result, output)
        return
    print_table([_row(result)], _COLUMNS)
    if result.get("consistency"):
        typer.echo(f"consistency: {result['consistency']}")


@snapshot_app.command("create")
@guarded
def create(
    ctx: typer.Context,
    resource: Annotated[
        str, typer.Argument(help="The volume, vm or postgres resource, e.g. shop-db.")
    ],
    environment: Annotated[str, typer.Option("--env", "-e", help="Its environment.")],
    project: ProjectOption = None,
    note: Annotated[str, typer.Option("--note", help="Why, kept with the snapshot.")] = "",
    output: OutputOption = OutputFormat.table,
) -> None:
    """Snapshot a volume or a VM's disks, or back up a database, now.

    Example:

      plinth snapshot create shop-db --env dev --note "before the migration"
    """
    body: dict[str, Any] = {"resource": resource, "environment": environment, "note": note}
    if project:
        body["project"] = project
    _show(state_of(ctx).client().post("/snapshots", body), output)


@snapshot_app.command("list")
@guarded
def list_snapshots(
    ctx: typer.Context,
    environment: EnvOption = None,
    project: ProjectOption = None,
    resource: Annotated[
        str | None, typer.Option("--resource", "-r", help="Only this resource's snapshots.")
    ] = None,
    output: OutputOption = OutputFormat.table,
    limit: LimitOption = 50,
    all_pages: AllOption = False,
) -> None:
    """List snapshots and backups, oldest first.

    Example:

      plinth snapshot list --env dev --output json
    """
    client = state_of(ctx).client()
    params = {"environment": environment, "project": project, "resource": resource}
    data = list_items(client, "/snapshots", limit=limit, all_pages=all_pages, **params)
    show_list(data, _COLUMNS, output, row=_row, empty="No snapshots.")


@snapshot_app.command("show")
@guarded
def show(
    ctx: typer.Context,
    snapshot_id: Annotated[str, typer.Argument(help="The snapshot id (plinth snapshot list).")],
    output: OutputOption = OutputFormat.table,
) -> None:
    """Show one snapshot: resource, kind, size, status, consistency, note.

    Example:

      plinth snapshot show snap_20261129031500_1f3c
    """
    _show(state_of(ctx).client().get(f"/snapshots/{snapshot_id}"), output)


@snapshot_app.command("restore")
@guarded
def restore(
    ctx: typer.Context,
    snapshot_id: Annotated[str, typer.Argument(help="The snapshot id (plinth snapshot list).")],
    output: OutputOption = OutputFormat.table,
) -> None:
    """Put a snapshot back in place of its resource's data (a VM restarts from it).

    Example:

      plinth snapshot restore snap_20261129031500_1f3c
    """
    _show(state_of(ctx).client().post(f"/snapshots/{snapshot_id}/restore", {}), output)
