"""Request dependencies: the platform and the authenticated actor."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Query, Request

from plinth.capabilities.identity.schemas import Actor
from plinth.infrastructure.store.pagination import MAX_LIMIT
from plinth.orchestration.platform import Platform

__all__ = ["ActorDep", "LimitDep", "PlatformDep", "TokenDep"]


def get_platform(request: Request) -> Platform:
    """Return the platform the app was built with."""
    platform: Platform = request.app.state.platform
    return platform


def get_actor(request: Request) -> Actor:
    """Authenticate the bearer token of the request."""
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    return get_platform(request).authenticate(token.strip() if scheme.lower() == "bearer" else None)


PlatformDep = Annotated[Platform, Depends(get_platform)]
ActorDep = Annotated[Actor, Depends(get_actor)]
LimitDep = Annotated[int, Query(ge=1, le=MAX_LIMIT, description="page size")]
TokenDep = Annotated[
    str | None, Query(description="token from the previous page's next_page_token")
]
