"""Backstage over HTTP: live state as catalog entities, as JSON or as a catalog-info file."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import PlainTextResponse

from plinth.experience.api.deps import ActorDep, LimitDep, PlatformDep, TokenDep, paged
from plinth.integration.importers.backstage_export import dump_entities
from plinth.orchestration.backstage_live import backstage_entities

__all__ = ["router"]

router = APIRouter(prefix="/api/v1/backstage", tags=["backstage"])


def _location(request: Request) -> str:
    return str(request.url_for("backstage_catalog_info"))


@router.get("/entities")
def list_entities(
    request: Request,
    platform: PlatformDep,
    actor: ActorDep,
    limit: LimitDep = 500,
    page_token: TokenDep = None,
) -> dict[str, Any]:
    """Teams, their members, projects, workloads and resources as Backstage entities."""
    entities = backstage_entities(platform, location=_location(request))
    return paged(entities, limit, page_token)


@router.get(
    "/catalog-info.yaml",
    name="backstage_catalog_info",
    response_class=PlainTextResponse,
    responses={200: {"content": {"application/yaml": {}}}},
)
def catalog_info(request: Request, platform: PlatformDep, actor: ActorDep) -> PlainTextResponse:
    """Every entity as one multi-document YAML file (a Backstage URL location can read it)."""
    entities = backstage_entities(platform, location=_location(request))
    return PlainTextResponse(dump_entities(entities), media_type="application/yaml")
