"""Policy as code over HTTP: the packs, their tests, explanations, the exceptions."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from pydantic import BaseModel, ConfigDict, Field

from plinth.experience.api.deps import ActorDep, PlatformDep

__all__ = ["EvalBody", "TestBody", "router"]

router = APIRouter(prefix="/api/v1/policy", tags=["policy"])


class TestBody(BaseModel):
    """Which pack's tests to run (all packs when absent)."""

    model_config = ConfigDict(extra="forbid")
    pack: str | None = Field(default=None, min_length=1, max_length=63)


class EvalBody(BaseModel):
    """Documents to plan (nothing is stored) and explain the policy decision on."""

    model_config = ConfigDict(extra="forbid")
    environment: str = Field(min_length=1, max_length=63)
    project: str | None = Field(default=None, min_length=1, max_length=63)
    documents: str = Field(min_length=1, description="YAML, one or more documents")
    file: str | None = Field(default=None, max_length=500, description="for error messages")


@router.get("/packs")
def packs(platform: PlatformDep, actor: ActorDep) -> dict[str, Any]:
    """The packs in force: the default pack and the newest version of each Policy."""
    return {"items": platform.policy.packs()}


@router.post("/test")
def run_tests(body: TestBody, platform: PlatformDep, actor: ActorDep) -> dict[str, Any]:
    """Run the packs' ``test_*`` rules: pass or fail per test."""
    return platform.policy.test(pack=body.pack)


@router.post("/eval")
def explain(body: EvalBody, platform: PlatformDep, actor: ActorDep) -> dict[str, Any]:
    """The policy gate's verdict on planning these documents, each rule with its fix."""
    return platform.policy.evaluate(
        actor,
        documents=body.documents,
        environment=body.environment,
        project=body.project,
        file=body.file,
    )


@router.get("/exceptions")
def exceptions(
    platform: PlatformDep, actor: ActorDep, include_expired: bool = False
) -> dict[str, Any]:
    """The PolicyExceptions in force (or all, with ``include_expired``)."""
    return {"items": platform.policy.exceptions(include_expired=include_expired)}
