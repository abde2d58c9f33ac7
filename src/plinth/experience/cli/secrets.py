"""``plinth secrets`` (list, rotate): clients of the secrets API. Values are never shown."""

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

__all__ = ["secrets_app"]

secrets_app = typer.Typer(
    help=(
        "Secrets the platform generates for workloads (resources of type 'secret'): "
        "encrypted at rest, injected at run time, rotated on a schedule. Values are never shown."
    ),
    no_args_is_help=True,
)

_COLUMNS = (
    "name",
    "environment",
    "project",
    "version",
    "age",
    "last_rotated_at",
    "rotation",
    "next_rotation_at",
)


def _age(seconds: object) -> str:
    value = int(seconds) if isinstance(seconds, int | float) else 0
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if value >= size:
            return f"{value // size}{unit}"
    return f"{value}s"


def _with_age(item: dict[str, Any]) -> dict[str, Any]:
    return item | {"age": _age(item.get("age_seconds"))}


@secrets_app.command("list")
@guarded
def list_secrets(
    ctx: typer.Context,
    environment: EnvOption = None,
    project: ProjectOption = None,
    output: OutputOption = OutputFormat.table,
    limit: LimitOption = 50,
    all_pages: AllOption = False,
) -> None:
    """List secrets: name, version, age, last and next rotation (never the value).

    Example:

      plinth secrets list --env dev
    """
    client = state_of(ctx).client()
    params = {"environment": environment, "project": project}
    data = list_items(client, "/secrets", limit=limit, all_pages=all_pages, **params)
    show_list(data, _COLUMNS, output, row=_with_age, empty="No secrets.")


@secrets_app.command("rotate")
@guarded
def rotate(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="The secret resource to rotate.")],
    environment: Annotated[str, typer.Option("--env", "-e", help="Its environment.")],
    project: Annotated[str, typer.Option("--project", "-p", help="Its project.")],
    output: OutputOption = OutputFormat.table,
) -> None:
    """Give a secret a new value now; the workloads that use it restart with it.

    Example:

      plinth secrets rotate web-db-password --env dev --project shop
    """
    body = {"environment": environment, "project": project}
    result = state_of(ctx).client().post(f"/secrets/{name}/rotate", body)
    if output is not OutputFormat.table:
        print_data(result, output)
        return
    print_table([_with_age(result)], _COLUMNS)
