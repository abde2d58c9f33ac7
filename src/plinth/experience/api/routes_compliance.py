"""Continuous compliance over HTTP: thin adapters to ``platform.compliance``."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query
from fastapi.responses import Response
from pydantic import BaseModel, ConfigDict, Field

from plinth.capabilities.compliance.findings import FindingFilter
from plinth.experience.api.deps import ActorDep, LimitDep, PlatformDep, TokenDep

__all__ = ["router"]

router = APIRouter(prefix="/api/v1/compliance", tags=["compliance"])

Narrow = Annotated[str | None, Query(max_length=253)]


class AckBody(BaseModel):
    """Why the finding is acknowledged."""

    model_config = ConfigDict(extra="forbid")
    note: str = Field(default="", max_length=2000, description="what the owner will do")


@router.get("/findings")
def compliance_findings(
    platform: PlatformDep,
    actor: ActorDep,
    team: Narrow = None,
    environment: Narrow = None,
    project: Narrow = None,
    state: Narrow = None,
    severity: Narrow = None,
    resource: Narrow = None,
    limit: LimitDep = 50,
    page_token: TokenDep = None,
) -> dict[str, Any]:
    """Findings of policies on live state the caller may see (their teams', or all)."""
    flt = FindingFilter(
        team=team,
        environment=environment,
        project=project,
        state=state,
        severity=severity,
        resource=resource,
    )
    items, following = platform.compliance.findings(actor, flt, limit=limit, page_token=page_token)
    return {"items": items, "next_page_token": following}


@router.get("/findings/{finding_id}")
def compliance_finding(finding_id: str, platform: PlatformDep, actor: ActorDep) -> dict[str, Any]:
    """One finding."""
    return platform.compliance.finding(actor, finding_id)


@router.post("/findings/{finding_id}/acknowledge")
def compliance_acknowledge(
    finding_id: str, platform: PlatformDep, actor: ActorDep, body: AckBody | None = None
) -> dict[str, Any]:
    """Acknowledge an open finding (its team, security or platform engineers); audited."""
    return platform.compliance.acknowledge(finding_id, actor, body.note if body else "")


@router.post("/scan")
def compliance_scan(platform: PlatformDep, actor: ActorDep) -> dict[str, Any]:
    """Scan live state now (security or platform engineers); return what changed."""
    return platform.compliance.scan(actor)


@router.get("/report", response_model=None)
def compliance_report(
    platform: PlatformDep,
    actor: ActorDep,
    team: Narrow = None,
    environment: Narrow = None,
    format: Annotated[str, Query(pattern="^(json|csv)$")] = "json",
    include_resolved: bool = False,
) -> dict[str, Any] | Response:
    """The compliance report of a team and/or environment, as JSON or CSV."""
    report = platform.compliance.report(
        actor,
        team=team,
        environment=environment,
        format=format,
        include_resolved=include_resolved,
    )
    if isinstance(report, str):
        name = "-".join(p for p in ("compliance", team, environment) if p)
        return Response(
            report,
            media_type="text/csv; charset=utf-8",
            headers={"Content-Disposition": f'attachment; filename="{name}.csv"'},
        )
    return report
