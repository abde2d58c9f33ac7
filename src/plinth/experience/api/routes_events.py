"""``/api/v1/webhooks``: webhook subscriptions and their deliveries (platform engineers)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Query
from pydantic import BaseModel, ConfigDict, Field

from plinth.experience.api.deps import ActorDep, LimitDep, PlatformDep, TokenDep
from plinth.orchestration.events import Subscription

__all__ = ["SubscriptionBody", "router"]

router = APIRouter(prefix="/api/v1/webhooks", tags=["events"])


class SubscriptionBody(BaseModel):
    """A webhook to add: where events go and which types it wants."""

    model_config = ConfigDict(extra="forbid")
    url: str = Field(min_length=1, max_length=2000, description="http(s) URL that receives POSTs")
    types: list[str] = Field(
        default_factory=lambda: ["*"],
        max_length=50,
        description="event type globs, e.g. dev.plinth.plan.* (default: every event)",
    )
    description: str = Field(default="", max_length=500)
    max_attempts: int = Field(default=8, ge=1, le=50, description="attempts before dead letter")


@router.post("", status_code=201)
def add(body: SubscriptionBody, platform: PlatformDep, actor: ActorDep) -> dict[str, Any]:
    """Add a subscription; the answer carries its signing secret, shown only this once."""
    request = Subscription(
        url=body.url, types=body.types, description=body.description, max_attempts=body.max_attempts
    )
    return platform.events.add(actor, request)


@router.get("")
def subscriptions(
    platform: PlatformDep, actor: ActorDep, limit: LimitDep = 50, page_token: TokenDep = None
) -> dict[str, Any]:
    """The subscriptions (never their secrets)."""
    return platform.events.subscriptions(actor, limit=limit, page_token=page_token)


@router.get("/deliveries")
def deliveries(
    platform: PlatformDep,
    actor: ActorDep,
    target: str | None = Query(default=None, description="a subscription id, or broker"),
    status: str | None = Query(default=None, description="pending, delivered or failed"),
    limit: LimitDep = 50,
    page_token: TokenDep = None,
) -> dict[str, Any]:
    """Deliveries, oldest first; ``status=failed`` lists the dead letters."""
    return platform.events.deliveries(
        actor, target=target, status=status, limit=limit, page_token=page_token
    )


@router.post("/deliveries/{delivery_id}/redeliver")
def redeliver(delivery_id: int, platform: PlatformDep, actor: ActorDep) -> dict[str, Any]:
    """Send a delivery again with a fresh set of attempts."""
    return platform.events.redeliver(actor, delivery_id)


@router.delete("/{subscription_id}")
def remove(subscription_id: str, platform: PlatformDep, actor: ActorDep) -> dict[str, Any]:
    """Remove a subscription and its deliveries."""
    return platform.events.remove(actor, subscription_id)
