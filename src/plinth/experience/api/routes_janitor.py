"""The janitor and right-sizing agents over HTTP: thin adapters to ``platform.janitor``."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from pydantic import BaseModel, ConfigDict, Field

from plinth.experience.api.deps import ActorDep, LimitDep, TokenDep, paged, platform_part
from plinth.orchestration.janitor import Janitor

__all__ = ["router"]

router = APIRouter(prefix="/api/v1", tags=["janitor"])


def get_janitor(request: Request) -> Janitor:
    """Return the platform's janitor (``platform.janitor``)."""
    missing = "this server runs without the janitor agent"
    return platform_part(request, "janitor", Janitor, missing=missing)


JanitorDep = Annotated[Janitor, Depends(get_janitor)]


class RunBody(BaseModel):
    """Options of one janitor run."""

    model_config = ConfigDict(extra="forbid")
    dry_run: bool = Field(default=False, description="report what would happen, change nothing")


class UndoBody(BaseModel):
    """Where the workload to restore lives."""

    model_config = ConfigDict(extra="forbid")
    environment: str = Field(min_length=1, max_length=63)
    project: str | None = Field(default=None, max_length=63)


@router.get("/janitor/candidates")
def janitor_candidates(
    janitor: JanitorDep,
    actor: ActorDep,
    environment: str | None = None,
    project: str | None = None,
    limit: LimitDep = 50,
    page_token: TokenDep = None,
) -> dict[str, Any]:
    """Idle, expired and orphaned workloads, most expensive first, with their janitor case."""
    items = janitor.candidates(environment=environment, project=project)
    return paged(items, limit, page_token)


@router.post("/janitor/run")
def janitor_run(
    janitor: JanitorDep, actor: ActorDep, body: RunBody | None = None
) -> dict[str, Any]:
    """Take every candidate one due step further (platform engineers and the janitor agent)."""
    return janitor.run(actor, dry_run=body.dry_run if body else False)


@router.post("/janitor/{workload}/undo")
def janitor_undo(
    workload: str, body: UndoBody, janitor: JanitorDep, actor: ActorDep
) -> dict[str, Any]:
    """Remove the janitor's mark (and its stop) through a plan of the caller's own."""
    return janitor.undo(actor, workload, environment=body.environment, project=body.project)


@router.get("/rightsizing")
def rightsizing(
    janitor: JanitorDep,
    actor: ActorDep,
    environment: str | None = None,
    project: str | None = None,
    limit: LimitDep = 50,
    page_token: TokenDep = None,
) -> dict[str, Any]:
    """Right-sizing recommendations from usage history, biggest monthly savings first."""
    items = janitor.rightsizing(environment=environment, project=project)
    return paged(items, limit, page_token)
