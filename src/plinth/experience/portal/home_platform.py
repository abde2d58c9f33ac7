"""The platform engineer's home: templates and adoption, providers, reconcile queue, failures.

Also the approval action every approver uses (``POST /portal/approvals/<digest>/review``).
"""

from __future__ import annotations

from collections import Counter
from typing import Any

from fastapi import APIRouter, Request, Response
from starlette.responses import RedirectResponse

from plinth.experience.portal.access import require_view
from plinth.experience.portal.cache import TtlCache
from plinth.experience.portal.dora_panel import dora_context
from plinth.experience.portal.web import PortalRoute, checked_form, portal_of, render, viewer
from plinth.orchestration.platform import Platform

__all__ = ["denied_decisions", "platform_context", "router"]

router = APIRouter(prefix="/portal", route_class=PortalRoute, include_in_schema=False)


def _adoption(platform: Platform) -> list[dict[str, Any]]:
    apps = platform.list_workloads(
        kind="Application", environment=None, project=None, limit=500, page_token=None
    ).items
    used = Counter((a["template"], a["template_version"]) for a in apps)
    rows = []
    for template in platform.templates():
        for version in reversed(template["versions"]):
            rows.append(
                {
                    "name": template["name"],
                    "version": version,
                    "latest": version == template["latest_version"],
                    "applications": used.get((template["name"], version), 0),
                }
            )
    return rows


def _providers(platform: Platform, resources: list[dict[str, Any]]) -> list[dict[str, Any]]:
    rows = []
    for provider in platform.registry.providers():
        mine = [r for r in resources if r["provider"] == provider.name]
        rows.append(
            {
                "name": provider.name,
                "types": sorted(provider.resource_types()),
                "resources": len(mine),
                "healthy": sum(1 for r in mine if r["healthy"] is True),
                "failed": sum(1 for r in mine if r["phase"] == "failed"),
            }
        )
    return rows


def _control_plane(platform: Platform) -> dict[str, Any]:
    """This replica and its leadership, and the events waiting for delivery."""
    waiting, failed = platform.events.backlog()
    return {
        **platform.leadership.state().as_dict(),
        "events_waiting": waiting,
        "deliveries_failed": failed,
    }


def denied_decisions(platform: Platform, *, count: int = 10) -> list[dict[str, Any]]:
    """Return the newest plans a gate denied, from the audit chain's decisions."""
    decisions = platform.recent_audit(count=500, actions=["plan.decision"])
    denied = [r for r in decisions if (r["data"] or {}).get("decision") == "deny"]
    return [
        {
            "digest": r["subject"].removeprefix("plan/"),
            "actor": r["actor"],
            "at": r["at"],
            "reasons": [
                reason
                for v in (r["data"] or {}).get("verdicts", [])
                if v.get("verdict") == "deny"
                for reason in v.get("reasons", [])
            ],
        }
        for r in denied[:count]
    ]


def platform_context(
    platform: Platform, *, cache: TtlCache | None = None, ttl_s: float = 30.0
) -> dict[str, Any]:
    """Return what the platform engineer's home shows (aggregates cached ``ttl_s``)."""
    resources = platform.list_resources(
        environment=None, project=None, limit=500, page_token=None
    ).items
    queue = [
        r
        for r in resources
        if r["phase"] not in ("ready", "running", "succeeded")
        or r["generation"] != r["observed_generation"]
    ]
    return {
        "adoption": _adoption(platform),
        "providers": _providers(platform, resources),
        "control": _control_plane(platform),
        "queue": queue,
        "failed": [r for r in resources if r["phase"] == "failed"],
        "denied": (
            cache.get("denied", lambda: denied_decisions(platform), ttl_s=ttl_s)
            if cache is not None
            else denied_decisions(platform)
        ),
        "pending": platform.approvals(status="pending", limit=100, page_token=None).items,
        "dora": dora_context(platform, cache=cache, ttl_s=ttl_s),
    }


@router.get("/platform")
def platform_home(request: Request) -> Response:
    """Templates, providers, the reconcile queue, failures and approvals."""
    who = viewer(request)
    platform = portal_of(request).platform
    require_view(platform, who.actor, "platform")
    portal = portal_of(request)
    context = platform_context(platform, cache=portal.cache, ttl_s=portal.aggregates_ttl_s)
    return render(
        request,
        "platform.html",
        {"title": "Platform", **context, "live": ["approvals", "status"]},
    )


@router.post("/approvals/{digest}/review")
async def review(request: Request, digest: str) -> Response:
    """Approve or reject a plan (the approval desk decides who may)."""
    form = await checked_form(request)
    who = viewer(request)
    platform = portal_of(request).platform
    approve = form.get("decision") == "approve"
    reason = str(form.get("reason") or "")[:2000]
    result = platform.review(who.actor, digest, approve=approve, reason=reason)
    back = request.headers.get("referer", "")
    target = back if back.startswith(str(request.base_url) + "portal") else "/portal"
    del result
    return RedirectResponse(target, status_code=303)
