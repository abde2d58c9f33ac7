"""Authorization over HTTP: ``POST /api/v1/authz/check`` explains any decision."""

from __future__ import annotations

from typing import Any, Literal

from fastapi import APIRouter, Request
from pydantic import BaseModel, ConfigDict, Field

from plinth.experience.api.deps import ActorDep
from plinth.orchestration.authz_check import AuthzSource, explain

__all__ = ["CheckBody", "router"]

router = APIRouter(prefix="/api/v1", tags=["authorization"])
Name = Field(default=None, min_length=1, max_length=200)


class CheckBody(BaseModel):
    """The question: may ``principal`` (you, by default) do ``action``, and why (not)?"""

    model_config = ConfigDict(extra="forbid")
    principal: str | None = Field(
        default=None, min_length=1, max_length=200, description="a user or agent; default you"
    )
    action: Literal["change", "approve", "call_tool", "read"] = "change"
    environment: str | None = Name
    project: str | None = Name
    team: str | None = Name
    kinds: list[str] = Field(default_factory=list, max_length=50, description="e.g. Workload")
    actions: list[Literal["create", "update", "delete", "replace"]] = Field(
        default_factory=list, max_length=4
    )
    plan: str | None = Field(default=None, max_length=128, description="digest (approve)")
    author: str | None = Field(default=None, max_length=200, description="who asked for the plan")
    tool: str | None = Field(default=None, max_length=300, description="server/tool (call_tool)")
    trust: Literal["trusted", "internal", "untrusted"] = "internal"
    annotations: dict[str, bool] | None = Field(
        default=None, description="MCP hints: readOnlyHint, destructiveHint, ..."
    )
    granted: bool | None = Field(default=None, description="default: from the agent's spec")
    context: dict[str, Any] | None = Field(
        default=None, description="extra facts (override the built ones), e.g. {hour: 18}"
    )


def _source(request: Request) -> AuthzSource:
    """Return the platform, as the source of the store and the authorizer."""
    source: AuthzSource = request.app.state.platform
    return source


@router.post("/authz/check")
def check(body: CheckBody, request: Request, actor: ActorDep) -> dict[str, Any]:
    """The outcome, the policies that determined it and the request as sent to Cedar."""
    return explain(_source(request), actor, body.model_dump(exclude_none=True))
