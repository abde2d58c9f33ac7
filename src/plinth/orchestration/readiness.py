"""AI readiness: how far the organisation runs AI workloads on the platform's terms.

Four indicators a leader reads at a glance, computed from the platform's own records:
teams with an accelerator quota, model versions that are signed, agents with a declared
autonomy envelope, and inference that goes through the AI gateway.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from plinth.orchestration import model_registry

if TYPE_CHECKING:
    from plinth.orchestration.platform import Platform

__all__ = ["ai_readiness"]

_PAGE = 500


def _share(part: int, whole: int) -> float | None:
    return round(part / whole, 4) if whole else None


def ai_readiness(platform: Platform, *, days: int = 30) -> dict[str, Any]:
    """Return the readiness indicators, each with its count, its total and their share."""
    teams = {t["name"] for t in platform.organisation("teams", limit=_PAGE, page_token=None).items}
    with_quota = {
        q["team"] for p in platform.gpus.pools() for q in p["queues"] if q["nominal"]
    } & teams
    agents, _ = platform.agents.page(limit=_PAGE, page_token=None)
    enveloped = [a for a in agents if a.get("autonomy")]
    models = model_registry.list_models(platform.db, limit=_PAGE)["items"]
    versions = [
        v for m in models for v in model_registry.show_model(platform.db, m["name"])["versions"]
    ]
    signed = [v for v in versions if v["signed"]]
    stats = platform.llm.stats(days=days)
    return {
        "teams_with_accelerator_quota": {
            "count": len(with_quota),
            "total": len(teams),
            "share": _share(len(with_quota), len(teams)),
        },
        "model_versions_signed": {
            "count": len(signed),
            "total": len(versions),
            "share": _share(len(signed), len(versions)),
        },
        "agents_with_envelope": {
            "count": len(enveloped),
            "total": len(agents),
            "share": _share(len(enveloped), len(agents)),
        },
        "gateway_inference": {
            "days": days,
            "requests": stats["requests"],
            "blocked": stats["blocked"],
            "redactions": stats["redactions"],
            "refused": stats["refused"],
        },
    }
