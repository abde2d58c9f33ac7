"""``plinth kueue render``: the teams' accelerator quotas as Kueue objects (a client of the API)."""

from __future__ import annotations

import json
import sys
from typing import Any

import typer
import yaml

from plinth.experience.cli.context import OutputOption, guarded, state_of
from plinth.experience.cli.output import OutputFormat, print_table
from plinth.experience.cli.read import list_items

__all__ = ["kueue_app"]

kueue_app = typer.Typer(
    help=(
        "Kueue: the teams' accelerator quotas (AcceleratorPool queues) as Kueue "
        "ResourceFlavors, Cohorts, ClusterQueues and LocalQueues, so that a cluster "
        "enforces the quotas Plinth plans with."
    ),
    no_args_is_help=True,
)

_COLUMNS = ("kind", "name", "namespace", "detail")


def _detail(item: dict[str, Any]) -> str:
    spec = item.get("spec") or {}
    if item["kind"] == "ClusterQueue":
        return f"cohort {spec.get('cohortName')}"
    if item["kind"] == "LocalQueue":
        return f"-> {spec.get('clusterQueue')}"
    labels = spec.get("nodeLabels") or {}
    return ", ".join(f"{k}={v}" for k, v in labels.items())


@kueue_app.command("render")
@guarded
def render(ctx: typer.Context, output: OutputOption = OutputFormat.table) -> None:
    """Print the Kueue objects that enforce the teams' quotas in a cluster.

    -o yaml prints a multi-document YAML stream and -o json a v1 List, both ready
    for kubectl apply -f -. The table lists the objects. Namespaces follow the
    kubernetes provider's settings (one per project and environment). Configure
    Kueue to ignore CPU and memory: only accelerators are quota'd.

    Examples:

      plinth kueue render

      plinth kueue render -o yaml | kubectl apply -f -
    """
    data = list_items(state_of(ctx).client(), "/accelerators/kueue", limit=500, all_pages=True)
    items: list[dict[str, Any]] = list(data.get("items") or [])
    if output is OutputFormat.yaml:
        sys.stdout.write(yaml.safe_dump_all(items, sort_keys=False, allow_unicode=True))
    elif output is OutputFormat.json:
        listed = {"apiVersion": "v1", "kind": "List", "items": items}
        sys.stdout.write(json.dumps(listed, indent=2, ensure_ascii=False) + "\n")
    else:
        rows = [
            {
                "kind": item["kind"],
                "name": item["metadata"]["name"],
                "namespace": item["metadata"].get("namespace", ""),
                "detail": _detail(item),
            }
            for item in items
        ]
        print_table(rows, _COLUMNS, empty="No AcceleratorPool declares a team queue.")
    sys.stdout.flush()
