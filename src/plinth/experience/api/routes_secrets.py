"""Platform-generated secrets over HTTP: thin adapters to ``platform.secrets``.

Only metadata ever leaves: names, versions, ages and rotation times, never a value.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from pydantic import BaseModel, ConfigDict, Field

from plinth.experience.api.deps import ActorDep, LimitDep, TokenDep, paged, platform_part
from plinth.orchestration.secrets_service import SecretsService

__all__ = ["router"]

router = APIRouter(prefix="/api/v1", tags=["secrets"])


def get_secrets(request: Request) -> SecretsService:
    """Return the platform's secrets facade (``platform.secrets``)."""
    missing = "this server runs without platform-generated secrets"
    return platform_part(request, "secrets", SecretsService, missing=missing)


SecretsDep = Annotated[SecretsService, Depends(get_secrets)]


class RotateBody(BaseModel):
    """Where the secret to rotate lives."""

    model_config = ConfigDict(extra="forbid")
    environment: str = Field(min_length=1, max_length=63)
    project: str = Field(min_length=1, max_length=63)


@router.get("/secrets")
def list_secrets(
    secrets: SecretsDep,
    actor: ActorDep,
    environment: str | None = None,
    project: str | None = None,
    limit: LimitDep = 50,
    page_token: TokenDep = None,
) -> dict[str, Any]:
    """The secrets the caller may see: name, version, age, last and next rotation."""
    items = secrets.list(actor, environment=environment, project=project)
    return paged(items, limit, page_token)


@router.post("/secrets/{name}/rotate")
def rotate_secret(
    name: str, body: RotateBody, secrets: SecretsDep, actor: ActorDep
) -> dict[str, Any]:
    """Give a secret a new value now; the workloads using it restart with it (audited)."""
    return secrets.rotate(body.environment, body.project, name, actor)
