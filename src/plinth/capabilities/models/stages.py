"""Stages of model versions: promotions, the ``Model`` document, and what a plan deploys.

A ``Model`` document (``plinth.dev/v1``) declares its team, description and which
registered version holds each stage (``spec.stages: {production: "1.2.0"}``); applying it
through a plan moves the stages (``apply_model_document``). ``model_refs`` names every
version a plan deploys or promotes, for the ``policy`` gate (``default/signed_models``).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from plinth.capabilities.audit import service as audit
from plinth.capabilities.identity import service as identity
from plinth.capabilities.models.models import STAGES, ModelRow, ModelVersionRow
from plinth.capabilities.models.service import ensure_model, get_version
from plinth.core.clock import Clock
from plinth.core.errors import InvalidInput, NotFound

__all__ = [
    "DEPLOY_ACTIONS",
    "apply_model_document",
    "model_document_issues",
    "model_refs",
    "promote",
]

DEPLOY_ACTIONS = ("create", "update", "replace")


def _set_stage(session: Session, row: ModelVersionRow, stage: str) -> None:
    if stage != "none":
        for other in session.scalars(
            select(ModelVersionRow).where(
                ModelVersionRow.model == row.model,
                ModelVersionRow.stage == stage,
                ModelVersionRow.id != row.id,
            )
        ):
            other.stage = "none"
    row.stage = stage


def promote(
    session: Session, *, name: str, version: str, stage: str, actor: str, clock: Clock
) -> ModelVersionRow:
    """Put a version in a stage (the version that held it goes back to ``none``)."""
    if stage not in STAGES:
        raise InvalidInput(f"unknown stage {stage!r} (known: {', '.join(STAGES)})")
    row = get_version(session, name, version)
    _set_stage(session, row, stage)
    audit.append(
        session,
        actor=actor,
        action="model.version.promote",
        subject=f"model/{name}@{version}",
        data={"stage": stage},
        clock=clock,
    )
    return row


def model_document_issues(
    session: Session, body: Mapping[str, Any], *, teams: Iterable[str] = ()
) -> list[tuple[str, str]]:
    """Return ``(json path, message)`` problems of a Model document beyond its JSON Schema."""
    name = str((body.get("metadata") or {}).get("name", ""))
    spec = body.get("spec") or {}
    issues: list[tuple[str, str]] = []
    team = spec.get("team")
    row = session.get(ModelRow, name)
    if row is not None and team and team != row.team:
        issues.append(("$.spec.team", f"model {name} belongs to team {row.team}"))
    elif team and team not in set(teams) and not _team_exists(session, team):
        issues.append(("$.spec.team", f"no team named {team!r}"))
    stages: Mapping[str, str] = spec.get("stages") or {}
    seen: dict[str, str] = {}
    for stage, version in sorted(stages.items()):
        path = f"$.spec.stages.{stage}"
        if version in seen:
            issues.append((path, f"version {version} is already in stage {seen[version]}"))
        seen[version] = stage
        try:
            get_version(session, name, version)
        except NotFound:
            issues.append((path, f"model {name} has no registered version {version}"))
    return issues


def _team_exists(session: Session, team: str) -> bool:
    return identity.find_team(session, team) is not None


def apply_model_document(session: Session, body: Mapping[str, Any], *, clock: Clock) -> ModelRow:
    """Make the registry match an applied Model document: owner, description, stages."""
    name = str(body["metadata"]["name"])
    spec = body.get("spec") or {}
    row = session.get(ModelRow, name)
    if row is None:
        row = ensure_model(session, name, spec.get("team"), spec.get("project"), None, clock)
    row.team = spec.get("team") or row.team
    row.project = spec.get("project", row.project)
    row.description = spec.get("description", row.description) or ""
    row.updated_at = clock.now()
    stages: Mapping[str, str] = spec.get("stages") or {}
    for stage in STAGES[1:]:
        wanted = stages.get(stage)
        for held in session.scalars(
            select(ModelVersionRow).where(
                ModelVersionRow.model == name, ModelVersionRow.stage == stage
            )
        ):
            if held.version != wanted:
                held.stage = "none"
        if wanted is not None:
            _set_stage(session, get_version(session, name, wanted), stage)
    return row


def model_refs(changes: Iterable[Mapping[str, Any]]) -> list[str]:
    """Return the ``name@version`` a plan deploys or promotes (sorted, once each).

    A plan deploys a version through a ``model-deployment`` resource (``spec.model``)
    and promotes one through a ``Model`` document whose ``spec.stages`` gives a stage a
    version it did not hold before.
    """
    refs: set[str] = set()
    for change in changes:
        if change.get("action") not in DEPLOY_ACTIONS:
            continue
        after = change.get("after") or {}
        if change.get("kind") == "Resource" and change.get("type") == "model-deployment":
            if after.get("model"):
                refs.add(str(after["model"]))
        elif change.get("kind") == "Model":
            name = (after.get("metadata") or {}).get("name") or change.get("name")
            before = ((change.get("before") or {}).get("spec") or {}).get("stages") or {}
            for stage, version in ((after.get("spec") or {}).get("stages") or {}).items():
                if before.get(stage) != version:
                    refs.add(f"{name}@{version}")
    return sorted(refs)
