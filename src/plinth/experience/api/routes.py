"""The REST API v1: thin adapters from HTTP to the platform."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query
from pydantic import BaseModel, ConfigDict, Field

from plinth.experience.api.deps import ActorDep, LimitDep, PlatformDep, TokenDep
from plinth.orchestration.plans import PlanRequest
from plinth.orchestration.platform import Listing

__all__ = ["router"]

router = APIRouter(prefix="/api/v1")


class DeleteTarget(BaseModel):
    """The object a delete plan removes."""

    model_config = ConfigDict(extra="forbid")
    kind: str = Field(min_length=1, max_length=63)
    name: str = Field(min_length=1, max_length=253)


class PlanBody(BaseModel):
    """A request to plan documents, or a deletion, in one environment."""

    model_config = ConfigDict(extra="forbid")
    environment: str = Field(min_length=1, max_length=63)
    project: str | None = Field(default=None, max_length=63)
    documents: str | None = Field(default=None, description="YAML, one or more documents")
    file: str | None = Field(
        default=None, max_length=500, description="file name for error messages"
    )
    upgrade: bool = False
    delete: DeleteTarget | None = None


class ReviewBody(BaseModel):
    """An approver's reason."""

    model_config = ConfigDict(extra="forbid")
    reason: str = Field(default="", max_length=2000)


def _page(listing: Listing) -> dict[str, Any]:
    return {"items": listing.items, "next_page_token": listing.next_page_token}


@router.get("/whoami")
def whoami(actor: ActorDep) -> dict[str, Any]:
    """Who the token belongs to."""
    return actor.as_dict()


@router.get("/kinds")
def list_kinds(platform: PlatformDep, actor: ActorDep) -> dict[str, Any]:
    """The kinds of document the platform accepts."""
    return {"items": platform.kinds()}


@router.get("/schemas/{kind}")
def get_schema(kind: str, platform: PlatformDep, actor: ActorDep) -> dict[str, Any]:
    """The JSON Schema used to validate a kind."""
    return platform.schema(kind)


@router.post("/plans", status_code=201)
def create_plan(body: PlanBody, platform: PlatformDep, actor: ActorDep) -> dict[str, Any]:
    """Plan documents (or a deletion): the diff, its digest and every gate's verdict."""
    request = PlanRequest(
        environment=body.environment,
        project=body.project,
        documents=body.documents,
        file=body.file,
        upgrade=body.upgrade,
        delete_kind=body.delete.kind if body.delete else None,
        delete_name=body.delete.name if body.delete else None,
    )
    return platform.plan(actor, request)


@router.get("/plans")
def list_plans(
    platform: PlatformDep, actor: ActorDep, limit: LimitDep = 50, page_token: TokenDep = None
) -> dict[str, Any]:
    """Plans, by digest."""
    return _page(platform.list_plans(limit=limit, page_token=page_token))


@router.get("/plans/{digest}")
def get_plan(digest: str, platform: PlatformDep, actor: ActorDep) -> dict[str, Any]:
    """One plan."""
    return platform.get_plan(digest)


@router.post("/plans/{digest}/apply")
def apply_plan(digest: str, platform: PlatformDep, actor: ActorDep) -> dict[str, Any]:
    """Apply a plan: re-check it is current, decide through the gates, write desired state."""
    return platform.apply(actor, digest)


@router.get("/approvals")
def list_approvals(
    platform: PlatformDep,
    actor: ActorDep,
    limit: LimitDep = 50,
    page_token: TokenDep = None,
    status: Literal["pending", "approved", "rejected", "expired", "applied", "all"] = "pending",
    mine: Annotated[
        bool, Query(description="only requests routed to my teams (an agent: its own)")
    ] = False,
    team: Annotated[str | None, Query(description="only requests routed to this team")] = None,
) -> dict[str, Any]:
    """Approval requests: pending (default), approved, rejected, expired, applied or all."""
    return _page(
        platform.approvals(
            status=status,
            limit=limit,
            page_token=page_token,
            actor=actor,
            mine=mine,
            team=team,
        )
    )


@router.get("/approvals/{digest}")
def get_approval(
    digest: str,
    platform: PlatformDep,
    actor: ActorDep,
    wait: Annotated[
        float, Query(ge=0, le=25, description="seconds to wait for a decision (long poll)")
    ] = 0,
) -> dict[str, Any]:
    """One approval request; with ``wait`` the answer comes when it is decided (or at timeout)."""
    return platform.approval(digest, wait=wait)


@router.post("/approvals/{digest}/approve")
def approve(
    digest: str, platform: PlatformDep, actor: ActorDep, body: ReviewBody | None = None
) -> dict[str, Any]:
    """Approve a plan (it still has to be applied)."""
    return platform.review(actor, digest, approve=True, reason=body.reason if body else "")


@router.post("/approvals/{digest}/deny")
def deny(
    digest: str, platform: PlatformDep, actor: ActorDep, body: ReviewBody | None = None
) -> dict[str, Any]:
    """Reject a plan."""
    return platform.review(actor, digest, approve=False, reason=body.reason if body else "")


@router.get("/workloads")
def list_workloads(
    platform: PlatformDep,
    actor: ActorDep,
    environment: str | None = None,
    project: str | None = None,
    limit: LimitDep = 50,
    page_token: TokenDep = None,
) -> dict[str, Any]:
    """Workloads with their status."""
    return _page(
        platform.list_workloads(
            kind="Workload",
            environment=environment,
            project=project,
            limit=limit,
            page_token=page_token,
        )
    )


@router.get("/workloads/{name}")
def get_workload(
    name: str,
    platform: PlatformDep,
    actor: ActorDep,
    environment: str = Query(...),
    project: str | None = None,
) -> dict[str, Any]:
    """One workload with its resources."""
    return platform.workload(name, environment=environment, project=project)


@router.get("/workloads/{name}/describe")
def describe_workload(
    name: str,
    platform: PlatformDep,
    actor: ActorDep,
    environment: str = Query(...),
    project: str | None = None,
) -> dict[str, Any]:
    """One workload with its resources, events and history."""
    return platform.workload(name, environment=environment, project=project, describe=True)


@router.get("/workloads/{name}/logs")
def workload_logs(
    name: str,
    platform: PlatformDep,
    actor: ActorDep,
    environment: str = Query(...),
    project: str | None = None,
    tail: int = Query(200, ge=1, le=10_000),
) -> dict[str, Any]:
    """The last lines of a workload's logs."""
    return {"lines": platform.logs(name, environment=environment, project=project, tail=tail)}


@router.get("/applications")
def list_applications(
    platform: PlatformDep,
    actor: ActorDep,
    environment: str | None = None,
    project: str | None = None,
    limit: LimitDep = 50,
    page_token: TokenDep = None,
) -> dict[str, Any]:
    """Applications (uses of templates)."""
    return _page(
        platform.list_workloads(
            kind="Application",
            environment=environment,
            project=project,
            limit=limit,
            page_token=page_token,
        )
    )


@router.get("/applications/{name}")
def get_application(
    name: str,
    platform: PlatformDep,
    actor: ActorDep,
    environment: str = Query(...),
    project: str | None = None,
) -> dict[str, Any]:
    """One application."""
    return platform.workload(name, kind="Application", environment=environment, project=project)


@router.get("/resources")
def list_resources(
    platform: PlatformDep,
    actor: ActorDep,
    environment: str | None = None,
    project: str | None = None,
    limit: LimitDep = 50,
    page_token: TokenDep = None,
) -> dict[str, Any]:
    """Resources with their observed status."""
    return _page(
        platform.list_resources(
            environment=environment, project=project, limit=limit, page_token=page_token
        )
    )


@router.get("/audit")
def audit_log(
    platform: PlatformDep, actor: ActorDep, limit: LimitDep = 50, page_token: TokenDep = None
) -> dict[str, Any]:
    """The audit log, oldest first."""
    return _page(platform.audit_log(limit=limit, page_token=page_token))


@router.get("/audit/verify")
def audit_verify(platform: PlatformDep, actor: ActorDep) -> dict[str, Any]:
    """Verify the audit chain."""
    return platform.audit_verify()


@router.get("/readiness")
def readiness(
    platform: PlatformDep, actor: ActorDep, days: Annotated[int, Query(ge=1, le=366)] = 30
) -> dict[str, Any]:
    """AI readiness: accelerator quotas, signed models, agent envelopes, gateway inference."""
    return platform.ai_readiness(days=days)


@router.get("/templates")
def list_templates(platform: PlatformDep, actor: ActorDep) -> dict[str, Any]:
    """Golden-path templates and their versions."""
    return {"items": platform.templates(), "next_page_token": None}


@router.get("/templates/{name}")
def get_template(
    name: str, platform: PlatformDep, actor: ActorDep, version: str | None = None
) -> dict[str, Any]:
    """One template version (newest by default)."""
    return platform.template(name, version)


def _org_route(kind: str) -> None:
    def handler(
        platform: PlatformDep, actor: ActorDep, limit: LimitDep = 50, page_token: TokenDep = None
    ) -> dict[str, Any]:
        return _page(platform.organisation(kind, limit=limit, page_token=page_token))

    handler.__doc__ = f"The organisation's {kind}."
    router.add_api_route(f"/{kind}", handler, methods=["GET"], name=f"list_{kind}")


for _kind in ("teams", "projects", "environments", "users"):
    _org_route(_kind)
