"""``plinth import backstage`` and ``plinth export backstage``: the Backstage catalog.

The import reads ``catalog-info.yaml`` files here, checks every entity, maps
them to Plinth documents and sends them to the server's sync, which plans them
through the gates and applies them only when every plan may be applied. The
export reads the entities the server derives from live state.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer
import yaml

from plinth.capabilities.catalog.loader import load_documents
from plinth.core.errors import InvalidInput, Issue, SpecError
from plinth.experience.cli.context import OutputOption, guarded, state_of
from plinth.experience.cli.gitops import exit_for, export_app, print_report
from plinth.experience.cli.output import OutputFormat, out_console, print_data
from plinth.integration.importers.backstage import load_catalog
from plinth.integration.importers.backstage_export import dump_entities
from plinth.integration.importers.backstage_mapping import ImportPlan, to_plinth
from plinth.orchestration.gitops import StateDocument, dump_document, render_tree

__all__ = ["export_backstage", "import_app", "import_backstage", "register", "write_entities"]

import_app = typer.Typer(help="Import documents other tools write.", no_args_is_help=True)
LOCATION_FILE = "catalog-info.yaml"


def _read(name: str) -> tuple[str, str]:
    try:
        return name, Path(name).read_text(encoding="utf-8")
    except FileNotFoundError as exc:
        raise SpecError([Issue("file not found", "$", None, name)]) from exc
    except (OSError, UnicodeDecodeError) as exc:
        raise SpecError([Issue(f"cannot read file: {exc}", "$", None, name)]) from exc


def _score_reader(catalog_file: str, relative: str) -> str:
    return (Path(catalog_file).parent / relative).read_text(encoding="utf-8")


def _documents(plan: ImportPlan) -> list[StateDocument]:
    """Return the import's documents; Score workloads are checked here, naming their files."""
    docs = [StateDocument(d["kind"], d["metadata"]["name"], d) for d in plan.organisation]
    issues: list[Issue] = []
    for env, project, workload, source in plan.workloads:
        try:
            load_documents(dump_document(workload), file=source)
        except SpecError as exc:
            issues.extend(exc.issues)
            continue
        name = workload["metadata"]["name"]
        docs.append(StateDocument("Workload", name, workload, environment=env, project=project))
    if issues:
        raise SpecError(issues)
    return docs


@import_app.command("backstage")
@guarded
def import_backstage(
    ctx: typer.Context,
    files: Annotated[list[str], typer.Argument(help="catalog-info.yaml files (several allowed).")],
    env: Annotated[
        str, typer.Option("--env", "-e", help="Environment for Components with a Score file.")
    ] = "dev",
    project: Annotated[
        str | None,
        typer.Option("--project", "-p", help="Project for entities without spec.system."),
    ] = None,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Plan and show, apply nothing.")
    ] = False,
    output: OutputOption = OutputFormat.table,
) -> None:
    """Import a Backstage catalog: Groups become teams, Systems projects, Components services.

    Every entity is checked first (errors name file, document and field); then the
    documents are planned through the gates and applied only if every plan may be.

    Examples:

      plinth import backstage catalog-info.yaml --dry-run

      plinth import backstage teams.yaml systems.yaml --env staging -o json
    """
    catalog = load_catalog([_read(name) for name in files])
    plan = to_plinth(catalog, environment=env, read=_score_reader, default_project=project)
    body = {
        "files": render_tree(_documents(plan)),
        "source": "backstage",
        "dry_run": dry_run,
    }
    report: dict[str, Any] = state_of(ctx).client().post("/gitops/sync", body)
    report["imported"] = plan.summary()
    if output is OutputFormat.table:
        summary = plan.summary()
        out_console().print(
            f"Catalog: {len(summary['teams'])} team(s), {len(summary['projects'])} project(s), "
            f"{len(summary['workloads'])} workload(s)."
        )
        for note in summary["notes"]:
            out_console().print(f"Note: {note}")
    print_report(report, output)
    exit_for(report)


def _file_name(entity: dict[str, Any]) -> str:
    return f"{str(entity['kind']).lower()}-{entity['metadata']['name']}.yaml"


def write_entities(entities: list[dict[str, Any]], directory: Path) -> list[str]:
    """Write one file per entity and a Location listing them; remove files of gone entities."""
    directory.mkdir(parents=True, exist_ok=True)
    names = sorted(_file_name(e) for e in entities)
    marker = "# written by plinth export backstage\n"
    for old in directory.glob("*.yaml"):
        if old.name not in names and old.read_text(encoding="utf-8").startswith(marker):
            old.unlink()
    for entity in entities:
        text = yaml.safe_dump(entity, sort_keys=True, allow_unicode=True)
        (directory / _file_name(entity)).write_text(marker + text, encoding="utf-8")
    location = {
        "apiVersion": "backstage.io/v1alpha1",
        "kind": "Location",
        "metadata": {"name": "plinth"},
        "spec": {"type": "file", "targets": [f"./{n}" for n in names]},
    }
    (directory / LOCATION_FILE).write_text(
        marker + yaml.safe_dump(location, sort_keys=True), encoding="utf-8"
    )
    return names


@export_app.command("backstage")
@guarded
def export_backstage(
    ctx: typer.Context,
    out: Annotated[
        Path | None,
        typer.Option("--out", help="A .yaml file (all entities) or a directory (one file each)."),
    ] = None,
    output: OutputOption = OutputFormat.table,
) -> None:
    """Export live state as Backstage entities (Groups, Systems, Components, Resources...).

    Without --out the entities are printed as multi-document YAML (or JSON with -o json).
    A directory gets one file per entity plus catalog-info.yaml, a Location listing them;
    files of entities that no longer exist are removed.

    Examples:

      plinth export backstage > catalog-info.yaml

      plinth export backstage --out ./catalog
    """
    client = state_of(ctx).client()
    entities: list[dict[str, Any]] = []
    for page in client.pages("/backstage/entities", limit=500):
        entities.extend(page.get("items") or [])
    if out is None:
        if output is OutputFormat.table:
            typer.echo(dump_entities(entities), nl=False)
        else:
            print_data(entities, output)
        return
    if out.exists() and not out.is_dir() and out.suffix not in (".yaml", ".yml"):
        raise InvalidInput(f"{out} is a file that is not .yaml: give a .yaml file or a directory")
    try:
        if out.suffix in (".yaml", ".yml") and not out.is_dir():
            out.parent.mkdir(parents=True, exist_ok=True)
            out.write_text(dump_entities(entities), encoding="utf-8")
            written = [out.name]
        else:
            written = write_entities(entities, out)
    except OSError as exc:
        raise InvalidInput(f"cannot write {out}: {exc.strerror or exc}") from None
    result = {"out": str(out), "entities": len(entities), "files": written}
    if output is OutputFormat.table:
        out_console().print(f"Wrote {len(entities)} entities to {out}.")
    else:
        print_data(result, output)


def register(app: typer.Typer) -> None:
    """Add the ``import`` group (``import backstage``) to the root app."""
    app.add_typer(import_app, name="import")
