"""``plinth policy``: the Rego packs in force, their tests, explanations and exceptions."""

from __future__ import annotations

from typing import Annotated, Any

import typer
from rich.table import Table
from rich.text import Text

from plinth.experience.cli.context import EXIT_DENIED, OutputOption, guarded, state_of
from plinth.experience.cli.output import OutputFormat, out_console, print_data
from plinth.experience.cli.specs import read_specs

__all__ = ["policy_app"]

policy_app = typer.Typer(
    help="Policy as code: Rego packs, their tests, explanations and exceptions.",
    no_args_is_help=True,
)
_STYLE = {
    "allow": "bold green",
    "warn": "bold yellow",
    "needs_approval": "bold yellow",
    "deny": "bold red",
}


@policy_app.callback()
def policy() -> None:
    """Policy as code: Rego packs, their tests, explanations and exceptions."""


@policy_app.command("list")
@guarded
def list_packs(ctx: typer.Context, output: OutputOption = OutputFormat.table) -> None:
    """List the packs in force (the default pack and the newest version of each Policy)."""
    data = state_of(ctx).client().get("/policy/packs")
    if output is not OutputFormat.table:
        print_data(data, output)
        return
    table = Table("PACK", "VERSION", "ENFORCEMENT", "MODULES", "TESTS", "SOURCE")
    for pack in data["items"]:
        table.add_row(
            pack["name"],
            pack["version"],
            pack["enforcement"],
            str(len(pack["modules"])),
            str(len(pack["tests"])),
            pack["source"],
        )
    out_console().print(table)


@policy_app.command("test")
@guarded
def run_tests(
    ctx: typer.Context,
    pack: Annotated[str | None, typer.Option("--pack", help="Only this pack.")] = None,
    output: OutputOption = OutputFormat.table,
) -> None:
    """Run the packs' test_* rules and report each test (exit 3 when one fails)."""
    data = state_of(ctx).client().post("/policy/test", {"pack": pack} if pack else {})
    if output is not OutputFormat.table:
        print_data(data, output)
    else:
        console = out_console()
        for test in data["tests"]:
            mark = Text("PASS", style="green") if test["passed"] else Text("FAIL", style="red")
            mark.append(f" {test['pack']} {test['package']}.{test['name']}", style="default")
            if test.get("error"):
                mark.append(f" ({test['error']})", style="red")
            console.print(mark)
        console.print(f"{data['passed']} passed, {data['failed']} failed")
    if data["failed"]:
        raise typer.Exit(EXIT_DENIED)


@policy_app.command("eval")
@guarded
def evaluate(
    ctx: typer.Context,
    file: Annotated[list[str], typer.Option("--file", "-f", help="Spec file (- for stdin).")],
    environment: Annotated[str, typer.Option("--environment", "--env", "-e")],
    project: Annotated[str | None, typer.Option("--project", "-p")] = None,
    output: OutputOption = OutputFormat.table,
) -> None:
    """Explain the policy decision on planning these specs (nothing is stored).

    Example: plinth policy eval -f app.yaml --env prod --project checkout
    """
    specs = read_specs(file)
    body: dict[str, Any] = {
        "environment": environment,
        "documents": specs.text,
        "file": specs.label,
    }
    if project:
        body["project"] = project
    data = state_of(ctx).client().post("/policy/eval", body)
    if output is not OutputFormat.table:
        print_data(data, output)
        return
    _explain(data)


def _explain(data: dict[str, Any]) -> None:
    console = out_console()
    verdict = str(data["verdict"]["verdict"])
    headline = Text(f"policy on {data['project']} in {data['environment']}: ")
    headline.append(verdict, style=_STYLE.get(verdict, "bold"))
    console.print(headline)
    console.print(f"  packs: {', '.join(data['packs'])} ({data['elapsed_ms']:.1f} ms)")
    for result in data["results"]:
        where = f" [{result['resource']}]" if result.get("resource") else ""
        line = Text(f"  {result['level']}", style=_STYLE.get(result["level"], "bold"))
        line.append(f" {result['pack']}/{result['rule']}{where}: {result['message']}")
        console.print(line)
        if result.get("fix"):
            console.print(f"    fix: {result['fix']}", markup=False)
    for item in data["excepted"]:
        exception = item["exception"]
        console.print(
            f"  excepted {item['pack']}/{item['rule']} [{item.get('resource') or ''}]: "
            f"{item['message']} (exception {exception['name']}, owner {exception['owner']}, "
            f"expires {exception['expires']})",
            markup=False,
        )
    for error in data["errors"]:
        console.print(f"  error: {error}", markup=False, style="red")


@policy_app.command("exceptions")
@guarded
def exceptions(
    ctx: typer.Context,
    include_expired: Annotated[
        bool, typer.Option("--all", help="Include expired exceptions.")
    ] = False,
    output: OutputOption = OutputFormat.table,
) -> None:
    """List the PolicyExceptions: rule, resources, owner, justification, expiry."""
    params = {"include_expired": "true"} if include_expired else {}
    data = state_of(ctx).client().get("/policy/exceptions", **params)
    if output is not OutputFormat.table:
        print_data(data, output)
        return
    table = Table("NAME", "RULE", "RESOURCES", "ENVIRONMENTS", "OWNER", "EXPIRES", "WHY")
    for item in data["items"]:
        expires = item["expires"] + (" (expired)" if item["expired"] else "")
        table.add_row(
            item["name"],
            item["rule"],
            ", ".join(item["resources"]),
            ", ".join(item["environments"]) or "all",
            item["owner"],
            expires,
            item["justification"],
        )
    out_console().print(table)
