"""Applications: a use of a golden-path template, rendered into Score workloads.

A workload remembers the template version it came from. Planning an existing
application keeps that version unless the caller asks to upgrade (or pins a
different version), in which case the new version is merged three ways with
the user's overrides and conflicts are reported, never dropped.
"""

from __future__ import annotations

import copy
from dataclasses import asdict, dataclass, field, is_dataclass
from typing import Any

import yaml
from sqlalchemy.orm import Session

from plinth.capabilities.catalog.loader import load_documents
from plinth.capabilities.inventory import service as inventory
from plinth.capabilities.templates import TemplateVersion, latest, render, upgrade
from plinth.core.documents import Document
from plinth.core.errors import Issue, SpecError

__all__ = ["RenderedApplication", "render_application", "template_versions"]

TEMPLATE_ANNOTATION = "plinth.dev/template"
VERSION_ANNOTATION = "plinth.dev/template-version"
APPLICATION_ANNOTATION = "plinth.dev/application"


@dataclass
class RenderedApplication:
    """An application's stored body, its rendered workloads and what gates need."""

    body: dict[str, Any]
    workloads: list[Document]
    inputs: dict[str, Any] = field(default_factory=dict)
    violations: list[dict[str, Any]] = field(default_factory=list)
    conflicts: list[dict[str, Any]] = field(default_factory=list)


def template_versions(session: Session, name: str) -> list[TemplateVersion]:
    """Return every published version of a template."""
    return [
        TemplateVersion.from_document(r.body)
        for r in inventory.versions_of(session, kind="Template", name=name)
    ]


def _as_dict(item: Any) -> dict[str, Any]:
    if is_dataclass(item) and not isinstance(item, type):
        return asdict(item)
    return dict(item)


def _pick(doc: Document, versions: list[TemplateVersion], version: str | None) -> TemplateVersion:
    template = doc.spec["template"]
    if not versions:
        raise SpecError(
            [Issue(f"no template named {template!r}", "$.spec.template", doc.index, doc.file)]
        )
    if version is None:
        return latest(versions)
    for candidate in versions:
        if candidate.version == version:
            return candidate
    known = ", ".join(sorted(v.version for v in versions))
    raise SpecError(
        [
            Issue(
                f"template {template!r} has no version {version!r} (published: {known})",
                "$.spec.version",
                doc.index,
                doc.file,
            )
        ]
    )


def render_application(
    session: Session, doc: Document, *, environment: str, project: str, upgrade: bool
) -> RenderedApplication:
    """Render an Application document into workloads (upgrading when asked)."""
    spec = doc.spec
    versions = template_versions(session, spec["template"])
    if not versions:
        raise SpecError(
            [
                Issue(
                    f"no template named {spec['template']!r}",
                    "$.spec.template",
                    doc.index,
                    doc.file,
                )
            ]
        )
    stored = inventory.get_document(
        session, kind="Application", name=doc.name, environment=environment, project=project
    )
    recorded = stored.body.get("status", {}).get("templateVersion") if stored else None
    pinned = spec.get("version")
    if pinned is not None:
        target = _pick(doc, versions, pinned)
    elif recorded is not None and not upgrade:
        target = _pick(doc, versions, recorded)
    else:
        target = latest(versions)
    common: dict[str, Any] = {
        "app": doc.name,
        "environment": environment,
        "project": project,
        "parameters": dict(spec.get("parameters") or {}),
        "overrides": list(spec.get("overrides") or []),
    }
    result = RenderedApplication(body={}, workloads=[])
    if recorded is not None and recorded != target.version:
        old = _pick(doc, versions, recorded)
        merged = upgrade_fn(old, target, **common)
        workloads, parameters = merged.workloads, merged.parameters
        result.conflicts = [_as_dict(c) | {"application": doc.name} for c in merged.conflicts]
        violations = merged.violations
    else:
        rendering = render(target, **common)
        workloads, parameters, violations = (
            rendering.workloads,
            rendering.parameters,
            rendering.violations,
        )
    result.violations = [_as_dict(v) | {"application": doc.name} for v in violations]
    body = copy.deepcopy(doc.raw)
    body["status"] = {
        "template": target.name,
        "templateVersion": target.version,
        "parameters": parameters,
    }
    result.body = body
    result.inputs[f"tpl:{target.name}@{target.version}"] = target.version
    result.workloads = _as_documents(doc, workloads, target)
    return result


upgrade_fn = upgrade


def _as_documents(
    doc: Document, workloads: list[dict[str, Any]], target: TemplateVersion
) -> list[Document]:
    annotated = []
    for workload in workloads:
        item = copy.deepcopy(workload)
        annotations = item.setdefault("metadata", {}).setdefault("annotations", {})
        annotations[TEMPLATE_ANNOTATION] = target.name
        annotations[VERSION_ANNOTATION] = target.version
        annotations[APPLICATION_ANNOTATION] = doc.name
        annotated.append(item)
    origin = f"application {doc.name}, template {target.name}@{target.version}"
    source = f"{doc.file or 'request'}#{doc.index} ({origin})"
    text = yaml.safe_dump_all(annotated, sort_keys=False)
    return load_documents(text, file=source)
