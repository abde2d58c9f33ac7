"""Request dependencies: the platform and the authenticated actor."""

from __future__ import annotations

from typing import Annotated, Any, TypeVar

from fastapi import Depends, Query, Request

from plinth.capabilities.identity.schemas import Actor
from plinth.core.errors import PlinthError
from plinth.infrastructure.store.pagination import MAX_LIMIT
from plinth.orchestration.janitor import page
from plinth.orchestration.platform import Platform

__all__ = [
    "ActorDep",
    "LimitDep",
    "PlatformDep",
    "TokenDep",
    "bearer_token",
    "paged",
    "platform_part",
]

T = TypeVar("T")


def get_platform(request: Request) -> Platform:
    """Return the platform the app was built with."""
    platform: Platform = request.app.state.platform
    return platform


def platform_part(request: Request, attribute: str, kind: type[T], *, missing: str) -> T:
    """Return the platform's optional ``attribute`` (a ``kind``); raise ``missing`` without it."""
    part = getattr(get_platform(request), attribute, None)
    if not isinstance(part, kind):
        raise PlinthError(missing)
    return part


def bearer_token(request: Request) -> str | None:
    """Return the bearer token of a request, if it has one."""
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    return token.strip() if scheme.lower() == "bearer" else None


def get_actor(request: Request) -> Actor:
    """Return the actor the authentication middleware resolved (or authenticate now)."""
    actor: Actor | None = getattr(request.state, "actor", None)
    if actor is None:
        actor = get_platform(request).authenticate(bearer_token(request))
    return actor


PlatformDep = Annotated[Platform, Depends(get_platform)]
ActorDep = Annotated[Actor, Depends(get_actor)]
LimitDep = Annotated[int, Query(ge=1, le=MAX_LIMIT, description="page size")]
TokenDep = Annotated[
    str | None, Query(description="token from the previous page's next_page_token")
]


def paged(items: list[Any], limit: int, page_token: str | None) -> dict[str, Any]:
    """Return one page of an in-memory list in the API's list shape."""
    chunk, following = page(items, limit=limit, page_token=page_token)
    return {"items": chunk, "next_page_token": following}
