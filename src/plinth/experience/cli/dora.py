"""``plinth dora``: DORA's four keys for a team or environment, with a weekly trend.

Also the commit options of ``plinth apply`` (``--commit-sha``/``--commit-time``,
or the variables CI systems set), which name the commit a plan deploys.
"""

from __future__ import annotations

import subprocess
from collections.abc import Mapping, Sequence
from typing import Annotated, Any

import typer
from rich.table import Table
from rich.text import Text

from plinth.core.errors import PlinthError
from plinth.experience.cli.client import PlinthClient
from plinth.experience.cli.context import EnvOption, OutputOption, guarded, state_of
from plinth.experience.cli.output import OutputFormat, err_console, out_console, print_data

__all__ = [
    "CommitShaOption",
    "CommitTimeOption",
    "dora",
    "duration",
    "record_commit",
    "register",
    "sparkline",
]

CommitShaOption = Annotated[
    str | None,
    typer.Option(
        "--commit-sha",
        envvar=["PLINTH_COMMIT_SHA", "CI_COMMIT_SHA"],
        help="The commit this apply deploys (for DORA lead time); CI variables work too.",
    ),
]
CommitTimeOption = Annotated[
    str | None,
    typer.Option(
        "--commit-time",
        envvar=["PLINTH_COMMIT_TIME", "CI_COMMIT_TIMESTAMP"],
        help="The commit's time, RFC 3339 (default: asked of git when the commit is here).",
    ),
]
_BAND_STYLE = {"elite": "bold green", "high": "green", "medium": "yellow", "low": "red"}
_TICKS = "▁▂▃▄▅▆▇█"


def duration(seconds: float | None) -> str:
    """Return ``42s``, ``12m``, ``3.5h`` or ``2.1d`` ("-" for no value)."""
    if seconds is None:
        return "-"
    if seconds < 60:
        return f"{seconds:.0f}s"
    if seconds < 3600:
        return f"{seconds / 60:.0f}m"
    if seconds < 86400:
        return f"{seconds / 3600:.1f}h"
    return f"{seconds / 86400:.1f}d"


def sparkline(values: Sequence[float | None]) -> str:
    """Return one block character per value, scaled to the largest (space for no value)."""
    top = max((v for v in values if v is not None), default=0.0)
    if top <= 0:
        return "".join(" " if v is None else _TICKS[0] for v in values)
    return "".join(
        " " if v is None else _TICKS[min(len(_TICKS) - 1, int(v / top * (len(_TICKS) - 1)))]
        for v in values
    )


def _git_commit_time(sha: str) -> str | None:
    try:
        done = subprocess.run(
            ["git", "show", "-s", "--format=%cI", sha],
            capture_output=True,
            text=True,
            timeout=10,
            check=False,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    if done.returncode != 0:
        return None
    return done.stdout.strip() or None


def record_commit(
    client: PlinthClient, plan_digest: str, sha: str | None, time: str | None
) -> None:
    """Tell the server which commit a plan deploys; warn (never fail) when it cannot."""
    if not sha:
        return
    when = time or _git_commit_time(sha)
    if not when:
        err_console().print(
            f"Commit {sha} not recorded: give --commit-time (git does not know the commit)."
        )
        return
    try:
        client.post("/dora/commits", {"plan": plan_digest, "sha": sha, "time": when})
    except PlinthError as exc:  # telemetry never blocks an apply
        err_console().print(f"Commit {sha} not recorded: {exc}")


def _band(band: str | None) -> Text:
    return Text(band or "-", style=_BAND_STYLE.get(band or "", "dim"))


def _rate(value: float | None) -> str:
    return "-" if value is None else f"{value * 100:.0f}%"


def _summary_table(data: Mapping[str, Any]) -> Table:
    df, lt = data["deployment_frequency"], data["lead_time"]
    cfr, ttr = data["change_failure_rate"], data["time_to_restore"]
    bands = data["bands"]
    table = Table(title=_title(data), title_justify="left")
    for column in ("metric", "value", "detail", "band", "DORA band means"):
        table.add_column(column)
    rows = (
        (
            "deployment frequency",
            f"{df['per_week']:.1f}/week",
            f"{df['deployments']} deploys on {df['deploy_days']} days, {df['rollbacks']} rollbacks",
            df,
            "deployment_frequency",
        ),
        (
            "lead time for changes",
            duration(lt["median_s"]),
            f"median of {lt['count']}; p90 {duration(lt['p90_s'])}; "
            f"{lt['without_commit']} without commit",
            lt,
            "lead_time",
        ),
        (
            "change failure rate",
            _rate(cfr["rate"]),
            f"{cfr['failures']} of {cfr['deployments']} deploys",
            cfr,
            "change_failure_rate",
        ),
        (
            "time to restore",
            duration(ttr["median_s"]),
            f"median of {ttr['count']}; {ttr['open_failures']} not restored",
            ttr,
            "time_to_restore",
        ),
    )
    for name, value, detail, metric, key in rows:
        band = metric.get("band")
        meaning = bands[key]["bands"].get(band, "") if band else ""
        table.add_row(name, value, detail, _band(band), meaning)
    return table


def _title(data: Mapping[str, Any]) -> str:
    scope = (
        ", ".join(f"{k} {data[k]}" for k in ("team", "environment") if data.get(k)) or "all teams"
    )
    return (
        f"DORA, {scope}, last {data['window']['days']:.0f} days (overall: {data['overall_band']})"
    )


def _series_table(points: list[dict[str, Any]]) -> Table:
    top = max((p["deployments"] for p in points), default=0) or 1
    table = Table(title="Week by week", title_justify="left")
    for column in ("week of", "deploys", "", "lead time", "failure rate", "restore"):
        table.add_column(column)
    for point in points:
        bar = "█" * round(point["deployments"] / top * 20)
        table.add_row(
            str(point["week_start"])[:10],
            str(point["deployments"]),
            Text(bar, style="cyan"),
            duration(point["lead_time_median_s"]),
            _rate(point["change_failure_rate"]),
            duration(point["time_to_restore_median_s"]),
        )
    return table


@guarded
def dora(
    ctx: typer.Context,
    team: Annotated[str | None, typer.Option("--team", "-t", help="Only this team.")] = None,
    env: EnvOption = None,
    window_days: Annotated[
        int, typer.Option("--window-days", "-w", min=1, max=366, help="Window in days.")
    ] = 30,
    weeks: Annotated[int, typer.Option("--weeks", min=1, max=104, help="Weeks in the trend.")] = 12,
    output: OutputOption = OutputFormat.table,
) -> None:
    """Show DORA's four keys (with their performance bands) and a weekly trend.

    Computed by the server from its own records: applied plans, the commits CI
    named (plinth apply --commit-sha), resource events and rollbacks. See docs/dora.md.

    Examples:

      plinth dora --team payments

      plinth dora --env prod --window-days 90 -o json
    """
    client = state_of(ctx).client()
    data = client.get("/dora", team=team, environment=env, window_days=window_days)
    series = client.get("/dora/series", team=team, environment=env, weeks=weeks)
    if output is not OutputFormat.table:
        print_data({"metrics": data, "series": series["items"]}, output)
        return
    console = out_console()
    console.print(_summary_table(data))
    points = series["items"]
    trend = sparkline([float(p["deployments"]) for p in points])
    console.print(Text(f"Deploys per week, last {len(points)} weeks: {trend}"))
    console.print(_series_table(points))


def register(app: typer.Typer) -> None:
    """Add ``dora`` to the root app."""
    app.command("dora")(dora)
