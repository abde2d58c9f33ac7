"""Gather live state for the Backstage export (read only)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from plinth.capabilities.identity import models as identity_models
from plinth.capabilities.inventory.models import DocumentRecord, ResourceRecord
from plinth.integration.importers.backstage_export import LiveState, to_entities
from plinth.orchestration.platform import Platform

__all__ = ["backstage_entities", "live_state"]


def _documents(session: Session, kind: str) -> dict[tuple[str, str, str], DocumentRecord]:
    records = session.scalars(select(DocumentRecord).where(DocumentRecord.kind == kind))
    return {(r.environment, r.project, r.name): r for r in records}


def _metadata(record: DocumentRecord | None) -> dict[str, Any]:
    meta = (record.body or {}).get("metadata") if record is not None else None
    return meta if isinstance(meta, dict) else {}


def _members(session: Session) -> dict[str, set[str]]:
    """Return the names of the people holding a role in each team (by team id)."""
    rows = identity_models
    found: dict[str, set[str]] = {}
    query = (
        select(rows.Membership.team_id, rows.UserRow.name)
        .join(rows.UserRow, rows.UserRow.id == rows.Membership.user_id)
        .where(rows.Membership.team_id.is_not(None), rows.UserRow.kind == "human")
    )
    for team_id, user in session.execute(query):
        found.setdefault(str(team_id), set()).add(user)
    return found


def live_state(session: Session) -> LiveState:
    """Return teams (with their members), projects, workloads and resources as plain data."""
    rows = identity_models
    state = LiveState()
    teams = {t.id: t for t in session.scalars(select(rows.TeamRow).order_by(rows.TeamRow.name))}
    team_docs = _documents(session, "Team")
    people = _members(session)
    for team in teams.values():
        spec = (team_docs.get(("", "", team.name)) or DocumentRecord(body={})).body.get("spec")
        members = {m["user"] for m in (spec or {}).get("members", []) if isinstance(m, dict)}
        members |= people.get(team.id, set())
        state.teams.append(
            {"name": team.name, "description": team.description, "members": sorted(members)}
        )
    project_docs = _documents(session, "Project")
    for project in session.scalars(select(rows.ProjectRow).order_by(rows.ProjectRow.name)):
        meta = _metadata(project_docs.get(("", "", project.name)))
        owner = teams.get(project.team_id)
        state.projects.append(
            {
                "name": project.name,
                "team": owner.name if owner else "",
                "description": project.description,
                "labels": meta.get("labels") or {},
                "annotations": meta.get("annotations") or {},
            }
        )
    tiers = {e.name: e.tier for e in session.scalars(select(rows.EnvironmentRow))}
    ids = {
        (r.environment, r.project, r.name): r.id
        for r in session.scalars(select(ResourceRecord).where(ResourceRecord.deleting.is_(False)))
    }
    for (env, prj, name), record in sorted(_documents(session, "Workload").items()):
        state.workloads.append(
            {
                "name": name,
                "project": prj,
                "environment": env,
                "tier": tiers.get(env, "dev"),
                "annotations": _metadata(record).get("annotations") or {},
                "resource_id": ids.get((env, prj, name), ""),
            }
        )
    for resource in session.scalars(
        select(ResourceRecord).where(ResourceRecord.deleting.is_(False))
    ):
        users = [resource.workload] if resource.workload else list(resource.refs or [])
        state.resources.append(
            {
                "id": resource.id,
                "name": resource.name,
                "type": resource.type,
                "project": resource.project,
                "workloads": users,
            }
        )
    return state


def backstage_entities(platform: Platform, *, location: str) -> list[dict[str, Any]]:
    """Return live state as Backstage entities served from ``location``."""
    with platform.db.read() as session:
        state = live_state(session)
    return to_entities(state, location=location)
