"""``plinth approvals``: plans that wait for a person, and the decisions on them.

A plan outside its author's limits becomes an approval request (its id is the
plan's digest). Requests of agents are routed to the humans of the agent's
owner team and expire; approving one applies exactly that plan on the agent's
behalf. ``plinth approvals wait`` lets the requester (an agent, a CI job) wait
for the decision.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from enum import StrEnum
from typing import Annotated, Any

import typer
from rich.progress import Progress, SpinnerColumn, TextColumn
from rich.text import Text

from plinth.experience.cli.context import (
    EXIT_ERROR,
    EXIT_OK,
    EXIT_WAITING_APPROVAL,
    AllOption,
    LimitOption,
    OutputOption,
    guarded,
    state_of,
)
from plinth.experience.cli.kinds import resolve_kind
from plinth.experience.cli.output import OutputFormat, err_console, out_console, print_data
from plinth.experience.cli.read import list_items, show_list
from plinth.experience.cli.specs import finish_apply

__all__ = ["approvals_app"]

approvals_app = typer.Typer(
    help="Review approval requests: list, approve (and apply), deny, or wait for a decision.",
    no_args_is_help=True,
)
DigestArgument = Annotated[str, typer.Argument(help="Digest of the plan.")]
COLUMNS = (
    "digest",
    "environment",
    "project",
    "actor",
    "team",
    "status",
    "expires_at",
    "reasons",
)
LONG_POLL_S = 20  # under the client's 30 s timeout
DONE = {"approved": EXIT_OK, "applied": EXIT_OK, "rejected": EXIT_ERROR, "expired": EXIT_ERROR}


class ApprovalStatus(StrEnum):
    """Which approval requests to list."""

    pending = "pending"
    approved = "approved"
    rejected = "rejected"
    expired = "expired"
    applied = "applied"
    all = "all"


@approvals_app.command("list")
@guarded
def list_approvals(
    ctx: typer.Context,
    status: Annotated[
        ApprovalStatus, typer.Option("--status", help="Which requests, by status.")
    ] = ApprovalStatus.pending,
    mine: Annotated[
        bool,
        typer.Option(
            "--mine",
            help="Only mine: those routed to my teams (a person), or my own (an agent).",
        ),
    ] = False,
    output: OutputOption = OutputFormat.table,
    limit: LimitOption = 50,
    all_pages: AllOption = False,
) -> None:
    """List approval requests waiting for a decision (or with another --status).

    Examples:

      plinth approvals list --mine

      plinth approvals list --status expired -o json
    """
    info = resolve_kind("approvals")
    client = state_of(ctx).client()
    params: dict[str, Any] = {"status": status.value, "mine": "true" if mine else None}
    data = list_items(client, info.path, limit=limit, all_pages=all_pages, **params)
    show_list(data, COLUMNS, output)


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
    """Approve a plan. An agent's request is applied at once, on the agent's behalf.

    A person's plan is not applied by approving it; add --apply to do both.

    Example:

      plinth approvals approve 3f2a...e9 --reason "load test next week" --apply
    """
    state = state_of(ctx)
    result = state.client().post(f"/approvals/{digest}/approve", {"reason": reason})
    if output is not OutputFormat.table:
        print_data(result, output)
    else:
        out_console().print(Text(f"Approved plan {digest}.", style="bold green"))
    if result.get("status") == "applied":
        if output is OutputFormat.table:
            requester = (result.get("plan") or {}).get("actor", "the requester")
            out_console().print(f"Applied on behalf of {requester}.")
    elif and_apply:
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


def _describe(digest: str, data: Mapping[str, Any]) -> str:
    status = str(data.get("status", "unknown"))
    expires = data.get("expires_at")
    until = f", expires {expires}" if expires and status == "pending" else ""
    return f"plan {digest[:12]}: {status}{until}"


@approvals_app.command("wait")
@guarded
def wait(
    ctx: typer.Context,
    digest: DigestArgument,
    timeout: Annotated[
        float, typer.Option("--timeout", "-t", min=0, help="Seconds to wait at most.")
    ] = 300.0,
    output: OutputOption = OutputFormat.table,
) -> None:
    """Wait for the decision on an approval request.

    Exits 0 when it is approved or applied, 1 when it is rejected or expired, and 4
    when it is still pending after --timeout.

    Example:

      plinth approvals wait 3f2a...e9 --timeout 600
    """
    state = state_of(ctx)
    client = state.client()
    deadline = time.monotonic() + timeout
    with Progress(
        SpinnerColumn(), TextColumn("{task.description}"), console=err_console(), transient=True
    ) as bar:
        task = bar.add_task(f"plan {digest[:12]}: waiting for a decision", total=None)
        while True:
            left = deadline - time.monotonic()
            data: Mapping[str, Any] = client.get(
                f"/approvals/{digest}", wait=max(0, min(int(left), LONG_POLL_S))
            )
            bar.update(task, description=_describe(digest, data))
            if data.get("status") in DONE or left <= 0:
                break
            time.sleep(min(state.poll_interval_s, max(left, 0)))
    status = str(data.get("status"))
    if output is not OutputFormat.table:
        print_data(data, output)
    else:
        style = "bold green" if DONE.get(status) == EXIT_OK else "bold red"
        if status not in DONE:
            style = "bold magenta"
        out_console().print(Text(_describe(digest, data), style=style))
    raise typer.Exit(DONE.get(status, EXIT_WAITING_APPROVAL))
