"""The ML engineer's home: notebooks and jobs, the accelerator queue, quota, models, endpoints."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request, Response

from plinth.capabilities.identity.schemas import Actor
from plinth.experience.portal.access import require_view
from plinth.experience.portal.charts import bar_chart
from plinth.experience.portal.org import org_of
from plinth.experience.portal.web import PortalRoute, portal_of, render, viewer
from plinth.orchestration import model_registry
from plinth.orchestration.platform import Platform

__all__ = ["ml_context", "router"]

router = APIRouter(prefix="/portal", route_class=PortalRoute, include_in_schema=False)


def _quotas(platform: Platform, teams: list[str]) -> list[dict[str, Any]]:
    rows = []
    for pool in platform.gpus.pools():
        for queue in pool["queues"]:
            if queue["team"] in teams or not teams:
                for kind, nominal in queue["nominal"].items():
                    rows.append(
                        {
                            "pool": pool["name"],
                            "team": queue["team"],
                            "type": kind,
                            "nominal": nominal,
                            "borrow": queue["borrowing_limit"].get(kind, 0),
                            "used": queue["used"].get(kind, 0),
                        }
                    )
    return rows


def ml_context(platform: Platform, actor: Actor) -> dict[str, Any]:
    """Return what the ML engineer's home shows (their teams' work; everything for org roles)."""
    teams = actor.teams
    projects = org_of(platform).projects_of(actor)
    workloads = [
        w
        for w in platform.list_workloads(
            kind="Workload", environment=None, project=None, limit=500, page_token=None
        ).items
        if w["project"] in projects
    ]
    queue = [q for t in teams for q in platform.gpus.queue(team=t)] if teams else []
    pools = platform.gpus.pools()
    use = [
        (f"{p['name']} {kind}", 100.0 * p["used"].get(kind, 0) / total if total else 0.0)
        for p in pools
        for kind, total in p["capacity"].items()
    ]
    names = [m["name"] for m in model_registry.list_models(platform.db, limit=200)["items"]]
    models = [model_registry.show_model(platform.db, n) for n in names]
    return {
        "workloads": workloads,
        "queue": queue,
        "quotas": _quotas(platform, teams),
        "utilisation": bar_chart("Accelerator pools: share in use", use, unit="%"),
        "models": models,
        "endpoints": [w for w in workloads if w["type"] == "model-deployment"],
    }


@router.get("/ml")
def ml_home(request: Request) -> Response:
    """Notebooks and jobs, queue position and expected start, quota and use, models."""
    who = viewer(request)
    platform = portal_of(request).platform
    require_view(platform, who.actor, "ml")
    context = ml_context(platform, who.actor)
    return render(request, "ml.html", {"title": "ML", **context, "live": ["queue", "status"]})
