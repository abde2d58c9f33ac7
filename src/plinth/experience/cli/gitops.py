"""``plinth export --git DIR`` and ``plinth sync --git DIR``: desired state in a git repository.

Both talk to the server like every other command: the export reads
``GET /gitops/state`` and commits the files locally; the sync reads the files of
one commit (never the working tree) and sends them to ``POST /gitops/sync``,
which validates, plans through the gates and applies.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any

import typer

from plinth import __version__
from plinth.core.errors import InvalidInput
from plinth.experience.cli.client import PlinthClient
from plinth.experience.cli.context import (
    EXIT_DENIED,
    EXIT_WAITING_APPROVAL,
    OutputOption,
    guarded,
    state_of,
)
from plinth.experience.cli.output import (
    OutputFormat,
    err_console,
    out_console,
    print_data,
    print_table,
)
from plinth.orchestration.gitops import StateDocument, render_tree
from plinth.orchestration.gitops_git import commit_tree, read_ref

__all__ = ["exit_for", "export_app", "fetch_state", "print_report", "register", "sync"]

export_app = typer.Typer(
    no_args_is_help=True,
    invoke_without_command=True,
)


def fetch_state(client: PlinthClient) -> list[StateDocument]:
    """Return every document of desired state from the server (all pages)."""
    docs: list[StateDocument] = []
    for page in client.pages("/gitops/state", limit=500):
        docs.extend(StateDocument.from_dict(item) for item in page.get("items") or [])
    return docs


@export_app.callback()
@guarded
def export(
    ctx: typer.Context,
    git: Annotated[
        Path | None,
        typer.Option("--git", help="Repository to write desired state into (created if missing)."),
    ] = None,
    output: OutputOption = OutputFormat.table,
) -> None:
    """Export Plinth's state: desired state to git (--git DIR), or Backstage entities.

    With --git, writes the full desired state into a git repository and commits it.

    One file per document, keys sorted, no secret values. No commit when nothing changed.

    Examples:

      plinth export --git ./platform-state

      plinth export backstage --out catalog-info.yaml
    """
    if ctx.invoked_subcommand is not None:
        if git is not None:
            raise InvalidInput("--git writes desired state: use it without a subcommand")
        return
    if git is None:
        raise InvalidInput("give --git DIR, or a subcommand such as `backstage`")
    docs = fetch_state(state_of(ctx).client())
    files = render_tree(docs)
    sha = commit_tree(git, files, version=__version__, now=datetime.now(UTC))
    result = {
        "repository": str(git),
        "files": len(files),
        "commit": sha,
        "changed": sha is not None,
    }
    if output is not OutputFormat.table:
        print_data(result, output)
    elif sha is None:
        out_console().print(
            f"No changes: {git} already holds the desired state ({len(files)} files)."
        )
    else:
        out_console().print(f"Committed {len(files)} files to {git} as {sha[:12]}.")


def print_report(report: Mapping[str, Any], output: OutputFormat) -> None:
    """Print a sync (or import) report: one row per plan, then what happened."""
    if output is not OutputFormat.table:
        print_data(report, output)
        return
    rows = []
    for plan in report.get("plans") or []:
        actions: dict[str, int] = {}
        for change in plan.get("changes") or []:
            actions[change.get("action", "?")] = actions.get(change.get("action", "?"), 0) + 1
        scope = "/".join(p for p in (plan.get("environment"), plan.get("project")) if p)
        rows.append(
            {
                "scope": scope if plan.get("project") else "organisation",
                "digest": str(plan.get("digest", ""))[:12],
                "outcome": plan.get("outcome"),
                "changes": ", ".join(f"{n} {a}" for a, n in sorted(actions.items())) or "none",
            }
        )
    print_table(rows, ["scope", "digest", "outcome", "changes"], title="Plans", empty="No plans.")
    console = out_console()
    for note in report.get("deferred") or []:
        console.print(f"Deferred: {note}")
    for note in report.get("notes") or []:
        console.print(f"Note: {note}")
    for item in report.get("not_pruned") or []:
        console.print(f"Not pruned: {item}")
    if report.get("dry_run"):
        console.print("Dry run: nothing applied.")
    elif report.get("status") == "waiting_approval":
        applied = len(report.get("applied") or [])
        console.print(f"Waiting for approval: {applied} plan(s) applied, the rest wait.")
    else:
        console.print(f"Applied {len(report.get('applied') or [])} plan(s).")


def exit_for(report: Mapping[str, Any]) -> None:
    """Exit 3 when a gate denied a plan, 4 when one waits for approval (else return)."""
    status = report.get("status")
    if status == "denied":
        raise typer.Exit(EXIT_DENIED)
    if status == "waiting_approval":
        raise typer.Exit(EXIT_WAITING_APPROVAL)


@guarded
def sync(
    ctx: typer.Context,
    git: Annotated[Path, typer.Option("--git", help="The git repository to read.")],
    ref: Annotated[str, typer.Option("--ref", help="Branch, tag or commit to sync.")] = "HEAD",
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Plan and show, apply nothing.")
    ] = False,
    prune: Annotated[
        bool, typer.Option("--prune", help="Also delete workloads and applications not in git.")
    ] = False,
    output: OutputOption = OutputFormat.table,
) -> None:
    """Make Plinth's desired state match one commit of a git repository.

    Reads the commit (not the working tree), validates every file, plans every batch
    through the gates and applies only when all plans may be applied.
    Exits 2 for invalid files or an unknown ref, 3 when a gate denies a plan, 4 when a
    plan waits for approval (then nothing is applied).

    Examples:

      plinth sync --git ./platform-state --dry-run

      plinth sync --git ./platform-state --ref v1.4 --prune
    """
    tree = read_ref(git, ref)
    if tree.dirty:
        err_console().print(
            f"Note: {git} has uncommitted changes; they are not synced (commit them)."
        )
    body = {
        "files": tree.files,
        "source": "git",
        "commit": {"sha": tree.sha, "time": tree.time},
        "dry_run": dry_run,
        "prune": prune,
    }
    report: Mapping[str, Any] = state_of(ctx).client().post("/gitops/sync", body)
    if output is OutputFormat.table:
        out_console().print(f"Commit {tree.sha[:12]} of {git} ({len(tree.files)} files).")
    print_report(report, output)
    exit_for(report)


def register(app: typer.Typer) -> None:
    """Add ``export`` (a group: --git, and ``backstage``) and ``sync`` to the root app."""
    app.add_typer(export_app, name="export")
    app.command("sync")(sync)
