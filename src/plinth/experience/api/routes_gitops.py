"""GitOps over HTTP: read the whole desired state, and sync a repository's files."""

from __future__ import annotations

from typing import Any, Literal

from fastapi import APIRouter
from pydantic import BaseModel, ConfigDict, Field

from plinth import __version__
from plinth.experience.api.deps import ActorDep, LimitDep, PlatformDep, TokenDep, paged
from plinth.orchestration.gitops_sync import Commit, state_documents, sync_tree

__all__ = ["router"]

router = APIRouter(prefix="/api/v1/gitops", tags=["gitops"])


class CommitBody(BaseModel):
    """The commit the files come from."""

    model_config = ConfigDict(extra="forbid")
    sha: str = Field(min_length=7, max_length=64)
    time: str = Field(max_length=64, description="RFC 3339 with a zone")


class SyncBody(BaseModel):
    """A repository's files (path → YAML text) to plan and apply."""

    model_config = ConfigDict(extra="forbid")
    files: dict[str, str] = Field(max_length=5000)
    source: Literal["git", "backstage"] = "git"
    commit: CommitBody | None = None
    dry_run: bool = False
    prune: bool = False


@router.get("/state")
def get_state(
    platform: PlatformDep, actor: ActorDep, limit: LimitDep = 500, page_token: TokenDep = None
) -> dict[str, Any]:
    """Every document of desired state (no secret values), in the repository's order."""
    return {**paged(state_documents(platform), limit, page_token), "version": __version__}


@router.post("/sync")
def sync(body: SyncBody, platform: PlatformDep, actor: ActorDep) -> dict[str, Any]:
    """Validate every file, plan every batch through the gates, then apply (unless dry_run)."""
    commit = Commit(body.commit.sha, body.commit.time) if body.commit else None
    report = sync_tree(
        platform,
        actor,
        body.files,
        source=body.source,
        commit=commit,
        dry_run=body.dry_run,
        prune=body.prune,
    )
    return report.as_dict()
