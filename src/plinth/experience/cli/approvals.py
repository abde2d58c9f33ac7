"""``plinth approvals``: plans that wait for a person, and the decisions on them."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.text import Text

from plinth.experience.cli.context import AllOption, LimitOption, OutputOption, guarded, state_of
from plinth.experience.cli.kinds import resolve_kind
from plinth.experience.cli.output import OutputFormat, out_console, print_data
from plinth.experience.cli.read import list_items, show_list
from plinth.experience.cli.specs import finish_apply

__all__ = ["approvals_app"]

approvals_app = typer.Typer(
    help="Review plans that need approval: list, approve (and apply), deny.",
    no_args_is_help=True,
)
DigestArgument = Annotated[str, typer.Argument(help="Digest of the plan.")]


@approvals_app.command("list")
@guarded
def list_approvals(
    ctx: typer.Context,
    status: Annotated[
        str, typer.Option("--status", help="pending, approved, rejected or all.")
    ] = "pending",
    output: OutputOption = OutputFormat.table,
    limit: LimitOption = 50,
    all_pages: AllOption = False,
) -> None:
    """List plans waiting for approval (or with another --status).

    Example:

      plinth approvals list
    """
    info = resolve_kind("approvals")
    client = state_of(ctx).client()
    wanted = None if status == "all" else status
    data = list_items(client, info.path, limit=limit, all_pages=all_pages, status=wanted)
    show_list(data, info.columns, output)


@approvals_app.command("approve")
@guarded
def approve(
    ctx: typer.Context,
    digest: DigestArgument,
    reason: Annotated[str, typer.Option("--reason", "-r", help="Why you approve.")] = "",
    and_apply: Annotated[
        bool, typer.Option("--apply", help="Apply the plan right after approving it.")
    ] = False,
    output: OutputOption = OutputFormat.table,
) -> None:
    """Approve a plan. Approving does not apply it; add --apply to do both.

    Example:

      plinth approvals approve 3f2a...e9 --reason "load test next week" --apply
    """
    state = state_of(ctx)
    result = state.client().post(f"/approvals/{digest}/approve", {"reason": reason})
    if output is not OutputFormat.table:
        print_data(result, output)
    else:
        out_console().print(Text(f"Approved plan {digest}.", style="bold green"))
    if and_apply:
        finish_apply(state, digest, output)
    elif output is OutputFormat.table:
        out_console().print(f"Apply it with: plinth apply --plan {digest}")


@approvals_app.command("deny")
@guarded
def deny(
    ctx: typer.Context,
    digest: DigestArgument,
    reason: Annotated[str, typer.Option("--reason", "-r", help="Why you deny (required).")],
    output: OutputOption = OutputFormat.table,
) -> None:
    """Deny (reject) a plan that waits for approval.

    Example:

      plinth approvals deny 3f2a...e9 --reason "use the shared database instead"
    """
    result = state_of(ctx).client().post(f"/approvals/{digest}/deny", {"reason": reason})
    if output is not OutputFormat.table:
        print_data(result, output)
    else:
        out_console().print(Text(f"Denied plan {digest}.", style="bold red"))
