"""Rendering for the CLI: tables for people, raw JSON or YAML for scripts.

``-o json`` and ``-o yaml`` print the API's data unchanged so that scripts
can rely on the REST contract; ``-o table`` (the default) is for people and
may change. Errors always go to standard error.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterable, Mapping, Sequence
from enum import StrEnum
from typing import Any

import yaml
from rich.console import Console
from rich.table import Table
from rich.text import Text

from plinth.core.errors import Conflict, GateDenied, Issue, PlinthError, SpecError, Unauthenticated

__all__ = [
    "OutputFormat",
    "cell",
    "err_console",
    "format_issue",
    "generic_columns",
    "out_console",
    "print_data",
    "print_error",
    "print_object",
    "print_table",
    "verdict_style",
    "verdicts_table",
]


class OutputFormat(StrEnum):
    """How a command prints its result."""

    table = "table"
    json = "json"
    yaml = "yaml"


def out_console() -> Console:
    """Return a console on the current standard output (made per call, for test capture)."""
    return Console(file=sys.stdout, highlight=False)


def err_console() -> Console:
    """Return a console on the current standard error."""
    return Console(file=sys.stderr, highlight=False)


def print_data(data: Any, fmt: OutputFormat) -> None:
    """Print raw API data as JSON or YAML (no colours, stable for scripts)."""
    if fmt is OutputFormat.yaml:
        sys.stdout.write(yaml.safe_dump(data, sort_keys=False, allow_unicode=True))
    else:
        sys.stdout.write(json.dumps(data, indent=2, ensure_ascii=False) + "\n")
    sys.stdout.flush()


_STYLES = {
    "allow": "green",
    "warn": "yellow",
    "deny": "red",
    "needs_approval": "magenta",
    "true": "green",
    "false": "red",
    "ready": "green",
    "running": "green",
    "succeeded": "green",
    "failed": "red",
    "pending": "yellow",
}


def cell(value: Any) -> Text:
    """Return a table cell for any value: scalars as text, lists joined, maps as k=v."""
    if value is None:
        return Text("-", style="dim")
    if isinstance(value, bool):
        word = "true" if value else "false"
        return Text(word, style=_STYLES[word])
    if isinstance(value, Mapping):
        return Text(", ".join(f"{k}={_plain(v)}" for k, v in value.items()))
    if isinstance(value, list | tuple):
        return Text(", ".join(_plain(v) for v in value))
    text = str(value)
    return Text(text, style=_STYLES.get(text, ""))


def _plain(value: Any) -> str:
    if isinstance(value, Mapping):
        return "{" + ", ".join(f"{k}: {_plain(v)}" for k, v in value.items()) + "}"
    if isinstance(value, list | tuple):
        return "[" + ", ".join(_plain(v) for v in value) + "]"
    return json.dumps(value) if isinstance(value, bool) or value is None else str(value)


def generic_columns(items: Sequence[Mapping[str, Any]], *, limit: int = 7) -> list[str]:
    """Pick readable columns for items of unknown shape: ``name`` first, scalars only."""
    columns: list[str] = []
    for item in items[:20]:
        for key, value in item.items():
            scalar = not isinstance(value, Mapping | list) or (
                isinstance(value, list) and all(not isinstance(v, Mapping | list) for v in value)
            )
            if key not in columns and scalar:
                columns.append(key)
    columns.sort(key=lambda c: (c != "name", c != "digest"))
    return columns[:limit]


def print_table(
    items: Iterable[Mapping[str, Any]],
    columns: Sequence[str],
    *,
    title: str | None = None,
    empty: str = "No items.",
) -> None:
    """Print items as a table with the given columns (keys of each item)."""
    rows = list(items)
    console = out_console()
    if not rows:
        console.print(Text(empty, style="dim"))
        return
    table = Table(title=title, title_justify="left", header_style="bold")
    for column in columns:
        table.add_column(column.upper().replace("_", " "), overflow="fold")
    for row in rows:
        table.add_row(*(cell(row.get(column)) for column in columns))
    console.print(table)


def print_object(data: Mapping[str, Any], *, title: str | None = None) -> None:
    """Print one object as a two-column field/value table; nested values as YAML."""
    table = Table(title=title, title_justify="left", show_header=False, box=None)
    table.add_column(style="bold")
    table.add_column(overflow="fold")
    for key, value in data.items():
        if isinstance(value, Mapping | list) and value and not _flat(value):
            shown = Text(yaml.safe_dump(value, sort_keys=False).rstrip())
        else:
            shown = cell(value)
        table.add_row(Text(str(key)), shown)
    out_console().print(table)


def _flat(value: Mapping[str, Any] | list[Any]) -> bool:
    values = value.values() if isinstance(value, Mapping) else value
    return all(not isinstance(v, Mapping | list) for v in values)


def verdict_style(verdict: str) -> str:
    """Return the Rich style for a gate verdict or plan outcome."""
    return _STYLES.get(verdict, "")


def verdicts_table(verdicts: Sequence[Mapping[str, Any]]) -> Table:
    """Return a table of gate verdicts with their reasons and suggestions."""
    table = Table(title="Gates", title_justify="left", header_style="bold")
    table.add_column("GATE")
    table.add_column("VERDICT")
    table.add_column("REASONS", overflow="fold")
    table.add_column("SUGGESTIONS", overflow="fold")
    for verdict in verdicts:
        word = str(verdict.get("verdict", ""))
        table.add_row(
            str(verdict.get("gate", "")),
            Text(word, style=verdict_style(word)),
            "\n".join(str(r) for r in verdict.get("reasons") or []),
            "\n".join(str(s) for s in verdict.get("suggestions") or []),
        )
    return table


def format_issue(issue: Issue) -> str:
    """Return ``file: document N: $.path: message`` (parts that are unknown left out)."""
    parts = []
    if issue.file:
        parts.append(issue.file)
    if issue.document is not None:
        parts.append(f"document {issue.document}")
    parts.append(issue.path or "$")
    parts.append(issue.message)
    return ": ".join(parts)


def print_error(error: PlinthError) -> None:
    """Print an error for people on standard error, with every detail that helps fix it."""
    console = err_console()
    if isinstance(error, SpecError):
        count = len(error.issues)
        console.print(Text(f"Error: invalid specification ({count} issues):", style="bold red"))
        for issue in error.issues:
            console.print(Text(f"  {format_issue(issue)}"), soft_wrap=True)
        return
    console.print(Text(f"Error: {error.detail}", style="bold red"), soft_wrap=True)
    if isinstance(error, GateDenied) and error.extra.get("verdicts"):
        console.print(verdicts_table(error.extra["verdicts"]))
    if isinstance(error, Conflict):
        for conflict in error.extra.get("conflicts") or []:
            console.print(Text(f"  conflict: {_plain(conflict)}"), soft_wrap=True)
    if isinstance(error, Unauthenticated):
        console.print(
            "Check your token: `plinth whoami`, PLINTH_TOKEN, --token, or `plinth login USER`."
        )
