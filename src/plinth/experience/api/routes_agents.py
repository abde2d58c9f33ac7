"""Agents over HTTP: who they are, and their short-lived signed tokens."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from pydantic import BaseModel, ConfigDict, Field

from plinth.experience.api.deps import ActorDep, LimitDep, PlatformDep, TokenDep

__all__ = ["router"]

router = APIRouter(prefix="/api/v1", tags=["agents"])


class TokenBody(BaseModel):
    """What token to issue."""

    model_config = ConfigDict(extra="forbid")
    audience: str = Field(
        default="plinth-mcp",
        description="where the token is valid: plinth-api, plinth-mcp or plinth-gateway",
    )
    ttl_seconds: int | None = Field(
        default=None, ge=60, le=86_400, description="lifetime; default the agent's own"
    )


class RevokeBody(BaseModel):
    """Which token to revoke (all of the agent's when ``jti`` is absent)."""

    model_config = ConfigDict(extra="forbid")
    jti: str | None = Field(default=None, min_length=1, max_length=100)


@router.get("/agents")
def list_agents(
    platform: PlatformDep, actor: ActorDep, limit: LimitDep = 50, page_token: TokenDep = None
) -> dict[str, Any]:
    """Registered agents with their owner team and autonomy envelope."""
    items, following = platform.agents.page(limit=limit, page_token=page_token)
    return {"items": items, "next_page_token": following}


@router.get("/agents/{name}")
def get_agent(name: str, platform: PlatformDep, actor: ActorDep) -> dict[str, Any]:
    """One agent: its seven declared concerns and its envelope."""
    return platform.agents.get(name)


@router.get("/agents/{name}/tokens")
def agent_tokens(name: str, platform: PlatformDep, actor: ActorDep) -> dict[str, Any]:
    """The tokens issued to an agent (never their text)."""
    return {"items": platform.agents.tokens(actor, name), "next_page_token": None}


@router.post("/agents/{name}/tokens", status_code=201)
def issue_agent_token(
    name: str, platform: PlatformDep, actor: ActorDep, body: TokenBody | None = None
) -> dict[str, Any]:
    """Issue a signed, audience-bound, short-lived token (shown once)."""
    body = body or TokenBody()
    return platform.agents.issue(actor, name, audience=body.audience, ttl_seconds=body.ttl_seconds)


@router.post("/agents/{name}/tokens/revoke")
def revoke_agent_tokens(
    name: str, platform: PlatformDep, actor: ActorDep, body: RevokeBody | None = None
) -> dict[str, Any]:
    """Revoke one token or every token of an agent; the next request is refused."""
    return platform.agents.revoke(actor, name, jti=body.jti if body else None)


@router.post("/agents/keys/rotate")
def rotate_agent_keys(platform: PlatformDep, actor: ActorDep) -> dict[str, Any]:
    """Sign new agent tokens with a fresh key; old tokens stay valid until they expire."""
    return platform.agents.rotate(actor)
