"""``plinth cost export|import|reconcile``: FOCUS files in and out, and bills against meters.

The FOCUS endpoints speak CSV, not JSON, so these commands use their own small
HTTP calls (same URL, token and transport as every other command) and map
problem+json answers to the same errors and exit codes.
"""

from __future__ import annotations

import csv
import sys
from collections.abc import Iterator, Mapping
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

import httpx
import typer
from rich.progress import (
    BarColumn,
    DownloadColumn,
    Progress,
    SpinnerColumn,
    TextColumn,
    TransferSpeedColumn,
)
from rich.text import Text

from plinth.core.errors import InvalidInput, PlinthError, SpecError
from plinth.experience.cli.client import API_PREFIX, Unreachable, problem_to_error
from plinth.experience.cli.context import EXIT_INVALID, CliState, guarded, state_of
from plinth.experience.cli.output import (
    OutputFormat,
    err_console,
    format_issue,
    out_console,
    print_data,
    print_table,
)

__all__ = ["ReconcileFormat", "register"]

CHUNK = 256 * 1024
_RECONCILE_COLUMNS = (
    "resource_id",
    "resource_name",
    "team",
    "currency",
    "expected",
    "billed",
    "error",
    "error_pct",
    "status",
)


class ExportFormat(StrEnum):
    """File formats of ``cost export``."""

    focus = "focus"


class ReconcileFormat(StrEnum):
    """How ``cost reconcile`` prints."""

    table = "table"
    json = "json"
    csv = "csv"


StartOption = Annotated[
    str | None,
    typer.Option("--start", help="Window start with a zone, e.g. 2026-11-01T00:00:00Z."),
]
EndOption = Annotated[
    str | None, typer.Option("--end", help="Window end with a zone (default: now).")
]


def _http(state: CliState, *, timeout: float = 300.0) -> httpx.Client:
    config = state.config()
    headers = {"User-Agent": "plinth-cli"}
    if config.token:
        headers["Authorization"] = f"Bearer {config.token}"
    return httpx.Client(
        base_url=config.url, headers=headers, transport=state.transport, timeout=timeout
    )


def _send(state: CliState, request: httpx.Request, http: httpx.Client) -> httpx.Response:
    try:
        response = http.send(request)
    except (httpx.ConnectError, httpx.ConnectTimeout) as exc:
        raise Unreachable(f"cannot reach Plinth at {state.config().url}: {exc}") from exc
    except httpx.HTTPError as exc:
        raise PlinthError(f"request to {state.config().url} failed: {exc}") from exc
    if response.is_error:
        try:
            data = response.json()
        except ValueError:
            data = {"detail": response.text.strip()[:500]}
        raise problem_to_error(response.status_code, data)
    return response


def _window(start: str | None, end: str | None) -> dict[str, str]:
    return {k: v for k, v in (("start", start), ("end", end)) if v}


def export(
    ctx: typer.Context,
    output: Annotated[
        Path, typer.Option("--output", "-o", help="File to write ('-' for standard output).")
    ],
    export_format: Annotated[
        ExportFormat, typer.Option("--format", help="File format (FOCUS 1.2 CSV).")
    ] = ExportFormat.focus,
    start: StartOption = None,
    end: EndOption = None,
) -> None:
    """Export the cost ledger of a window (default: the last 30 days) as a FOCUS 1.2 file.

    Example:

      plinth cost export --format focus -o focus.csv --start 2026-11-01T00:00:00Z
    """
    state = state_of(ctx)
    params = {"format": export_format.value, **_window(start, end)}
    with _http(state) as http:
        request = http.build_request("GET", f"{API_PREFIX}/cost/export", params=params)
        response = _send(state, request, http)
    text = response.text
    if str(output) == "-":
        sys.stdout.write(text)
        sys.stdout.flush()
        return
    output.write_text(text, encoding="utf-8")
    rows = max(0, text.count("\n") - 1)
    err_console().print(Text(f"Wrote {rows} FOCUS rows to {output}.", style="green"))


def _chunks(path: Path, progress: Progress, task: Any) -> Iterator[bytes]:
    with path.open("rb") as handle:
        while chunk := handle.read(CHUNK):
            progress.update(task, advance=len(chunk))
            yield chunk
    progress.update(task, description=f"{path.name}: validating and importing")


def _upload(state: CliState, path: Path, params: Mapping[str, Any]) -> dict[str, Any]:
    size = path.stat().st_size
    columns = (
        SpinnerColumn(),
        TextColumn("{task.description}"),
        BarColumn(),
        DownloadColumn(),
        TransferSpeedColumn(),
    )
    with (
        _http(state) as http,
        Progress(*columns, console=err_console(), transient=True) as progress,
    ):
        task = progress.add_task(f"{path.name}: uploading", total=size)
        request = http.build_request(
            "POST",
            f"{API_PREFIX}/cost/import",
            params=dict(params),
            content=_chunks(path, progress, task),
            headers={"Content-Type": "text/csv", "Content-Length": str(size)},
        )
        response = _send(state, request, http)
    result: dict[str, Any] = response.json()
    return result


def _print_refusal(error: SpecError) -> None:
    console = err_console()
    console.print(
        Text(f"Import refused, nothing imported ({error.detail}):", style="bold red"),
        soft_wrap=True,
    )
    for issue in error.issues:
        console.print(Text(f"  {format_issue(issue)}"), soft_wrap=True)


def _print_result(result: Mapping[str, Any]) -> None:
    billed = ", ".join(f"{v} {k}" for k, v in (result.get("billed") or {}).items()) or "nothing"
    console = out_console()
    console.print(
        Text(
            f"Imported {result.get('imported', 0)} of {result.get('rows', 0)} rows from "
            f"{result.get('source')}: billed {billed}; "
            f"{result.get('duplicates', 0)} already imported; "
            f"{result.get('unattributed', 0)} unattributed (no team tag).",
            style="green",
        ),
        soft_wrap=True,
    )
    warnings = result.get("warnings") or []
    if warnings:
        console.print(Text(f"{result.get('warning_count')} warnings:", style="yellow"))
        for warning in warnings:
            line = f"  row {warning['row']}, {warning['column']}: {warning['message']}"
            console.print(Text(line), soft_wrap=True)


def import_bill(
    ctx: typer.Context,
    file: Annotated[Path, typer.Argument(help="A FOCUS 1.0+ CSV billing export.")],
    source: Annotated[
        str | None,
        typer.Option(
            "--source", help="Name of the bill (default: the file name); re-imports skip."
        ),
    ] = None,
    assume_utc: Annotated[
        bool, typer.Option("--assume-utc", help="Read times without a zone as UTC.")
    ] = False,
    output: Annotated[
        OutputFormat, typer.Option("--output", "-o", help="table for people; json or yaml.")
    ] = OutputFormat.table,
) -> None:
    """Import a FOCUS billing export into the ledger: all rows or none, never twice.

    Example:

      plinth cost import focus-2026-10.csv --source aws-2026-10 --assume-utc
    """
    if not file.is_file():
        raise InvalidInput(f"no such file: {file}")
    params = {"source": source or file.name, "assume_utc": str(assume_utc).lower()}
    try:
        result = _upload(state_of(ctx), file, params)
    except SpecError as exc:
        _print_refusal(exc)
        raise typer.Exit(EXIT_INVALID) from exc
    if output is OutputFormat.table:
        _print_result(result)
    else:
        print_data(result, output)


def _all_lines(state: CliState, params: Mapping[str, Any]) -> dict[str, Any]:
    client = state.client()
    items: list[Any] = []
    last: dict[str, Any] = {}
    for page in client.pages("/cost/reconcile", limit=500, **params):
        items.extend(page.get("items") or [])
        last = page
    return {**last, "items": items, "next_page_token": None}


def reconcile(
    ctx: typer.Context,
    start: StartOption = None,
    end: EndOption = None,
    output: Annotated[
        ReconcileFormat, typer.Option("--output", "-o", help="table, json or csv.")
    ] = ReconcileFormat.table,
) -> None:
    """Compare, per resource, metered (or estimated) cost with billed cost.

    Example:

      plinth cost reconcile --start 2026-10-01T00:00:00Z --end 2026-11-01T00:00:00Z -o csv
    """
    data = _all_lines(state_of(ctx), _window(start, end))
    if output is ReconcileFormat.json:
        print_data(data, OutputFormat.json)
        return
    if output is ReconcileFormat.csv:
        writer = csv.DictWriter(sys.stdout, fieldnames=_RECONCILE_COLUMNS, extrasaction="ignore")
        writer.writeheader()
        writer.writerows(data["items"])
        sys.stdout.flush()
        return
    window = data.get("window") or {}
    title = f"Reconciliation {window.get('start', '')} .. {window.get('end', '')}"
    items = [{**item, "team": item.get("team") or "(unattributed)"} for item in data["items"]]
    print_table(items, _RECONCILE_COLUMNS, title=title, empty="No metered or billed cost.")
    for total in data.get("totals") or []:
        pct = total.get("error_pct")
        out_console().print(
            Text(
                f"Total {total['currency']}: expected {total['expected']}, billed "
                f"{total['billed']}, error {total['error']}"
                + (f" ({pct}%)" if pct is not None else ""),
                style="bold",
            )
        )


def register(cost_app: typer.Typer) -> None:
    """Add ``export``, ``import`` and ``reconcile`` to the ``plinth cost`` command group."""
    cost_app.command("export")(guarded(export))
    cost_app.command("import")(guarded(import_bill))
    cost_app.command("reconcile")(guarded(reconcile))
