"""The security view: the audit log and its verification, agent actions, approvals."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request, Response

from plinth.capabilities.identity.schemas import Actor
from plinth.experience.portal.access import require_view
from plinth.experience.portal.security_panels import (
    exceptions_of,
    findings_context,
    gateway_context,
)
from plinth.experience.portal.web import PortalRoute, portal_of, render, viewer
from plinth.orchestration.platform import Platform

__all__ = ["agent_requests", "router", "security_context"]

router = APIRouter(prefix="/portal", route_class=PortalRoute, include_in_schema=False)


def agent_requests(records: list[dict[str, Any]], agents: set[str]) -> list[dict[str, Any]]:
    """Return agents' requests for approval (newest first) and what became of them."""
    later: dict[str, list[str]] = {}
    for r in records:
        if r["action"] in ("plan.approved", "plan.rejected", "plan.applied"):
            later.setdefault(r["subject"], []).append(r["action"].removeprefix("plan."))
    out = []
    for r in records:  # newest first
        data = r["data"] or {}
        if r["action"] != "plan.created" or r["actor"] not in agents:
            continue
        if data.get("outcome") != "needs_approval":
            continue
        fate = later.get(r["subject"], [])
        why = [
            reason
            for v in data.get("verdicts", [])
            if v.get("verdict") == "needs_approval"
            for reason in v.get("reasons", [])
        ]
        out.append(
            {
                "digest": r["subject"].removeprefix("plan/"),
                "actor": r["actor"],
                "at": r["at"],
                "reasons": why,
                "status": "applied" if "applied" in fate else (fate[0] if fate else "pending"),
            }
        )
    return out


def security_context(platform: Platform, actor: Actor, *, verify: bool) -> dict[str, Any]:
    """Return what the security view shows (``verify``: walk the whole audit chain now)."""
    records = platform.recent_audit(count=300)
    agents = {a["name"] for a in platform.agents.page(limit=200, page_token=None)[0]}
    agents.add("janitor")
    return {
        "verification": platform.audit_verify() if verify else None,
        "audit": records[:60],
        "agent_actions": [r for r in records if r["actor"] in agents][:30],
        "agent_approvals": agent_requests(records, agents)[:20],
        "refusals": [r for r in records if "refus" in r["action"] or "denied" in r["action"]][:20],
        "exceptions": exceptions_of(platform),
        "now": platform.clock.now().isoformat(),
        "gateway": gateway_context(platform),
        **findings_context(platform, actor),
    }


@router.get("/security")
def security_home(request: Request) -> Response:
    """Audit log with its verification, what agents did, and what waits for people."""
    who = viewer(request)
    platform = portal_of(request).platform
    require_view(platform, who.actor, "security")
    verify = request.query_params.get("verify") == "1"
    return render(
        request,
        "security.html",
        {
            "title": "Security",
            **security_context(platform, who.actor, verify=verify),
            "live": ["approvals"],
        },
    )
