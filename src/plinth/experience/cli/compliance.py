"""``plinth compliance`` (findings, ack, scan, report): a client of the compliance API."""

from __future__ import annotations

import json
import sys
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.text import Text

from plinth.capabilities.compliance.report import report_csv
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

__all__ = ["compliance_app"]

compliance_app = typer.Typer(
    help=(
        "Continuous compliance: policies evaluated on live state, findings with owners "
        "and states, automatic remediation, and the report per team and environment."
    ),
    no_args_is_help=True,
)

_FINDING_COLUMNS = (
    "id",
    "severity",
    "state",
    "rule",
    "resource",
    "environment",
    "owner",
    "message",
    "remediation",
)
_COUNT_COLUMNS = ("severity", "open", "acknowledged", "excepted", "resolved")
_EXCEPTION_COLUMNS = ("exception", "rule", "resource", "environment", "team", "expires")

TeamOption = Annotated[str | None, typer.Option("--team", "-t", help="Owning team.")]


class ReportFormat(StrEnum):
    """What ``plinth compliance report`` writes."""

    json = "json"
    csv = "csv"
    table = "table"


def _row(item: dict[str, Any]) -> dict[str, Any]:
    remediation = item.get("remediation")
    if remediation and item.get("remediated_at"):
        remediation = f"{remediation}: done"
    elif remediation and item.get("remediation_due"):
        remediation = f"{remediation}: due {item['remediation_due'][:16]}"
    return item | {"rule": f"{item['pack']}/{item['rule']}", "remediation": remediation}


@compliance_app.command("findings")
@guarded
def findings(
    ctx: typer.Context,
    team: TeamOption = None,
    environment: EnvOption = None,
    project: ProjectOption = None,
    state: Annotated[
        str | None, typer.Option("--state", help="open, acknowledged, excepted or resolved.")
    ] = None,
    severity: Annotated[
        str | None, typer.Option("--severity", help="critical, high, medium or low.")
    ] = None,
    output: OutputOption = OutputFormat.table,
    limit: LimitOption = 50,
    all_pages: AllOption = False,
) -> None:
    """List compliance findings you may see (your teams', or all for security).

    Example:

      plinth compliance findings --env prod --state open
    """
    params = {
        "team": team,
        "environment": environment,
        "project": project,
        "state": state,
        "severity": severity,
    }
    client = state_of(ctx).client()
    data = list_items(client, "/compliance/findings", limit=limit, all_pages=all_pages, **params)
    show_list(data, _FINDING_COLUMNS, output, row=_row, empty="No findings.")


@compliance_app.command("ack")
@guarded
def ack(
    ctx: typer.Context,
    finding: Annotated[str, typer.Argument(help="The finding's id.")],
    note: Annotated[str, typer.Option("--note", "-m", help="What you will do about it.")] = "",
    output: OutputOption = OutputFormat.table,
) -> None:
    """Acknowledge an open finding (its team, security or platform engineers).

    Example:

      plinth compliance ack fnd_123 -m "fixing in the next release"
    """
    result = (
        state_of(ctx).client().post(f"/compliance/findings/{finding}/acknowledge", {"note": note})
    )
    if output is not OutputFormat.table:
        print_data(result, output)
        return
    out_console().print(Text(f"Acknowledged {finding}: {result['message']}", style="bold green"))


@compliance_app.command("scan")
@guarded
def scan(ctx: typer.Context, output: OutputOption = OutputFormat.table) -> None:
    """Evaluate the policies on live state now (security or platform engineers).

    Example:

      plinth compliance scan
    """
    result = state_of(ctx).client().post("/compliance/scan")
    if output is not OutputFormat.table:
        print_data(result, output)
        return
    changes = ", ".join(f"{n} {state}" for state, n in sorted(result["changes"].items()))
    out_console().print(
        f"Scanned {result['resources']} resources: {changes or 'no changes'}; "
        f"{len(result['remediations'])} remediations."
    )
    for error in result.get("errors") or []:
        out_console().print(Text(f"not evaluated: {error}", style="yellow"))


@compliance_app.command("report")
@guarded
def report(
    ctx: typer.Context,
    team: TeamOption = None,
    environment: EnvOption = None,
    format: Annotated[
        ReportFormat, typer.Option("--format", "-f", help="table, json or csv.")
    ] = ReportFormat.table,
    output: Annotated[
        OutputFormat | None, typer.Option("--output", "-o", help="json or yaml: raw API data.")
    ] = None,
    file: Annotated[Path | None, typer.Option("--file", help="Write to this file.")] = None,
    include_resolved: Annotated[
        bool, typer.Option("--include-resolved", help="List resolved findings too.")
    ] = False,
) -> None:
    """The compliance report of a team and/or environment: counts, findings, exceptions.

    Example:

      plinth compliance report --team payments --env prod --format csv --file payments.csv
    """
    params = {"team": team, "environment": environment, "include_resolved": include_resolved}
    data = state_of(ctx).client().get("/compliance/report", **params)
    if output is not None and output is not OutputFormat.table:
        print_data(data, output)
        return
    if format is ReportFormat.table and file is None:
        _print_report(data)
        return
    text = report_csv(data) if format is ReportFormat.csv else _json(data)
    if file is not None:
        file.write_text(text)
        out_console().print(f"Wrote {len(data['findings'])} findings to {file}.")
        return
    sys.stdout.write(text)


def _json(data: dict[str, Any]) -> str:
    return json.dumps(data, indent=2) + "\n"


def _print_report(data: dict[str, Any]) -> None:
    scope = " / ".join(p for p in (data.get("team"), data.get("environment")) if p) or "all"
    matrix = data["counts"]["matrix"]
    rows = [{"severity": s} | counts for s, counts in matrix.items()]
    print_table(rows, _COUNT_COLUMNS, title=f"Compliance report: {scope}")
    listed = [_row(item) for item in data.get("findings") or []]
    print_table(listed, _FINDING_COLUMNS, title="Findings", empty="No findings.")
    if data.get("exceptions"):
        print_table(data["exceptions"], _EXCEPTION_COLUMNS, title="Exceptions")
