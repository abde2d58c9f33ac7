"""Accelerator pools and the accelerator queue over HTTP: read-only, for any signed-in user."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query

from plinth.experience.api.deps import ActorDep, LimitDep, PlatformDep, TokenDep, paged

__all__ = ["router"]

router = APIRouter(prefix="/api/v1", tags=["accelerators"])

TeamQuery = Annotated[str | None, Query(max_length=63, description="only this team's requests")]


@router.get("/accelerators/pools")
def accelerator_pools(
    platform: PlatformDep,
    actor: ActorDep,
    limit: LimitDep = 50,
    page_token: TokenDep = None,
) -> dict[str, Any]:
    """Pools with their nodes, who holds which device, and each team's quota and use."""
    return paged(platform.gpus.pools(), limit, page_token)


@router.get("/accelerators/queue")
def accelerator_queue(
    platform: PlatformDep,
    actor: ActorDep,
    team: TeamQuery = None,
    limit: LimitDep = 50,
    page_token: TokenDep = None,
) -> dict[str, Any]:
    """Waiting requests in expected start order (position, expected start), then running work."""
    return paged(platform.gpus.queue(team=team), limit, page_token)
