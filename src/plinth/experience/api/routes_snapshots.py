"""Snapshots and backups over HTTP: thin adapters to ``platform.snapshots``."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from pydantic import BaseModel, ConfigDict, Field

from plinth.experience.api.deps import ActorDep, LimitDep, TokenDep, platform_part
from plinth.orchestration.snapshots import SnapshotService

__all__ = ["router"]

router = APIRouter(prefix="/api/v1", tags=["snapshots"])


def get_snapshots(request: Request) -> SnapshotService:
    """Return the platform's snapshots facade (``platform.snapshots``)."""
    missing = "this server runs without snapshots"
    return platform_part(request, "snapshots", SnapshotService, missing=missing)


SnapshotsDep = Annotated[SnapshotService, Depends(get_snapshots)]


class CreateBody(BaseModel):
    """The resource to snapshot and why."""

    model_config = ConfigDict(extra="forbid")
    resource: str = Field(min_length=1, max_length=253)
    environment: str = Field(min_length=1, max_length=63)
    project: str | None = Field(default=None, min_length=1, max_length=63)
    note: str = Field(default="", max_length=2000)


@router.post("/snapshots", status_code=201)
def create_snapshot(body: CreateBody, snapshots: SnapshotsDep, actor: ActorDep) -> dict[str, Any]:
    """Snapshot a volume, a VM's disks or a database (a pg_dump backup) now (audited)."""
    return snapshots.create(
        actor,
        resource=body.resource,
        environment=body.environment,
        project=body.project,
        note=body.note,
    )


@router.get("/snapshots")
def list_snapshots(
    snapshots: SnapshotsDep,
    actor: ActorDep,
    environment: str | None = None,
    project: str | None = None,
    resource: str | None = None,
    limit: LimitDep = 50,
    page_token: TokenDep = None,
) -> dict[str, Any]:
    """A page of snapshots, oldest first; filter by environment, project or resource name."""
    page = snapshots.list(
        environment=environment,
        project=project,
        resource=resource,
        limit=limit,
        page_token=page_token,
    )
    return {"items": page.items, "next_page_token": page.next_page_token}


@router.get("/snapshots/{snapshot_id}")
def get_snapshot(snapshot_id: str, snapshots: SnapshotsDep, actor: ActorDep) -> dict[str, Any]:
    """One snapshot: its resource, kind, size, status, consistency and note."""
    return snapshots.get(snapshot_id)


@router.post("/snapshots/{snapshot_id}/restore")
def restore_snapshot(snapshot_id: str, snapshots: SnapshotsDep, actor: ActorDep) -> dict[str, Any]:
    """Put a snapshot back in place of its resource's data; the resource is reconciled."""
    return snapshots.restore(actor, snapshot_id)
