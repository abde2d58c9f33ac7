"""``plinth janitor`` (scan, run, undo) and ``plinth rightsize``: clients of the janitor API."""

from __future__ import annotations

from typing import Annotated, Any

import typer
from rich.text import Text

from plinth.experience.cli.context import (
    AllOption,
    EnvOption,
    LimitOption,
    OutputOption,
    ProjectOption,
    guarded,
    state_of,
)
from plinth.experience.cli.output import OutputFormat, out_console, print_data, print_table
from plinth.experience.cli.read import list_items, show_list

__all__ = ["janitor_app", "rightsize"]

janitor_app = typer.Typer(
    help=(
        "The janitor agent: finds idle, expired and orphaned workloads and cleans them up "
        "(mark, notify, stop, delete), undoable until deletion."
    ),
    no_args_is_help=True,
)

_CANDIDATE_COLUMNS = (
    "workload",
    "environment",
    "project",
    "team",
    "why",
    "monthly",
    "basis",
    "state",
)
_STEP_COLUMNS = ("workload", "environment", "action", "detail", "plan")
_RIGHTSIZE_COLUMNS = (
    "workload",
    "environment",
    "dimension",
    "current",
    "recommended",
    "observed",
    "savings",
    "how",
)


def _candidate_row(item: dict[str, Any]) -> dict[str, Any]:
    case = item.get("case") or {}
    state = case.get("status") or ("recommend only" if not item.get("actionable") else "new")
    if item.get("snoozed_until"):
        state = "snoozed"
    money = item.get("monthly_cost")
    return item | {
        "why": "; ".join(f"{f['kind']}: {f['detail']}" for f in item.get("findings") or []),
        "monthly": f"{money} {item.get('currency', '')}" if money is not None else None,
        "basis": item.get("cost_basis"),
        "state": state,
    }


def _savings_row(item: dict[str, Any]) -> dict[str, Any]:
    return item | {"savings": f"{item['monthly_savings']} {item['currency']}/month"}


@janitor_app.command("scan")
@guarded
def scan(
    ctx: typer.Context,
    environment: EnvOption = None,
    project: ProjectOption = None,
    output: OutputOption = OutputFormat.table,
    limit: LimitOption = 50,
    all_pages: AllOption = False,
) -> None:
    """List what the janitor would clean up, most expensive first.

    Example:

      plinth janitor scan --env dev
    """
    client = state_of(ctx).client()
    params = {"environment": environment, "project": project}
    data = list_items(client, "/janitor/candidates", limit=limit, all_pages=all_pages, **params)
    show_list(data, _CANDIDATE_COLUMNS, output, row=_candidate_row, empty="Nothing to clean up.")


@janitor_app.command("run")
@guarded
def run(
    ctx: typer.Context,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Show what would happen; change nothing.")
    ] = False,
    output: OutputOption = OutputFormat.table,
) -> None:
    """Take every candidate one due step further: mark, notify, stop, delete.

    Needs the platform-engineer role or the janitor agent's token. Every step
    is a plan the janitor makes and applies as itself.

    Example:

      plinth janitor run --dry-run
    """
    result = state_of(ctx).client().post("/janitor/run", {"dry_run": dry_run})
    if output is not OutputFormat.table:
        print_data(result, output)
        return
    title = "Janitor run (dry run: nothing changed)" if dry_run else "Janitor run"
    print_table(result.get("steps") or [], _STEP_COLUMNS, title=title, empty="Nothing to do.")


@janitor_app.command("undo")
@guarded
def undo(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="The workload to keep.")],
    environment: Annotated[str, typer.Option("--env", "-e", help="Its environment.")],
    project: ProjectOption = None,
    output: OutputOption = OutputFormat.table,
) -> None:
    """Keep a workload: remove the janitor's mark (and its stop) through your own plan.

    Example:

      plinth janitor undo web --env dev
    """
    body = {"environment": environment, "project": project}
    result = state_of(ctx).client().post(f"/janitor/{name}/undo", body)
    if output is not OutputFormat.table:
        print_data(result, output)
        return
    removed = ", ".join(result.get("removed") or [])
    if result.get("status") == "applied":
        message = f"Restored {name} in {environment}: removed {removed}."
        out_console().print(Text(message, style="bold green"))
    else:
        out_console().print(
            Text(f"The undo of {name} waits for approval: plan {result.get('plan')}.")
        )


@guarded
def rightsize(
    ctx: typer.Context,
    environment: EnvOption = None,
    project: ProjectOption = None,
    output: OutputOption = OutputFormat.table,
    limit: LimitOption = 50,
    all_pages: AllOption = False,
) -> None:
    """Recommend CPU and memory requests from usage history, with the monthly savings.

    A request is the p95 (CPU) or p99 (memory) of what was used over 14 days,
    plus a 20 % margin, never below 50m CPU or 64Mi memory.

    Example:

      plinth rightsize --env prod
    """
    client = state_of(ctx).client()
    params = {"environment": environment, "project": project}
    data = list_items(client, "/rightsizing", limit=limit, all_pages=all_pages, **params)
    empty = "No recommendations: requests fit their usage."
    show_list(data, _RIGHTSIZE_COLUMNS, output, row=_savings_row, empty=empty)
