"""``plinth audit``: read the hash-chained decision log and check that it is intact."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import typer
from rich.text import Text

from plinth.experience.cli.client import PlinthClient
from plinth.experience.cli.context import (
    EXIT_ERROR,
    AllOption,
    LimitOption,
    OutputOption,
    guarded,
    state_of,
)
from plinth.experience.cli.output import OutputFormat, err_console, out_console, print_data
from plinth.experience.cli.read import list_items, show_list

__all__ = ["audit_app", "find_record"]

audit_app = typer.Typer(
    help="The audit log: every decision, hash-chained so edits are detectable.",
    no_args_is_help=True,
)
_COLUMNS = ("seq", "at", "actor", "action", "subject", "hash")


@audit_app.command("log")
@guarded
def log(
    ctx: typer.Context,
    limit: LimitOption = 50,
    all_pages: AllOption = False,
    output: OutputOption = OutputFormat.table,
) -> None:
    """List audit records, oldest first.

    Examples:

      plinth audit log --limit 20

      plinth audit log --all -o json > audit.json
    """
    client = state_of(ctx).client()
    show_list(list_items(client, "/audit", limit=limit, all_pages=all_pages), _COLUMNS, output)


def find_record(client: PlinthClient, seq: int) -> Mapping[str, Any] | None:
    """Return the audit record with sequence number ``seq``, or None if it is not listed."""
    for page in client.pages("/audit", limit=500):
        for item in page.get("items") or []:
            if item.get("seq") == seq:
                record: Mapping[str, Any] = item
                return record
    return None


@audit_app.command("verify")
@guarded
def verify(ctx: typer.Context, output: OutputOption = OutputFormat.table) -> None:
    """Check the hash chain of the audit log. Exits 1 and shows the first bad record if broken.

    Example:

      plinth audit verify
    """
    client = state_of(ctx).client()
    result = client.get("/audit/verify")
    bad = result.get("first_bad")
    if output is not OutputFormat.table:
        print_data(result, output)
    elif result.get("ok"):
        count = result.get("checked", 0)
        out_console().print(Text(f"Audit log intact: {count} records checked.", style="green"))
    else:
        console = err_console()
        where = f" at record #{bad.get('seq')}: {bad.get('reason')}" if bad else ""
        console.print(Text(f"Audit log is broken{where}", style="bold red"), soft_wrap=True)
        record = (
            find_record(client, int(bad["seq"])) if bad and bad.get("seq") is not None else None
        )
        if record is not None:
            print_data(record, OutputFormat.yaml)
    if not result.get("ok"):
        raise typer.Exit(EXIT_ERROR)
