"""Commands that change things: ``plan``, ``apply`` and ``delete``.

Every change takes the one path: the server makes a plan, the gates judge
it, and only a plan's digest is applied. These commands show the plan, ask
for confirmation, apply it, and optionally wait until the workloads are ready.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any

import typer
import yaml
from rich.progress import Progress, SpinnerColumn, TextColumn
from rich.text import Text

from plinth.core.errors import InvalidInput, Issue, NotFound, PlinthError, SpecError
from plinth.experience.cli.client import PlinthClient
from plinth.experience.cli.context import (
    EXIT_DENIED,
    EXIT_ERROR,
    EXIT_WAITING_APPROVAL,
    CliState,
    EnvOption,
    OutputOption,
    ProjectOption,
    YesOption,
    guarded,
    state_of,
)
from plinth.experience.cli.dora import CommitShaOption, CommitTimeOption, record_commit
from plinth.experience.cli.kinds import resolve_kind
from plinth.experience.cli.output import OutputFormat, err_console, out_console, print_data
from plinth.experience.cli.plan_view import print_plan

__all__ = ["SpecBundle", "apply", "delete", "finish_apply", "plan", "read_specs", "register"]

FilesOption = Annotated[
    list[str] | None,
    typer.Option("--file", "-f", help="Spec file (YAML, several documents allowed); - for stdin."),
]
UpgradeOption = Annotated[
    bool, typer.Option("--upgrade", help="Move applications to their template's latest version.")
]
READY_PHASES = frozenset({"running", "ready", "succeeded"})
FAILED_PHASES = frozenset({"failed", "error"})


@dataclass
class SpecBundle:
    """The text of one or more spec files, and where each file's documents start."""

    text: str
    label: str
    spans: list[tuple[str, int, int]] = field(default_factory=list)

    def locate(self, issue: Issue) -> Issue:
        """Return the issue with file and document number of the file it came from."""
        if issue.file != self.label or issue.document is None or len(self.spans) < 2:
            return issue
        for name, start, count in self.spans:
            if start <= issue.document < start + count:
                return Issue(issue.message, issue.path, issue.document - start, name)
        return issue


def _read_one(name: str) -> str:
    if name == "-":
        return sys.stdin.read()
    try:
        return Path(name).read_text(encoding="utf-8")
    except FileNotFoundError as exc:
        raise SpecError([Issue("file not found", "$", None, name)]) from exc
    except (OSError, UnicodeDecodeError) as exc:
        raise SpecError([Issue(f"cannot read file: {exc}", "$", None, name)]) from exc


def _count_documents(text: str) -> int | None:
    try:
        return sum(1 for _ in yaml.safe_load_all(text))
    except yaml.YAMLError:
        return None


def read_specs(files: list[str]) -> SpecBundle:
    """Read spec files (``-`` is stdin) into one YAML stream, remembering document offsets."""
    if not files:
        raise InvalidInput("give at least one spec file with -f FILE (or -f - for stdin)")
    texts = [(("<stdin>" if name == "-" else name), _read_one(name)) for name in files]
    if len(texts) == 1:
        return SpecBundle(texts[0][1], texts[0][0])
    parts: list[str] = []
    spans: list[tuple[str, int, int]] = []
    start, known = 0, True
    for name, text in texts:
        body = text if text.endswith("\n") else text + "\n"
        if parts and not body.lstrip().startswith("---"):
            body = "---\n" + body
        parts.append(body)
        count = _count_documents(body) if known else None
        if count is None:
            known = False
        else:
            spans.append((name, start, count))
            start += count
    label = ", ".join(name for name, _ in texts)
    return SpecBundle("".join(parts), label, spans if known else [])


def _post_plan(client: PlinthClient, body: dict[str, Any], bundle: SpecBundle | None) -> Any:
    try:
        return client.post("/plans", body)
    except SpecError as exc:
        if bundle is None:
            raise
        raise SpecError([bundle.locate(issue) for issue in exc.issues]) from exc


def _make_plan(
    client: PlinthClient, files: list[str], env: str | None, project: str | None, upgrade: bool
) -> Mapping[str, Any]:
    if not env:
        raise InvalidInput("--env is required, e.g. --env dev")
    bundle = read_specs(files)
    body = {
        "documents": bundle.text,
        "file": bundle.label,
        "environment": env,
        "project": project,
        "upgrade": upgrade,
    }
    result: Mapping[str, Any] = _post_plan(client, body, bundle)
    return result


def _show_plan(plan: Mapping[str, Any], output: OutputFormat, *, next_step: bool) -> None:
    if output is OutputFormat.table:
        print_plan(plan, next_step=next_step)
    else:
        print_data(plan, output)


def _confirm(yes: bool, question: str) -> None:
    if yes:
        return
    if not sys.stdin.isatty():
        raise InvalidInput("refusing to go on without confirmation: pass --yes (no terminal)")
    if not typer.confirm(question, default=False, err=True):
        err_console().print("Cancelled.")
        raise typer.Exit(EXIT_ERROR)


def _is_denied(plan: Mapping[str, Any]) -> bool:
    return plan.get("outcome") == "deny" or plan.get("status") in ("denied", "rejected")


def finish_apply(state: CliState, digest: str, output: OutputFormat) -> Mapping[str, Any]:
    """Apply a stored plan; exit 4 when it waits for approval. Return the apply result."""
    result: Mapping[str, Any] = state.client().post(f"/plans/{digest}/apply")
    status = result.get("status")
    if output is not OutputFormat.table:
        print_data(result, output)
    if status == "waiting_approval":
        if output is OutputFormat.table:
            console = out_console()
            console.print(Text(f"Waiting for approval: plan {digest}", style="bold magenta"))
            console.print(f"An approver runs: plinth approvals approve {digest} --apply")
            console.print(f"or, once approved: plinth apply --plan {digest}")
        raise typer.Exit(EXIT_WAITING_APPROVAL)
    if output is OutputFormat.table:
        seq = (result.get("decision") or {}).get("seq")
        suffix = f" (decision #{seq})" if seq is not None else ""
        out_console().print(Text(f"Applied plan {digest}{suffix}.", style="bold green"))
    return result


def _readiness(data: Mapping[str, Any]) -> tuple[bool, str | None, str]:
    """Return ``(ready, failure, summary)`` for a workload or application."""
    parts = [data, *(data.get("resources") or [])]
    # A failed resource carries the provider's reason; the workload only says "failed".
    for part in [*parts[1:], data]:
        if str(part.get("phase", "")).lower() in FAILED_PHASES:
            why = part.get("message") or part.get("phase")
            return False, f"{part.get('name', '?')}: {why}", "failed"
    ready = sum(
        1
        for part in parts
        if str(part.get("phase", "")).lower() in READY_PHASES and part.get("healthy") is not False
    )
    return ready == len(parts), None, f"{data.get('phase', 'pending')} ({ready}/{len(parts)} ready)"


def _wait_targets(plan: Mapping[str, Any]) -> list[tuple[str, str]]:
    paths = {"Workload": "/workloads", "Application": "/applications"}
    return [
        (paths[c["kind"]], str(c["name"]))
        for c in plan.get("changes") or []
        if c.get("kind") in paths and c.get("action") != "delete"
    ]


def wait_ready(state: CliState, plan: Mapping[str, Any], *, timeout: float) -> None:
    """Poll each applied workload until it and its resources are ready; PlinthError if not."""
    targets = _wait_targets(plan)
    env, client = plan.get("environment"), state.client()
    deadline = time.monotonic() + timeout
    with Progress(SpinnerColumn(), TextColumn("{task.description}"), console=err_console()) as bar:
        tasks = {t: bar.add_task(f"{t[1]}: waiting", total=1) for t in targets}
        pending = list(targets)
        while pending:
            for target in list(pending):
                try:
                    data = client.get(f"{target[0]}/{target[1]}", environment=env)
                except NotFound:
                    bar.update(tasks[target], description=f"{target[1]}: not created yet")
                    continue
                ready, failure, summary = _readiness(data)
                bar.update(tasks[target], description=f"{target[1]}: {summary}")
                if failure:
                    raise PlinthError(f"{target[1]} failed: {failure}")
                if ready:
                    bar.update(tasks[target], completed=1)
                    pending.remove(target)
            if pending and time.monotonic() >= deadline:
                names = ", ".join(name for _, name in pending)
                raise PlinthError(f"timed out after {timeout:g}s waiting for {names} to be ready")
            if pending:
                time.sleep(state.poll_interval_s)


@guarded
def plan(
    ctx: typer.Context,
    files: FilesOption = None,
    env: EnvOption = None,
    project: ProjectOption = None,
    upgrade: UpgradeOption = False,
    output: OutputOption = OutputFormat.table,
) -> None:
    """Show what applying spec files would change, and what the gates say.

    Nothing changes until you apply the plan by its digest. Exits 3 when a gate denies it.

    Examples:

      plinth plan -f web.yaml --env dev

      cat web.yaml | plinth plan -f - --env dev -o json
    """
    state = state_of(ctx)
    result = _make_plan(state.client(), files or [], env, project, upgrade)
    _show_plan(result, output, next_step=True)
    if _is_denied(result):
        raise typer.Exit(EXIT_DENIED)


@guarded
def apply(
    ctx: typer.Context,
    files: FilesOption = None,
    env: EnvOption = None,
    project: ProjectOption = None,
    plan_digest: Annotated[
        str | None, typer.Option("--plan", help="Apply a stored plan by its digest.")
    ] = None,
    upgrade: UpgradeOption = False,
    yes: YesOption = False,
    wait: Annotated[bool, typer.Option("--wait", help="Wait until workloads are ready.")] = False,
    timeout: Annotated[
        float, typer.Option("--timeout", min=0, help="Seconds to wait with --wait.")
    ] = 300.0,
    output: OutputOption = OutputFormat.table,
    commit_sha: CommitShaOption = None,
    commit_time: CommitTimeOption = None,
) -> None:
    """Plan spec files and apply the plan (or apply a stored plan with --plan).

    Asks for confirmation unless --yes. Exits 3 when denied, 4 when the plan waits for approval.

    Examples:

      plinth apply -f web.yaml --env dev

      plinth apply -f web.yaml --env dev --yes --wait --timeout 120

      plinth apply --plan 3f2a...e9 --yes
    """
    state = state_of(ctx)
    client = state.client()
    if plan_digest and files:
        raise InvalidInput("give either -f FILE or --plan DIGEST, not both")
    if plan_digest:
        stored: Mapping[str, Any] = client.get(f"/plans/{plan_digest}")
    else:
        stored = _make_plan(client, files or [], env, project, upgrade)
    if output is OutputFormat.table:
        print_plan(stored, next_step=False)
    # A stored plan is re-decided by the server for whoever applies it (a release
    # manager may apply a plan a developer was denied), so only fresh plans stop here.
    if _is_denied(stored) and not plan_digest:
        if output is not OutputFormat.table:
            print_data(stored, output)
        raise typer.Exit(EXIT_DENIED)
    changes = stored.get("changes") or []
    if not plan_digest and all(c.get("action") == "no-op" for c in changes):
        if output is OutputFormat.table:
            out_console().print("No changes: nothing to apply.")
        else:
            print_data(stored, output)
        return
    _confirm(yes, "Apply this plan?")
    record_commit(client, str(stored["digest"]), commit_sha, commit_time)  # DORA lead time
    finish_apply(state, str(stored["digest"]), output)
    if wait:
        wait_ready(state, stored, timeout=timeout)


@guarded
def delete(
    ctx: typer.Context,
    kind: Annotated[str, typer.Argument(help="workload, application, ... (singular or plural).")],
    name: Annotated[str, typer.Argument(help="Name of the object to delete.")],
    env: EnvOption = None,
    project: ProjectOption = None,
    yes: YesOption = False,
    output: OutputOption = OutputFormat.table,
) -> None:
    """Delete an object through a plan: show it, confirm, apply.

    Examples:

      plinth delete workload web --env dev

      plinth delete app checkout --env prod --yes
    """
    state = state_of(ctx)
    if not env:
        raise InvalidInput("--env is required, e.g. --env dev")
    info = resolve_kind(kind)
    body = {"delete": {"kind": info.kind, "name": name}, "environment": env, "project": project}
    stored: Mapping[str, Any] = _post_plan(state.client(), body, None)
    if output is OutputFormat.table:
        print_plan(stored, next_step=False)
    if _is_denied(stored):
        raise typer.Exit(EXIT_DENIED)
    _confirm(yes, f"Delete {info.kind.lower()} {name!r} in {env}?")
    finish_apply(state, str(stored["digest"]), output)


def register(app: typer.Typer) -> None:
    """Add ``plan``, ``apply`` and ``delete`` to the root app."""
    app.command("plan")(plan)
    app.command("apply")(apply)
    app.command("delete")(delete)
