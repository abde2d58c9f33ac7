"""``plinth authz check``: may someone do something, and which policy says so."""

from __future__ import annotations

import json
from typing import Annotated, Any

import typer
from rich.text import Text

from plinth.core.errors import InvalidInput
from plinth.experience.cli.context import OutputOption, guarded, state_of
from plinth.experience.cli.output import OutputFormat, out_console, print_data

__all__ = ["authz_app"]

authz_app = typer.Typer(
    help="Authorization: explain any decision of the Cedar policies.", no_args_is_help=True
)


@authz_app.callback()
def authz() -> None:
    """Authorization: explain any decision of the Cedar policies."""


_STYLE = {"allow": "bold green", "needs_approval": "bold yellow", "deny": "bold red"}


@authz_app.command("check")
@guarded
def check(
    ctx: typer.Context,
    principal: Annotated[
        str | None,
        typer.Option("--principal", "--for", help="User or agent to check (default: you)."),
    ] = None,
    action: Annotated[
        str, typer.Option("--action", "-a", help="change, approve, call_tool or read.")
    ] = "change",
    environment: Annotated[str | None, typer.Option("--environment", "--env", "-e")] = None,
    project: Annotated[str | None, typer.Option("--project", "-p")] = None,
    team: Annotated[str | None, typer.Option("--team", "-t")] = None,
    kind: Annotated[
        list[str] | None, typer.Option("--kind", "-k", help="Kind changed (repeatable).")
    ] = None,
    verb: Annotated[
        list[str] | None,
        typer.Option("--change", help="create, update, delete or replace (repeatable)."),
    ] = None,
    plan: Annotated[str | None, typer.Option("--plan", help="Plan digest (approve).")] = None,
    author: Annotated[str | None, typer.Option("--author", help="Who asked for it.")] = None,
    tool: Annotated[str | None, typer.Option("--tool", help="server/tool (call_tool).")] = None,
    trust: Annotated[str, typer.Option("--trust", help="trusted, internal, untrusted.")] = (
        "internal"
    ),
    hint: Annotated[
        list[str] | None,
        typer.Option("--hint", help="Tool annotation, e.g. readOnlyHint=true (repeatable)."),
    ] = None,
    context: Annotated[
        str | None, typer.Option("--context", help='Extra facts as JSON, e.g. {"hour": 18}.')
    ] = None,
    output: OutputOption = OutputFormat.table,
) -> None:
    """Explain a decision: the outcome, and the policies that determined it.

    Examples:

      plinth authz check --principal ada --action change --env prod --project checkout

      plinth authz check --for janitor --env prod --project checkout --kind Resource --change delete
    """
    body: dict[str, Any] = {
        "principal": principal,
        "action": action,
        "environment": environment,
        "project": project,
        "team": team,
        "kinds": kind or [],
        "actions": verb or [],
        "plan": plan,
        "author": author,
        "tool": tool,
        "trust": trust,
        "annotations": _hints(hint or []) or None,
        "context": _context(context),
    }
    result = state_of(ctx).client().post("/authz/check", {k: v for k, v in body.items() if v})
    if output is not OutputFormat.table:
        print_data(result, output)
        return
    _show(result)


def _hints(pairs: list[str]) -> dict[str, bool]:
    """Parse ``name=true|false`` tool annotations."""
    hints: dict[str, bool] = {}
    for pair in pairs:
        name, sep, value = pair.partition("=")
        if not sep or value.lower() not in ("true", "false"):
            raise InvalidInput(f"--hint {pair!r}: write name=true or name=false")
        hints[name] = value.lower() == "true"
    return hints


def _context(text: str | None) -> dict[str, Any] | None:
    """Parse the --context JSON object."""
    if not text:
        return None
    try:
        data = json.loads(text)
    except ValueError as error:
        raise InvalidInput(f"--context is not JSON: {error}") from None
    if not isinstance(data, dict):
        raise InvalidInput("--context must be a JSON object")
    return data


def _show(result: dict[str, Any]) -> None:
    """Print the decision for people."""
    console = out_console()
    outcome = str(result.get("outcome", ""))
    headline = Text(f"{result.get('principal')} {result.get('action')}: ")
    headline.append(outcome, style=_STYLE.get(outcome, "bold"))
    console.print(headline)
    for policy in result.get("policies", []):
        where = f"{policy.get('policy_set', '')}, line {policy.get('line', 0)}"
        console.print(f"  {policy.get('effect', '')} {policy['id']} ({where})")
        console.print(f"    {policy.get('explanation', '')}", markup=False)
    for suggestion in result.get("suggestions", []):
        console.print(f"  suggestion: {suggestion}", markup=False)
    for error in result.get("errors", []):
        console.print(f"  error: {error}", markup=False, style="red")
