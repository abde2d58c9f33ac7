"""Accelerator pools and the accelerator queue over HTTP: read-only, for any signed-in user."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query

from plinth.experience.api.deps import ActorDep, LimitDep, PlatformDep, TokenDep
from plinth.orchestration.gpu_views import pools_view, queue_view
from plinth.orchestration.janitor import page

__all__ = ["router"]

router = APIRouter(prefix="/api/v1", tags=["accelerators"])

TeamQuery = Annotated[str | None, Query(max_length=63, description="only this team's requests")]


def _page(items: list[Any], limit: int, page_token: str | None) -> dict[str, Any]:
    chunk, following = page(items, limit=limit, page_token=page_token)
    return {"items": chunk, "next_page_token": following}


@router.get("/accelerators/pools")
def accelerator_pools(
    platform: PlatformDep,
    actor: ActorDep,
    limit: LimitDep = 50,
    page_token: TokenDep = None,
) -> dict[str, Any]:
    """Pools with their nodes, who holds which device, and each team's quota and use."""
    with platform.db.read() as session:
        items = pools_view(session, platform.clock.now())
    return _page(items, limit, page_token)


@router.get("/accelerators/queue")
def accelerator_queue(
    platform: PlatformDep,
    actor: ActorDep,
    team: TeamQuery = None,
    limit: LimitDep = 50,
    page_token: TokenDep = None,
) -> dict[str, Any]:
    """Waiting requests in expected start order (position, expected start), then running work."""
    with platform.db.read() as session:
        items = queue_view(session, platform.clock.now(), team=team)
    return _page(items, limit, page_token)
