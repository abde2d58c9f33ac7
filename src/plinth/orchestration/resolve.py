"""What the planner fills into resource specs from the platform's own records.

- ``model-deployment`` resources name a model version (``model: name@version``); the
  planner adds the artifact's place in the content-addressed store and its registered
  digest, so the provider serves exactly the registered bytes (and refuses others).
- Workloads that run an agent carry the annotation ``plinth.dev/agent: <agent>``; the
  planner gives their processes the agent's egress allow-list (``security.egress``),
  which the local provider enforces with a network namespace (docs/egress.md).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from sqlalchemy.orm import Session

from plinth.capabilities.agents import service as agents
from plinth.capabilities.models.models import ModelVersionRow
from plinth.core.documents import Document, ResourceSpec, parse_provenance
from plinth.core.errors import Issue, SpecError

__all__ = ["AGENT_ANNOTATION", "resolve_specs"]

AGENT_ANNOTATION = "plinth.dev/agent"
_PROCESS_TYPES = ("service", "job")
_FORMATS = ("sklearn", "onnx", "embeddings")


def _issue(spec: ResourceSpec, message: str, where: str) -> Issue:
    file, document, path = parse_provenance(spec.source)
    return Issue(message, f"$.{path}.{where}" if path else f"$.{where}", document, file)


def _model(session: Session, spec: ResourceSpec) -> tuple[dict[str, Any], list[Issue]]:
    ref = str(spec.spec.get("model", ""))
    name, _, version = ref.partition("@")
    if not name or not version:
        return spec.spec, [_issue(spec, f"model {ref!r} must be written name@version", "model")]
    row = (
        session.query(ModelVersionRow)
        .filter(ModelVersionRow.model == name, ModelVersionRow.version == version)
        .one_or_none()
    )
    if row is None:
        message = f"model {name} has no registered version {version}: register it first"
        return spec.spec, [_issue(spec, message, "model")]
    fmt = str(spec.spec.get("format") or _guess_format(Path(row.artifact_uri)))
    if fmt not in _FORMATS:
        message = f"format {fmt!r} is not served: use one of {', '.join(_FORMATS)}"
        return spec.spec, [_issue(spec, message, "format")]
    artifact = {"path": row.artifact_uri, "digest": row.digest}
    return spec.spec | {"artifact": artifact, "format": fmt}, []


def _guess_format(path: Path) -> str:
    if path.is_dir():
        return "embeddings"
    return "onnx" if path.suffix == ".onnx" else "sklearn"


def _agent_egress(
    session: Session, workloads: Sequence[Document]
) -> tuple[dict[str, list[str]], list[Issue]]:
    """Return the egress allow-list of every agent workload, by workload name."""
    found: dict[str, list[str]] = {}
    issues: list[Issue] = []
    for doc in workloads:
        name = doc.annotations.get(AGENT_ANNOTATION)
        if not name:
            continue
        row = agents.get_agent(session, name)
        if row is None:
            path = f"$.metadata.annotations['{AGENT_ANNOTATION}']"
            issues.append(Issue(f"no agent named {name!r}", path, doc.index, doc.file))
            continue
        found[doc.name] = list(agents.agent_spec(row).egress)
    return found, issues


def resolve_specs(
    session: Session, specs: list[ResourceSpec], workloads: Sequence[Document]
) -> list[ResourceSpec]:
    """Return the specs with model artifacts and agent egress filled in; raise SpecError."""
    egress, issues = _agent_egress(session, workloads)
    resolved: list[ResourceSpec] = []
    for spec in specs:
        body = spec.spec
        if spec.type == "model-deployment":
            body, problems = _model(session, spec)
            issues.extend(problems)
        elif spec.type in _PROCESS_TYPES and spec.workload in egress:
            body = body | {"egress": {"allow": egress[spec.workload]}}
        resolved.append(dataclasses.replace(spec, spec=body) if body is not spec.spec else spec)
    if issues:
        raise SpecError(issues)
    return resolved
