"""DORA telemetry over HTTP: the four keys per team and environment, a weekly series, commits."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query
from pydantic import BaseModel, Field

from plinth.experience.api.deps import ActorDep, PlatformDep

__all__ = ["router"]

router = APIRouter(prefix="/api/v1", tags=["dora"])

TeamQuery = Annotated[str | None, Query(max_length=63, description="only this team's deployments")]
EnvQuery = Annotated[
    str | None, Query(max_length=63, description="only deployments to this environment")
]


class CommitBody(BaseModel):
    """The commit a plan deploys, as CI knows it."""

    plan: str = Field(min_length=64, max_length=64, description="the plan's digest")
    sha: str = Field(min_length=7, max_length=64, description="the commit's hash")
    time: str = Field(max_length=64, description="the commit's time, RFC 3339 with a zone")


@router.get("/dora")
def dora_metrics(
    platform: PlatformDep,
    actor: ActorDep,
    team: TeamQuery = None,
    environment: EnvQuery = None,
    window_days: Annotated[int, Query(ge=1, le=366, description="the window, in days")] = 30,
) -> dict[str, Any]:
    """Deployment frequency, lead time, change failure rate, time to restore, with DORA bands."""
    return platform.dora.metrics(team=team, environment=environment, window_days=window_days)


@router.get("/dora/series")
def dora_series(
    platform: PlatformDep,
    actor: ActorDep,
    team: TeamQuery = None,
    environment: EnvQuery = None,
    weeks: Annotated[int, Query(ge=1, le=104, description="how many weeks")] = 12,
) -> dict[str, Any]:
    """One point per week (Monday-aligned, oldest first; the last is the current week)."""
    points = platform.dora.series(team=team, weeks=weeks, environment=environment)
    return {"team": team, "environment": environment, "weeks": weeks, "items": points}


@router.post("/dora/commits", status_code=201)
def dora_commit(platform: PlatformDep, actor: ActorDep, body: CommitBody) -> dict[str, Any]:
    """Name the commit a plan deploys (CI calls this before applying); recorded on the chain."""
    return platform.dora.record_commit(actor, body.plan, sha=body.sha, time=body.time)
