"""Desired state as files: the layout of a GitOps repository, and syncing one into Plinth.

Layout (one document per file, keys sorted, see docs/gitops.md)::

    <plural>/<name>.yaml                          organisation documents (teams, projects, ...)
    <plural>/<name>@<label>.yaml                  versioned ones (templates, policies)
    environments/<env>/<project>/<plural>/<name>.yaml   workloads and applications

Secret values are never part of desired state (documents hold references only),
so an export never holds one. A sync validates every file first, plans every
batch through the gates, and applies only when every plan may be applied.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import yaml
from sqlalchemy import select
from sqlalchemy.orm import Session

from plinth.capabilities.catalog.kinds import PLINTH_API_VERSION, find_kind, kinds
from plinth.capabilities.catalog.loader import load_documents
from plinth.capabilities.identity import models as identity_models
from plinth.capabilities.inventory.models import DocumentRecord
from plinth.capabilities.policy.exceptions import parse_expiry
from plinth.core.documents import Document
from plinth.core.errors import Issue, SpecError

__all__ = [
    "SCOPED_KINDS",
    "StateDocument",
    "TreeBatches",
    "TreeFile",
    "desired_state",
    "dump_document",
    "is_hidden",
    "path_of",
    "read_tree",
    "render_tree",
]

SCOPED_KINDS = ("Workload", "Application")
_ORDER = ("Environment", "Team", "Project")


@dataclass(frozen=True)
class StateDocument:
    """One document of desired state and where it lives."""

    kind: str
    name: str
    body: dict[str, Any]
    environment: str = ""
    project: str = ""
    label: str = ""

    def as_dict(self) -> dict[str, Any]:
        """Return the document as JSON data."""
        return {
            "kind": self.kind,
            "name": self.name,
            "environment": self.environment,
            "project": self.project,
            "label": self.label,
            "body": self.body,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> StateDocument:
        """Return the document of ``as_dict`` data."""
        return cls(
            kind=str(data["kind"]),
            name=str(data["name"]),
            body=dict(data["body"]),
            environment=str(data.get("environment") or ""),
            project=str(data.get("project") or ""),
            label=str(data.get("label") or ""),
        )


def _org_body(kind: str, name: str, spec: dict[str, Any]) -> dict[str, Any]:
    return {
        "apiVersion": PLINTH_API_VERSION,
        "kind": kind,
        "metadata": {"name": name},
        "spec": {k: v for k, v in spec.items() if v not in ("", None)},
    }


def _identity_documents(session: Session, stored: set[tuple[str, str]]) -> list[StateDocument]:
    """Teams, projects and environments that exist only as rows (e.g. seeded): as documents."""
    rows = identity_models
    team_rows = list(session.scalars(select(rows.TeamRow)))
    teams = {t.id: t.name for t in team_rows}
    specs: list[tuple[str, str, dict[str, Any]]] = []
    for env in session.scalars(select(rows.EnvironmentRow)):
        spec = {"description": env.description, "tier": env.tier, "protected": env.protected}
        specs.append(("Environment", env.name, {**spec, "region": env.region}))
    specs.extend(("Team", t.name, {"description": t.description}) for t in team_rows)
    for project in session.scalars(select(rows.ProjectRow)):
        spec = {"team": teams.get(project.team_id, ""), "description": project.description}
        specs.append(("Project", project.name, spec))
    return [
        StateDocument(kind, name, _org_body(kind, name, spec))
        for kind, name, spec in specs
        if (kind, name) not in stored
    ]


def _expired(record: DocumentRecord, now: datetime) -> bool:
    """Return whether a PolicyException has expired (it no longer has any effect)."""
    if record.kind != "PolicyException":
        return False
    expires = parse_expiry(((record.body or {}).get("spec") or {}).get("expires"))
    return expires is not None and expires <= now


def desired_state(session: Session, *, now: datetime | None = None) -> list[StateDocument]:
    """Return every document of desired state, sorted.

    Left out: workloads rendered from an Application (the Application is there) and
    expired policy exceptions (they have no effect, and could not be applied again).
    """
    moment = now or datetime.now(UTC)
    found: list[StateDocument] = []
    for record in session.scalars(select(DocumentRecord)):
        if (record.kind == "Workload" and record.owner) or _expired(record, moment):
            continue
        found.append(
            StateDocument(
                kind=record.kind,
                name=record.name,
                body=record.body,
                environment=record.environment,
                project=record.project,
                label=record.label,
            )
        )
    stored = {(d.kind, d.name) for d in found if not d.environment}
    found.extend(_identity_documents(session, stored))
    return sorted(found, key=path_of)


def path_of(doc: StateDocument) -> str:
    """Return the file path of a document in the repository layout."""
    info = find_kind(doc.kind)
    plural = info.plural if info else doc.kind.lower() + "s"
    stem = f"{doc.name}@{doc.label}" if doc.label else doc.name
    if doc.environment or doc.kind in SCOPED_KINDS:
        return f"environments/{doc.environment}/{doc.project}/{plural}/{stem}.yaml"
    return f"{plural}/{stem}.yaml"


def dump_document(body: Mapping[str, Any]) -> str:
    """Return one document as YAML with sorted keys (stable, reviewable diffs)."""
    return yaml.safe_dump(dict(body), sort_keys=True, allow_unicode=True, default_flow_style=False)


def render_tree(docs: list[StateDocument]) -> dict[str, str]:
    """Return ``{path: YAML}`` for the documents, one file per document."""
    return {path_of(doc): dump_document(doc.body) for doc in docs}


@dataclass(frozen=True)
class TreeFile:
    """One valid file of a repository: its text and the ``(kind, name)`` of each document."""

    path: str
    text: str
    keys: tuple[tuple[str, str], ...]


@dataclass
class TreeBatches:
    """A repository's files, split into what one plan each can carry.

    Organisation files come in rounds: a round never holds two documents of the same
    kind and name (several versions of one template are planned one round each).
    """

    organisation: list[list[TreeFile]] = field(default_factory=list)
    scoped: dict[tuple[str, str], list[TreeFile]] = field(default_factory=dict)

    def keys(self) -> set[tuple[str, str, str, str]]:
        """Return ``(kind, environment, project, name)`` of every scoped document."""
        return {
            (kind, env, project, name)
            for (env, project), files in self.scoped.items()
            for file in files
            for kind, name in file.keys
        }


_PLURALS = {k.plural: k.kind for k in kinds()}


def _placement(path: str) -> tuple[str, str, str] | None:
    """Return ``(plural, environment, project)`` of a path in the layout, or None."""
    parts = path.split("/")
    if len(parts) == 5 and parts[0] == "environments":
        return parts[3], parts[1], parts[2]
    if len(parts) == 2:
        return parts[0], "", ""
    return None


def _check_file(path: str, text: str) -> tuple[tuple[str, str] | None, list[Document], list[Issue]]:
    """Validate one file; return its ``(environment, project)`` (``("", "")``: organisation)."""
    placement = _placement(path)
    if placement is None:
        message = "not in the layout: <plural>/<name>.yaml or environments/<env>/<project>/..."
        return None, [], [Issue(message, "$", None, path)]
    plural, env, project = placement
    try:
        docs = load_documents(text, file=path)
    except SpecError as exc:
        return None, [], list(exc.issues)
    issues: list[Issue] = []
    for doc in docs:
        scoped = doc.kind in SCOPED_KINDS
        if _PLURALS.get(plural) != doc.kind:
            issues.append(
                Issue(f"a {doc.kind} does not belong in {plural}/", "$.kind", doc.index, path)
            )
        elif scoped != bool(env):
            where = "environments/<env>/<project>/" if scoped else "the top level"
            issues.append(Issue(f"a {doc.kind} belongs under {where}", "$.kind", doc.index, path))
    return (env, project), docs, issues


def is_hidden(path: str) -> bool:
    """True for a path under a hidden folder or of a hidden file (``.github/...``): not state."""
    return any(part.startswith(".") for part in path.split("/"))


def _rank(file: TreeFile) -> tuple[int, str]:
    kind = file.keys[0][0] if file.keys else ""
    return (_ORDER.index(kind) if kind in _ORDER else len(_ORDER), file.path)


def _add_scoped(
    batches: TreeBatches, scope: tuple[str, str], file: TreeFile, seen: dict[Any, str]
) -> list[Issue]:
    issues = []
    for index, (kind, name) in enumerate(file.keys):
        first = seen.setdefault((scope, kind, name), file.path)
        if first != file.path:
            message = f"{kind} {name!r} is also defined in {first}"
            issues.append(Issue(message, "$.metadata.name", index, file.path))
    batches.scoped.setdefault(scope, []).append(file)
    return issues


def _rounds(files: list[TreeFile]) -> list[list[TreeFile]]:
    rounds: list[list[TreeFile]] = []
    taken: list[set[tuple[str, str]]] = []
    for file in sorted(files, key=_rank):
        at = next((i for i, keys in enumerate(taken) if not keys & set(file.keys)), len(rounds))
        if at == len(rounds):
            rounds.append([])
            taken.append(set())
        rounds[at].append(file)
        taken[at].update(file.keys)
    return rounds


def read_tree(files: Mapping[str, str]) -> TreeBatches:
    """Validate every ``.yaml`` file of a repository; raise one ``SpecError`` naming all issues."""
    batches = TreeBatches()
    organisation: list[TreeFile] = []
    issues: list[Issue] = []
    seen: dict[Any, str] = {}
    for path in sorted(files):
        if not path.endswith((".yaml", ".yml")) or is_hidden(path):
            continue
        scope, docs, found = _check_file(path, files[path])
        issues.extend(found)
        if scope is None or found:
            continue
        file = TreeFile(path, files[path], tuple((d.kind, d.name) for d in docs))
        if scope == ("", ""):
            organisation.append(file)
        else:
            issues.extend(_add_scoped(batches, scope, file, seen))
    if issues:
        raise SpecError(issues)
    batches.organisation = _rounds(organisation)
    return batches
