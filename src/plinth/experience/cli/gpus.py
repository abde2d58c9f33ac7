"""``plinth gpus pools`` and ``plinth gpus queue``: clients of the accelerators API."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Any

import typer

from plinth.experience.cli.context import AllOption, LimitOption, OutputOption, guarded, state_of
from plinth.experience.cli.output import OutputFormat, print_data, print_table
from plinth.experience.cli.read import list_items, show_list

__all__ = ["gpus_app"]

gpus_app = typer.Typer(
    help=(
        "Accelerators: the pools with their nodes and devices, each team's quota and use, "
        "and the queue of requests waiting for GPUs with their expected start."
    ),
    no_args_is_help=True,
)

_NODE_COLUMNS = ("pool", "node", "type", "devices", "used", "free")
_QUEUE_COLUMNS = ("pool", "team", "nominal", "used", "borrowed")
_WAIT_COLUMNS = ("position", "state", "team", "workload", "type", "count", "expected_start")


def _amounts(values: Mapping[str, Any] | None) -> str:
    """Return ``L4=2, A100=1`` for a map of quota key to devices ("-" when empty)."""
    return ", ".join(f"{k}={v}" for k, v in (values or {}).items()) or "-"


def _node_rows(pools: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [
        {"pool": pool["name"], "node": node["name"], "type": node["type"]}
        | {k: node[k] for k in ("devices", "used", "free")}
        for pool in pools
        for node in pool.get("nodes") or []
    ]


def _queue_rows(pools: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [
        {
            "pool": pool["name"],
            "team": queue["team"],
            "nominal": _amounts(queue.get("nominal")),
            "used": _amounts(queue.get("used")),
            "borrowed": _amounts({k: v for k, v in (queue.get("borrowed") or {}).items() if v}),
        }
        for pool in pools
        for queue in pool.get("queues") or []
    ]


@gpus_app.command("pools")
@guarded
def pools(
    ctx: typer.Context,
    output: OutputOption = OutputFormat.table,
    limit: LimitOption = 50,
    all_pages: AllOption = False,
) -> None:
    """Show accelerator pools: devices used and free per node, then each team's quota.

    USED counts devices in use (a shared device counts its fraction); BORROWED is
    what a team uses above its nominal quota, lent by others of its cohort. Use
    -o json for who holds which device.

    Examples:

      plinth gpus pools

      plinth gpus pools -o json
    """
    data = list_items(
        state_of(ctx).client(), "/accelerators/pools", limit=limit, all_pages=all_pages
    )
    if output is not OutputFormat.table:
        print_data(data, output)
        return
    items = list(data.get("items") or [])
    print_table(_node_rows(items), _NODE_COLUMNS, title="Nodes", empty="No accelerator pools.")
    if items:
        print_table(_queue_rows(items), _QUEUE_COLUMNS, title="Team queues", empty="No queues.")


def _wait_row(item: dict[str, Any]) -> dict[str, Any]:
    if item.get("state") == "queued":
        start = item.get("expected_start") or "unknown"
        if item.get("estimate_basis") == "assumed":
            start = f"{start} (assumed run times)"
    elif item.get("state") == "stopping":
        start = f"preempted: stops by {item.get('stop_deadline')}"
    else:
        start = f"running since {item.get('started_at')}"
        if item.get("borrowed"):
            start += " (borrowed)"
    return item | {"expected_start": start}


@gpus_app.command("queue")
@guarded
def queue(
    ctx: typer.Context,
    team: Annotated[
        str | None, typer.Option("--team", "-t", help="Only this team's requests.")
    ] = None,
    output: OutputOption = OutputFormat.table,
    limit: LimitOption = 50,
    all_pages: AllOption = False,
) -> None:
    """Show requests waiting for accelerators in expected start order, then running work.

    POSITION counts every team's waiting requests (also with --team). EXPECTED
    START plays running work forward with its run-time estimates; "assumed run
    times" means some work gave none and an hour was assumed.

    Examples:

      plinth gpus queue

      plinth gpus queue --team ml-research -o yaml
    """
    client = state_of(ctx).client()
    data = list_items(client, "/accelerators/queue", limit=limit, all_pages=all_pages, team=team)
    empty = "Nothing waits for or holds accelerators."
    show_list(data, _WAIT_COLUMNS, output, row=_wait_row, empty=empty)
