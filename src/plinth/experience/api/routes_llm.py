"""The AI gateway's administration over HTTP: virtual keys, usage, models, figures."""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query
from pydantic import BaseModel, ConfigDict, Field

from plinth.experience.api.deps import ActorDep, LimitDep, PlatformDep, TokenDep, paged

__all__ = ["router"]

router = APIRouter(prefix="/api/v1/llm", tags=["llm"])

TeamQuery = Annotated[str | None, Query(max_length=63, description="only this team")]
DaysQuery = Annotated[int, Query(ge=1, le=366, description="how many days back")]


class KeyBody(BaseModel):
    """A virtual key to create."""

    model_config = ConfigDict(extra="forbid")
    name: str = Field(min_length=1, max_length=100, description="what the key is for")
    team: str = Field(min_length=1, max_length=63, description="the team the key spends for")
    agent: str = Field(default="", max_length=100, description="the agent that uses it, if any")
    models: list[str] = Field(
        default_factory=list, max_length=100, description="a subset of the team's models (globs)"
    )
    budget: Decimal | None = Field(default=None, ge=0, description="the key's own budget")
    period: Literal["day", "month"] = Field(default="month", description="the budget's period")


@router.post("/keys", status_code=201)
def create_key(body: KeyBody, platform: PlatformDep, actor: ActorDep) -> dict[str, Any]:
    """Create a virtual key for a team or one of its agents (the key is shown once)."""
    return platform.llm.create_key(actor, **body.model_dump())


@router.get("/keys")
def list_keys(
    platform: PlatformDep,
    actor: ActorDep,
    team: TeamQuery = None,
    limit: LimitDep = 50,
    page_token: TokenDep = None,
) -> dict[str, Any]:
    """Keys of the caller's teams (every key for platform engineers); never their text."""
    return paged(platform.llm.list_keys(actor, team=team), limit, page_token)


@router.delete("/keys/{key_id}")
def revoke_key(key_id: str, platform: PlatformDep, actor: ActorDep) -> dict[str, Any]:
    """Revoke a key: the next request with it is refused."""
    return platform.llm.revoke_key(actor, key_id)


@router.get("/usage")
def usage(
    platform: PlatformDep,
    actor: ActorDep,
    team: TeamQuery = None,
    key: Annotated[str | None, Query(max_length=64, description="only this key's")] = None,
    days: DaysQuery = 30,
    limit: LimitDep = 50,
    page_token: TokenDep = None,
) -> dict[str, Any]:
    """Requests, tokens and cost per team, agent, model and outcome."""
    return paged(platform.llm.usage(actor, team=team, key=key, days=days), limit, page_token)


@router.get("/models")
def models(
    platform: PlatformDep, actor: ActorDep, limit: LimitDep = 50, page_token: TokenDep = None
) -> dict[str, Any]:
    """Served models with provider, prices per 1M tokens and the teams allowed them."""
    return paged(platform.llm.models(actor), limit, page_token)


@router.get("/stats")
def stats(platform: PlatformDep, actor: ActorDep, days: DaysQuery = 30) -> dict[str, Any]:
    """Spend by team and model, refused and blocked requests, redactions, budgets."""
    return platform.llm.stats(days=days)
