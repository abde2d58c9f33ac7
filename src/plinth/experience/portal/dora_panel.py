"""DORA metrics for the platform engineer's and leaders' homes (``platform.dora``)."""

from __future__ import annotations

from typing import Any

from plinth.experience.portal.cache import TtlCache
from plinth.experience.portal.charts import Chart, line_chart
from plinth.experience.portal.org import org_of
from plinth.orchestration.platform import Platform

__all__ = ["dora_context", "dora_trend", "duration"]


def duration(seconds: float | None) -> str:
    """Return a duration in the largest sensible unit ("3.2 h", "2.0 d"), or "-"."""
    if seconds is None:
        return "-"
    for unit, size in (("d", 86400.0), ("h", 3600.0), ("min", 60.0)):
        if seconds >= size:
            return f"{seconds / size:.1f} {unit}"
    return f"{seconds:.0f} s"


def _row(team: str | None, metrics: dict[str, Any]) -> dict[str, Any]:
    frequency = metrics["deployment_frequency"]
    failure = metrics["change_failure_rate"]
    rate = failure.get("rate")
    return {
        "team": team or "whole organisation",
        "per_week": f"{frequency['per_week']:.1f}",
        "frequency_band": frequency.get("band") or "",
        "lead_time": duration(metrics["lead_time"].get("median_s")),
        "lead_band": metrics["lead_time"].get("band") or "",
        "failure_rate": "-" if rate is None else f"{rate:.0%}",
        "failure_band": failure.get("band") or "",
        "restore": duration(metrics["time_to_restore"].get("median_s")),
        "restore_band": metrics["time_to_restore"].get("band") or "",
        "overall": metrics.get("overall_band") or "",
    }


def dora_context(
    platform: Platform, *, cache: TtlCache | None = None, ttl_s: float = 30.0, window_days: int = 30
) -> list[dict[str, Any]]:
    """Return the four keys per team and for the organisation (cached ``ttl_s`` when given)."""
    if cache is not None:
        return cache.get(
            ("dora", window_days),
            lambda: dora_context(platform, window_days=window_days),
            ttl_s=ttl_s,
        )
    rows = [_row(None, platform.dora.metrics(None, window_days=window_days))]
    for team in org_of(platform).teams:
        rows.append(_row(team, platform.dora.metrics(team, window_days=window_days)))
    return rows


def dora_trend(
    platform: Platform, *, cache: TtlCache | None = None, ttl_s: float = 30.0, weeks: int = 12
) -> tuple[Chart, Chart]:
    """Return weekly deployments and lead time charts (cached ``ttl_s`` when given)."""
    if cache is not None:
        return cache.get(
            ("dora-trend", weeks), lambda: dora_trend(platform, weeks=weeks), ttl_s=ttl_s
        )
    points = platform.dora.series(None, weeks=weeks)
    labels = [str(p["week_start"])[5:10] for p in points]
    deployments = line_chart(
        "Deployments per week",
        labels,
        {"deployments": [float(p["deployments"]) for p in points]},
        unit="deploys",
        area=True,
    )
    lead = line_chart(
        "Median lead time for changes per week",
        labels,
        {"lead time (h)": [(p["lead_time_median_s"] or 0.0) / 3600 for p in points]},
        unit="hours",
    )
    return deployments, lead
