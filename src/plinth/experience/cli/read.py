"""Commands that only read: ``get``, ``describe``, ``logs``, ``whoami``, ``schema``, ``login``."""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.text import Text

from plinth.core.errors import InvalidInput, NotFound, PlinthError
from plinth.experience.cli.client import PlinthClient, config_file_path, set_current_user
from plinth.experience.cli.context import (
    AllOption,
    EnvOption,
    LimitOption,
    OutputOption,
    ProjectOption,
    guarded,
    state_of,
)
from plinth.experience.cli.kinds import KindInfo, resolve_kind
from plinth.experience.cli.output import (
    OutputFormat,
    err_console,
    generic_columns,
    out_console,
    print_data,
    print_object,
    print_table,
)
from plinth.experience.cli.plan_view import print_plan

__all__ = [
    "SECURITY_COLUMNS",
    "describe",
    "get",
    "list_items",
    "login",
    "logs",
    "register",
    "schema",
    "security_rows",
    "whoami",
]

KindArgument = Annotated[
    str,
    typer.Argument(
        help="workloads (wl), applications (app), resources, environments (env), "
        "teams, projects, templates, plans, approvals, users."
    ),
]


def list_items(
    client: PlinthClient, path: str, *, limit: int, all_pages: bool, **params: Any
) -> dict[str, Any]:
    """Return one page of a list, or every page joined when ``all_pages``, in the API's shape."""
    if not all_pages:
        page: dict[str, Any] = client.get(path, limit=limit, **params)
        return page
    items: list[Any] = []
    for page in client.pages(path, limit=limit, **params):
        items.extend(page.get("items") or [])
    return {"items": items, "next_page_token": None}


def show_list(
    data: Mapping[str, Any],
    columns: tuple[str, ...],
    output: OutputFormat,
    *,
    row: Callable[[dict[str, Any]], dict[str, Any]] | None = None,
    empty: str = "No items.",
) -> None:
    """Print a list page: a table of ``row(item)`` (hinting at more pages) or raw data."""
    if output is not OutputFormat.table:
        print_data(data, output)
        return
    items = list(data.get("items") or [])
    if row is not None:
        items = [row(item) for item in items]
    print_table(items, columns or generic_columns(items), empty=empty)
    if data.get("next_page_token"):
        err_console().print(Text("More items exist: use --all or a larger --limit.", style="dim"))


def _get_one(client: PlinthClient, info: KindInfo, name: str, params: dict[str, Any]) -> Any:
    if info.gettable:
        return client.get(f"{info.path}/{name}", **params)
    for page in client.pages(info.path, limit=500, **params):
        for item in page.get("items") or []:
            if item.get(info.key) == name:
                return item
    raise NotFound(f"no {info.kind.lower()} named {name!r}")


@guarded
def get(
    ctx: typer.Context,
    kind: KindArgument,
    name: Annotated[str | None, typer.Argument(help="Name (or digest) of one object.")] = None,
    env: EnvOption = None,
    project: ProjectOption = None,
    output: OutputOption = OutputFormat.table,
    limit: LimitOption = 50,
    all_pages: AllOption = False,
) -> None:
    """List objects of a kind, or show one by name.

    Examples:

      plinth get workloads --env dev

      plinth get wl web --env dev -o yaml

      plinth get plans --all -o json
    """
    client = state_of(ctx).client()
    info = resolve_kind(kind)
    params: dict[str, Any] = {"environment": env, "project": project} if info.scoped else {}
    if name is not None:
        data = _get_one(client, info, name, params)
        if output is not OutputFormat.table:
            print_data(data, output)
        elif info.plural == "plans":
            print_plan(data)
        else:
            print_object(data)
        return
    show_list(
        list_items(client, info.path, limit=limit, all_pages=all_pages, **params),
        info.columns,
        output,
    )


SECURITY_COLUMNS = ("resource", "default", "value", "enforcement")


def _shown(value: Any) -> str:
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, list):
        return ", ".join(str(v) for v in value) or "(none)"
    return str(value)


def security_rows(resources: list[Mapping[str, Any]]) -> list[dict[str, str]]:
    """Return one row per injected secure default: its value and how it is enforced."""
    rows = []
    for resource in resources:
        security = (resource.get("spec") or {}).get("security")
        if not isinstance(security, Mapping):
            continue
        enforcement = security.get("enforcement") or {}
        for key, how in enforcement.items():
            rows.append(
                {
                    "resource": str(resource.get("name")),
                    "default": str(key),
                    "value": _shown(security.get(key, "(not set)")),
                    "enforcement": str(how),
                }
            )
    return rows


def _print_description(data: Mapping[str, Any]) -> None:
    nested = {"resources", "events", "history", "document", "raw"}
    print_object({k: v for k, v in data.items() if k not in nested})
    resources = list(data.get("resources") or [])
    if resources:
        columns = ("name", "type", "phase", "healthy", "generation", "observed_generation")
        print_table(resources, (*columns, "message"), title="Resources")
        outputs = [
            {"resource": r.get("name"), "output": key, "value": value}
            for r in resources
            for key, value in (r.get("outputs") or {}).items()
        ]
        print_table(outputs, ("resource", "output", "value"), title="Outputs", empty="")
        print_table(security_rows(resources), SECURITY_COLUMNS, title="Security", empty="")
    if "events" in data:
        print_table(
            data["events"] or [],
            ("at", "resource", "reason", "message"),
            title="Events",
            empty="No events.",
        )
    if "history" in data:
        print_table(
            data["history"] or [],
            ("revision", "at", "actor", "action", "digest"),
            title="History",
            empty="No history.",
        )


@guarded
def describe(
    ctx: typer.Context,
    kind: KindArgument,
    name: Annotated[str, typer.Argument(help="Name (or digest) of the object.")],
    env: EnvOption = None,
    project: ProjectOption = None,
    output: OutputOption = OutputFormat.table,
) -> None:
    """Show one object in detail: status, resources with outputs, events and history.

    Examples:

      plinth describe workload web --env dev

      plinth describe plan 3f2a...e9
    """
    client = state_of(ctx).client()
    info = resolve_kind(kind)
    if info.scoped and not env:
        raise InvalidInput("--env is required, e.g. --env dev")
    params: dict[str, Any] = {"environment": env, "project": project} if info.scoped else {}
    if info.plural == "workloads":
        data = client.get(f"/workloads/{name}/describe", **params)
    else:
        data = _get_one(client, info, name, params)
    if output is not OutputFormat.table:
        print_data(data, output)
    elif info.plural == "plans":
        print_plan(data)
    else:
        _print_description(data)


@guarded
def logs(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="Workload name.")],
    env: EnvOption = None,
    project: ProjectOption = None,
    tail: Annotated[int, typer.Option("--tail", "-n", min=1, help="Last N lines.")] = 200,
    output: OutputOption = OutputFormat.table,
) -> None:
    """Print the last lines of a workload's logs.

    Example:

      plinth logs web --env dev --tail 50
    """
    if not env:
        raise InvalidInput("--env is required, e.g. --env dev")
    data = (
        state_of(ctx)
        .client()
        .get(f"/workloads/{name}/logs", environment=env, project=project, tail=tail)
    )
    if output is not OutputFormat.table:
        print_data(data, output)
        return
    for line in data.get("lines") or []:
        sys.stdout.write(f"{line}\n")


@guarded
def whoami(ctx: typer.Context, output: OutputOption = OutputFormat.table) -> None:
    """Show who the server thinks you are, and where the CLI connects.

    Example:

      plinth whoami
    """
    state = state_of(ctx)
    data = state.client().get("/whoami")
    if output is not OutputFormat.table:
        print_data(data, output)
        return
    config = state.config()
    roles = [
        f"{r.get('role')}@{r.get('team')}" if r.get("team") else str(r.get("role"))
        for r in data.get("roles") or []
    ]
    shown = {**{k: v for k, v in data.items() if k != "roles"}, "roles": roles}
    print_object({**shown, "server": config.url, "token from": config.token_source})


@guarded
def login(
    user: Annotated[str, typer.Argument(help="A user from the CLI config file.")],
) -> None:
    """Act as another user from the CLI config file from now on (alias: use).

    Example:

      plinth login pat
    """
    path = config_file_path(os.environ, cwd=Path.cwd(), home=Path.home())
    set_current_user(path, user)
    out_console().print(f"Now acting as {user} (saved in {path}).")


def _kind_name(client: PlinthClient, wanted: str) -> str:
    try:
        kinds = client.get("/kinds").get("items") or []
    except PlinthError:
        return wanted
    for item in kinds:
        names = {str(item.get("kind", "")).lower(), str(item.get("plural", "")).lower()}
        if wanted.lower() in names:
            return str(item["kind"])
    return wanted


@guarded
def schema(
    ctx: typer.Context,
    kind: Annotated[str, typer.Argument(help="A document kind, e.g. Workload or Template.")],
    output: Annotated[
        OutputFormat, typer.Option("--output", "-o", help="json (default) or yaml.")
    ] = OutputFormat.json,
) -> None:
    """Print the JSON Schema of a document kind.

    Example:

      plinth schema Workload > workload.schema.json
    """
    client = state_of(ctx).client()
    data = client.get(f"/schemas/{_kind_name(client, kind)}")
    print_data(data, OutputFormat.yaml if output is OutputFormat.yaml else OutputFormat.json)


def register(app: typer.Typer) -> None:
    """Add the read commands to the root app."""
    app.command("get")(get)
    app.command("describe")(describe)
    app.command("logs")(logs)
    app.command("whoami")(whoami)
    app.command("login")(login)
    app.command("use", help="Same as login: act as another user from the config file.")(login)
    app.command("schema")(schema)
