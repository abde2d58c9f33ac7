"""``plinth templates``: the golden paths on offer, their parameters and bounds."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Any

import typer

from plinth.experience.cli.context import AllOption, LimitOption, OutputOption, guarded, state_of
from plinth.experience.cli.kinds import resolve_kind
from plinth.experience.cli.output import OutputFormat, print_data, print_object, print_table
from plinth.experience.cli.read import list_items, show_list

__all__ = ["parameter_rows", "templates_app"]

templates_app = typer.Typer(
    help="Browse templates: versioned golden paths with parameters and bounds.",
    no_args_is_help=True,
)
_CONSTRAINTS = ("enum", "minimum", "maximum", "minLength", "maxLength", "pattern", "format")


def parameter_rows(schema: Mapping[str, Any]) -> list[dict[str, Any]]:
    """Return one row per parameter of a JSON Schema: name, type, default, required, rules."""
    required = set(schema.get("required") or [])
    rows = []
    for name, prop in (schema.get("properties") or {}).items():
        spec = prop if isinstance(prop, Mapping) else {}
        rules = {key: spec[key] for key in _CONSTRAINTS if key in spec}
        rows.append(
            {
                "parameter": name,
                "type": spec.get("type", "any"),
                "default": spec.get("default"),
                "required": name in required,
                "constraints": rules or None,
                "description": spec.get("description"),
            }
        )
    return rows


@templates_app.command("list")
@guarded
def list_templates(
    ctx: typer.Context,
    output: OutputOption = OutputFormat.table,
    limit: LimitOption = 50,
    all_pages: AllOption = False,
) -> None:
    """List templates with their versions.

    Example:

      plinth templates list
    """
    info = resolve_kind("templates")
    client = state_of(ctx).client()
    show_list(list_items(client, info.path, limit=limit, all_pages=all_pages), info.columns, output)


@templates_app.command("show")
@guarded
def show_template(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="Template name.")],
    version: Annotated[
        str | None, typer.Option("--version", "-v", help="Version; latest when left out.")
    ] = None,
    output: OutputOption = OutputFormat.table,
) -> None:
    """Show a template: its parameters (as a table) and the bounds for overrides.

    Examples:

      plinth templates show web-service

      plinth templates show web-service --version 1.0.0 -o yaml
    """
    data = state_of(ctx).client().get(f"/templates/{name}", version=version)
    if output is not OutputFormat.table:
        print_data(data, output)
        return
    workloads = data.get("workloads") or []
    names = [_workload_name(w) for w in workloads]
    print_object(
        {
            "name": data.get("name"),
            "version": data.get("version"),
            "description": data.get("description"),
            "workloads": names,
        }
    )
    columns = ("parameter", "type", "default", "required", "constraints", "description")
    rows = parameter_rows(data.get("parameters_schema") or {})
    print_table(rows, columns, title="Parameters", empty="No parameters.")
    bounds = [_bound_row(b) for b in data.get("bounds") or [] if isinstance(b, Mapping)]
    bound_columns = ("path", "workload", "bound", "description")
    print_table(bounds, bound_columns, title="Bounds", empty="No override bounds.")


def _workload_name(workload: Any) -> str:
    """Return a template workload's (unrendered) name, from its Score metadata."""
    if not isinstance(workload, Mapping):
        return str(workload)
    metadata = workload.get("metadata")
    name = metadata.get("name") if isinstance(metadata, Mapping) else workload.get("name")
    return str(name) if name is not None else "?"


def _bound_row(bound: Mapping[str, Any]) -> dict[str, Any]:
    """Return one override bound as a table row: path, workload, limits, description."""
    if bound.get("any"):
        limit = "any value"
    elif bound.get("enum") is not None:
        limit = "one of " + ", ".join(str(v) for v in bound["enum"])
    else:
        low, high = bound.get("min"), bound.get("max")
        limit = f"{'' if low is None else low}..{'' if high is None else high}"
    return {
        "path": bound.get("path"),
        "workload": bound.get("workload") or "all",
        "bound": limit,
        "description": bound.get("description"),
    }
