"""The teams' accelerator quotas as Kueue objects over HTTP: read-only, for any signed-in user."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from plinth.experience.api.deps import ActorDep, LimitDep, PlatformDep, TokenDep, paged
from plinth.orchestration.kueue_export import kueue_objects

__all__ = ["router"]

router = APIRouter(prefix="/api/v1", tags=["accelerators"])


@router.get("/accelerators/kueue")
def kueue_manifests(
    platform: PlatformDep,
    actor: ActorDep,
    limit: LimitDep = 50,
    page_token: TokenDep = None,
) -> dict[str, Any]:
    """ResourceFlavors, Cohorts, ClusterQueues and LocalQueues enforcing the team quotas."""
    with platform.db.read() as session:
        objects = kueue_objects(session, settings=platform.settings.provider_settings)
    return paged(objects, limit, page_token)
