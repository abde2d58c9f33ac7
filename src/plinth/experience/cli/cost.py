"""``plinth cost``: showback reports, cost over time, and spend anomalies.

Every command reads the REST API (``/cost``, ``/cost/series``,
``/cost/anomalies``); ``-o json``/``-o yaml`` print its data unchanged and
``-o csv`` prints one row per group (or per group and time step).
"""

from __future__ import annotations

import csv
import sys
from collections.abc import Mapping, Sequence
from enum import StrEnum
from typing import Annotated, Any

import typer
from rich.text import Text

from plinth.experience.cli.context import guarded, state_of
from plinth.experience.cli.output import OutputFormat, out_console, print_data, print_table

__all__ = ["CostOutput", "cost_app"]

cost_app = typer.Typer(
    help="Cost: who spends what (showback), over time, and spend anomalies.",
    no_args_is_help=True,
)


class CostOutput(StrEnum):
    """How a cost command prints its result."""

    table = "table"
    json = "json"
    yaml = "yaml"
    csv = "csv"


OutputOpt = Annotated[
    CostOutput,
    typer.Option("--output", "-o", help="table for people; json, yaml or csv for scripts."),
]
ByOpt = Annotated[
    str,
    typer.Option(
        "--by", "-b", help="team, project, environment, agent, model, resource_type, resource."
    ),
]
WindowOpt = Annotated[
    str | None,
    typer.Option("--window", "-w", help="30d, 24h, P7D, or START/END (ISO 8601 with a zone)."),
]
StartOpt = Annotated[str | None, typer.Option("--start", help="Start (ISO 8601 with a zone).")]
EndOpt = Annotated[str | None, typer.Option("--end", help="End (ISO 8601 with a zone).")]
TeamOpt = Annotated[str | None, typer.Option("--team", "-t", help="Only this team.")]
ProjectOpt = Annotated[str | None, typer.Option("--project", "-p", help="Only this project.")]
EnvOpt = Annotated[str | None, typer.Option("--env", "-e", help="Only this environment.")]


def _write_csv(header: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
    writer = csv.writer(sys.stdout, lineterminator="\n")
    writer.writerow(header)
    writer.writerows(rows)
    sys.stdout.flush()


def _raw(data: Any, output: CostOutput) -> bool:
    """Print JSON or YAML; return whether it was printed."""
    if output in (CostOutput.json, CostOutput.yaml):
        print_data(data, OutputFormat(output.value))
        return True
    return False


@cost_app.command("report")
@guarded
def report(
    ctx: typer.Context,
    by: ByOpt = "team",
    window: WindowOpt = None,
    start: StartOpt = None,
    end: EndOpt = None,
    team: TeamOpt = None,
    project: ProjectOpt = None,
    env: EnvOpt = None,
    separate_shared: Annotated[
        bool,
        typer.Option("--separate-shared", help="Show the shared pool as its own line."),
    ] = False,
    output: OutputOpt = CostOutput.table,
) -> None:
    """Cost per team (or project, environment, agent, model, resource type) over a window.

    Examples:

      plinth cost report --by team --window 30d

      plinth cost report --by project --team payments -o csv > payments.csv
    """
    client = state_of(ctx).client()
    data = client.get(
        "/cost",
        by=by,
        window=window if window or start else "30d",
        start=start,
        end=end,
        team=team,
        project=project,
        environment=env,
        shared="separate" if separate_shared else None,
    )
    if _raw(data, output):
        return
    items: list[Mapping[str, Any]] = data.get("items") or []
    columns = [by, "cost", "direct", "shared", "currency"]
    if output is CostOutput.csv:
        _write_csv(columns, [[item.get(c, "") for c in columns] for item in items])
        return
    span = data.get("window") or {}
    print_table(items, columns, title=f"Cost by {by}, {span.get('start')} to {span.get('end')}")
    currency = data.get("currency", "")
    summary = (
        f"Total {data.get('total')} {currency}; unattributed {data.get('unattributed')}; "
        f"shared pool {data.get('shared')}"
    )
    out_console().print(Text(summary, style="bold"))
    for other, amount in (data.get("other_currencies") or {}).items():
        out_console().print(Text(f"Also {amount} {other} (not in the total)", style="yellow"))


def _label(at: str, step_s: int) -> str:
    return at[:10] if step_s % 86400 == 0 else at[:16].replace("T", " ")


@cost_app.command("series")
@guarded
def series(
    ctx: typer.Context,
    by: ByOpt = "team",
    window: WindowOpt = None,
    step: Annotated[str, typer.Option("--step", "-s", help="1h, 1d, PT15M ...")] = "1d",
    start: StartOpt = None,
    end: EndOpt = None,
    team: TeamOpt = None,
    project: ProjectOpt = None,
    env: EnvOpt = None,
    output: OutputOpt = CostOutput.table,
) -> None:
    """Cost per group per step (hourly, daily...) over a window.

    Examples:

      plinth cost series --by team --window 7d --step 1d

      plinth cost series --by project --window 24h --step 1h -o csv
    """
    client = state_of(ctx).client()
    data = client.get(
        "/cost/series",
        by=by,
        window=window if window or start else "7d",
        step=step,
        start=start,
        end=end,
        team=team,
        project=project,
        environment=env,
    )
    if _raw(data, output):
        return
    groups: list[Mapping[str, Any]] = data.get("series") or []
    step_s = int(data.get("step_s") or 86400)
    if output is CostOutput.csv:
        rows = [[p["at"], g.get(by), p["cost"]] for g in groups for p in g.get("points") or []]
        _write_csv(["at", by, "cost"], rows)
        return
    buckets = [_label(b, step_s) for b in data.get("buckets") or []]
    rows_out = [
        {by: g.get(by), "total": g.get("total"), **dict(zip(buckets, _costs(g), strict=True))}
        for g in groups
    ]
    print_table(rows_out, [by, *buckets, "total"], title=f"Cost by {by} ({data.get('currency')})")


def _costs(group: Mapping[str, Any]) -> list[str]:
    return [str(p.get("cost")) for p in group.get("points") or []]


@cost_app.command("anomalies")
@guarded
def anomalies(
    ctx: typer.Context,
    team: TeamOpt = None,
    window: WindowOpt = None,
    scan: Annotated[
        bool, typer.Option("--scan", help="Look for new anomalies first (platform engineers).")
    ] = False,
    output: OutputOpt = CostOutput.table,
) -> None:
    """Days on which a team spent well above its own baseline.

    Examples:

      plinth cost anomalies --team payments

      plinth cost anomalies --scan --window 7d -o json
    """
    client = state_of(ctx).client()
    if scan:
        client.post("/cost/anomalies/scan")
    data = client.get("/cost/anomalies", window=window or "30d", team=team)
    if _raw(data, output):
        return
    items: list[Mapping[str, Any]] = data.get("items") or []
    columns = ["day", "team", "spend", "threshold", "baseline_mean", "currency"]
    if output is CostOutput.csv:
        _write_csv(columns, [[item.get(c, "") for c in columns] for item in items])
        return
    print_table(items, columns, title="Spend anomalies", empty="No anomalies.")
    rule = data.get("rule") or {}
    if rule:
        out_console().print(
            Text(
                f"Rule: spend > mean + {rule.get('k')}x stddev of the last "
                f"{rule.get('baseline_days')} days, and at least {rule.get('floor')} "
                "above the mean",
                style="dim",
            )
        )
