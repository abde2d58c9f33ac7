"""The leader's home: live cost by team against budget, forecast, savings, DORA, AI readiness."""

from __future__ import annotations

import calendar
from datetime import datetime, timedelta
from typing import Any

from fastapi import APIRouter, Request, Response

from plinth.capabilities.identity.schemas import Actor
from plinth.experience.portal.access import require_view
from plinth.experience.portal.cache import TtlCache
from plinth.experience.portal.charts import Chart, bar_chart, line_chart
from plinth.experience.portal.dora_panel import dora_context, dora_trend
from plinth.experience.portal.org import money
from plinth.experience.portal.web import PortalRoute, portal_of, render, viewer
from plinth.orchestration.platform import Platform

__all__ = ["leader_context", "router"]

router = APIRouter(prefix="/portal", route_class=PortalRoute, include_in_schema=False)


def _month_start(now: datetime) -> datetime:
    return now.replace(day=1, hour=0, minute=0, second=0, microsecond=0)


def _burn_down(platform: Platform, actor: Actor, now: datetime) -> list[Chart]:
    """Return one chart per monthly budget: cumulative spend this month against the amount."""
    budgets = [b for b in platform.costing.budgets() if b.period.months == 1]
    start = _month_start(now)
    days = calendar.monthrange(now.year, now.month)[1]
    charts = []
    for budget in budgets:
        series = platform.costing.series(
            actor,
            by=budget.scope_kind,
            start=start.isoformat(),
            end=(start + timedelta(days=days)).isoformat(),
            window=None,
            step="1d",
            currency=budget.currency,
            filters={budget.scope_kind: budget.scope_name},
        )
        first: dict[str, Any] = next(iter(series["series"]), {"points": []})
        points: list[dict[str, Any]] = first["points"]
        total, cumulative = 0.0, []
        for point in points[: now.day]:
            total += money(point["cost"])
            cumulative.append(total)
        labels = [str(d) for d in range(1, days + 1)]
        charts.append(
            line_chart(
                f"Budget {budget.name}: {budget.scope_kind} {budget.scope_name}, this month",
                labels,
                {"spent so far": cumulative},
                unit=budget.currency,
                area=True,
                reference=(f"budget {budget.amount}", float(budget.amount)),
            )
        )
    return charts


def _savings(platform: Platform) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = [
        {
            "what": f"stop idle {c['workload']} ({c['project']}/{c['environment']})",
            "why": "; ".join(f["detail"] for f in c["findings"]),
            "monthly": money(c["monthly_cost"]),
        }
        for c in platform.janitor.candidates()
        if c.get("monthly_cost")
    ]
    rows += [
        {
            "what": f"right-size {r['workload']} {r['dimension']}: "
            f"{r['current']} → {r['recommended']}",
            "why": r["how"],
            "monthly": money(r["monthly_savings"]),
        }
        for r in platform.janitor.rightsizing()
        if money(r["monthly_savings"]) > 0
    ]
    return sorted(rows, key=lambda r: -money(r["monthly"]))[:8]


def _readiness(platform: Platform) -> list[tuple[str, str, str]]:
    """Return the AI readiness rows (name, share, detail) from ``platform.ai_readiness``."""
    found = platform.ai_readiness()
    rows = [
        (title, f"{item['share']:.0%}" if item["share"] is not None else "-", item)
        for title, item in (
            ("Teams with accelerator quota", found["teams_with_accelerator_quota"]),
            ("Model versions signed", found["model_versions_signed"]),
            ("Agents with a declared envelope", found["agents_with_envelope"]),
        )
    ]
    shown = [(t, s, f"{i['count']} of {i['total']}") for t, s, i in rows]
    gateway = found["gateway_inference"]
    shown.append(
        (
            f"Inferences through the AI gateway ({gateway['days']} days)",
            str(gateway["requests"]),
            f"{gateway['blocked']} blocked, {gateway['redactions']} redactions",
        )
    )
    return shown


def leader_context(
    platform: Platform, actor: Actor, *, cache: TtlCache | None = None, ttl_s: float = 30.0
) -> dict[str, Any]:
    """Return what the leader's home shows (DORA cached ``ttl_s`` when a cache is given)."""
    now = platform.clock.now()
    by_team = platform.costing.report(actor, by="team", window="30d")
    month = platform.costing.report(
        actor, by="team", start=_month_start(now).isoformat(), end=now.isoformat()
    )
    days = calendar.monthrange(now.year, now.month)[1]
    elapsed = max((now - _month_start(now)).total_seconds() / 86400, 1 / 24)
    spent = money(month["total"])
    daily = platform.costing.series(actor, by="team", window="30d", step="1d")
    labels = [b[5:10] for b in daily["buckets"]]
    series = {s["team"]: [money(p["cost"]) for p in s["points"]] for s in daily["series"]}
    return {
        "currency": by_team["currency"],
        "total_30d": f"{money(by_team['total']):,.2f}",
        "month_to_date": f"{spent:,.2f}",
        "forecast": f"{spent / elapsed * days:,.2f}",
        "by_team": bar_chart(
            "Cost by team, last 30 days",
            [(str(i["team"]), money(i["cost"])) for i in by_team["items"]],
            unit=by_team["currency"],
        ),
        "trend": line_chart("Daily cost by team, last 30 days", labels, series, unit="USD"),
        "has_spend": bool(by_team["items"]),
        "burn_down": _burn_down(platform, actor, now),
        "savings": _savings(platform),
        "readiness": _readiness(platform),
        "dora": dora_context(platform, cache=cache, ttl_s=ttl_s),
        "dora_trend": dora_trend(platform, cache=cache, ttl_s=ttl_s),
    }


@router.get("/leader")
def leader_home(request: Request) -> Response:
    """Cost, budgets, forecast, savings, DORA trends and AI readiness at a glance."""
    who = viewer(request)
    platform = portal_of(request).platform
    require_view(platform, who.actor, "leader")
    portal = portal_of(request)
    context = leader_context(platform, who.actor, cache=portal.cache, ttl_s=portal.aggregates_ttl_s)
    return render(request, "leader.html", {"title": "Leader", **context, "live": ["cost"]})
