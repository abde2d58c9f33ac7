"""Security panels: policy findings by severity and owner, exceptions, the AI gateway's refusals."""

from __future__ import annotations

from typing import Any

from plinth.capabilities.identity.schemas import Actor
from plinth.experience.portal.charts import Chart, bar_chart
from plinth.orchestration.platform import Platform

__all__ = ["exceptions_of", "findings_context", "gateway_context"]

SEVERITIES = ("critical", "high", "medium", "low")


def findings_context(platform: Platform, actor: Actor) -> dict[str, Any]:
    """Return open findings counted by severity and by owner, and the newest of them."""
    report = platform.compliance.report(actor)
    assert isinstance(report, dict)
    open_ = [f for f in report["findings"] if f["state"] not in ("resolved",)]
    owners = sorted({f["owner"] or "-" for f in open_})
    table = [
        {
            "owner": owner,
            **{
                s: sum(1 for f in open_ if f["owner"] == owner and f["severity"] == s)
                for s in SEVERITIES
            },
        }
        for owner in owners
    ]
    rank = {s: i for i, s in enumerate(SEVERITIES)}
    chart: Chart = bar_chart(
        "Open policy findings by severity",
        [(s, float(sum(1 for f in open_ if f["severity"] == s))) for s in SEVERITIES],
        unit="findings",
    )
    return {
        "findings_total": len(open_),
        "findings_chart": chart,
        "findings_by_owner": table,
        "severities": SEVERITIES,
        "findings": sorted(open_, key=lambda f: (rank.get(f["severity"], 9), f["owner"]))[:25],
    }


def exceptions_of(platform: Platform, *, owners: set[str] | None = None) -> list[dict[str, Any]]:
    """Return policy exceptions, soonest expiry first (only these owners' when given)."""
    items = platform.policy.exceptions(include_expired=True)
    if owners is not None:
        items = [e for e in items if e["owner"] in owners]
    return sorted(items, key=lambda e: e["expires"])


def gateway_context(platform: Platform) -> dict[str, Any]:
    """Return the AI gateway's figures: requests, blocked, refused, redactions, by outcome."""
    stats = platform.llm.stats()
    return {
        "requests": stats["requests"],
        "blocked": stats["blocked"],
        "refused": stats["refused"],
        "redactions": stats["redactions"],
        "over_budget": stats["over_budget"],
        "outcomes": sorted(stats["outcomes"].items()),
        "spend_by_model": sorted(stats["spend_by_model"].items()),
    }
