"""The four keys over a window, and a weekly series: pure functions of the records.

See docs/dora.md for the definitions; they are exactly what this module computes.
"""

from __future__ import annotations

import math
from bisect import bisect_right
from collections import defaultdict
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from plinth.capabilities.dora.bands import BANDS, Band, band_for
from plinth.capabilities.dora.model import Deployment, HealthSignal, Outcome

__all__ = [
    "DEFAULT_FAILURE_WINDOW",
    "compute",
    "outcomes",
    "percentile",
    "week_start",
    "weekly_series",
]

DEFAULT_FAILURE_WINDOW = timedelta(hours=24)
_ORDER: tuple[Band, ...] = ("elite", "high", "medium", "low")
_RANK: dict[Band, int] = {band: rank for rank, band in enumerate(_ORDER)}
Scope = tuple[str, str]


def percentile(values: Sequence[float], q: float) -> float | None:
    """Return the ``q`` quantile (0..1) by linear interpolation; None for no values."""
    if not values:
        return None
    ordered = sorted(values)
    position = (len(ordered) - 1) * q
    low, high = math.floor(position), math.ceil(position)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


def _by_scope(signals: Sequence[HealthSignal]) -> dict[Scope, list[HealthSignal]]:
    grouped: dict[Scope, list[HealthSignal]] = defaultdict(list)
    for signal in sorted(signals, key=lambda s: s.at):
        grouped[(signal.environment, signal.project)].append(signal)
    return grouped


def _next_applies(deployments: Sequence[Deployment]) -> dict[str, datetime | None]:
    """Map each deployment to when the next one of the same scope was applied."""
    grouped: dict[Scope, list[Deployment]] = defaultdict(list)
    for d in deployments:
        grouped[(d.environment, d.project)].append(d)
    following: dict[str, datetime | None] = {}
    for group in grouped.values():
        group.sort(key=lambda d: d.applied_at)
        for this, after in zip(group, [*group[1:], None], strict=True):
            following[this.id] = after.applied_at if after is not None else None
    return following


def _outcome(
    d: Deployment,
    scope_signals: list[HealthSignal],
    next_apply: datetime | None,
    window: timedelta,
) -> Outcome:
    limit = d.applied_at + window
    if next_apply is not None:
        limit = min(limit, next_apply)
    candidates: list[tuple[datetime, str, str]] = []
    times = [s.at for s in scope_signals]
    for signal in scope_signals[bisect_right(times, d.applied_at) :]:
        if signal.at > limit:
            break
        if not signal.healthy:
            candidates.append((signal.at, f"health: {signal.reason or 'failed'}", signal.resource))
            break
    if d.rolled_back_at is not None and d.rolled_back_at - d.applied_at <= window:
        candidates.append((d.running_at or d.applied_at, "rollback", ""))
    if not candidates:
        return Outcome(d, None, None)
    failed_at, cause, resource = min(candidates)
    restored_at = next(
        (
            s.at
            for s in scope_signals[bisect_right(times, failed_at) :]
            if s.healthy and (not resource or not s.resource or s.resource == resource)
        ),
        None,
    )
    return Outcome(d, failed_at, restored_at, cause)


def outcomes(
    deployments: Sequence[Deployment],
    signals: Sequence[HealthSignal],
    *,
    window: timedelta = DEFAULT_FAILURE_WINDOW,
) -> list[Outcome]:
    """Return each deployment's outcome: whether it failed, and when service came back."""
    grouped = _by_scope(signals)
    following = _next_applies(deployments)
    return [
        _outcome(d, grouped.get((d.environment, d.project), []), following.get(d.id), window)
        for d in sorted(deployments, key=lambda d: d.applied_at)
    ]


def _seconds(delta: timedelta) -> float:
    return delta.total_seconds()


def _summary(values: list[float]) -> dict[str, Any]:
    return {
        "count": len(values),
        "median_s": percentile(values, 0.5),
        "p90_s": percentile(values, 0.9),
        "mean_s": sum(values) / len(values) if values else None,
    }


def _metrics(results: list[Outcome], *, days: float) -> dict[str, Any]:
    deployments = [o.deployment for o in results]
    count = len(deployments)
    per_day = count / days if days > 0 else 0.0
    lead = [
        _seconds(d.running_at - d.commit_time)
        for d in deployments
        if d.running_at is not None and d.commit_time is not None and d.running_at >= d.commit_time
    ]
    failed = [o for o in results if o.failed]
    restore = [
        _seconds(o.restored_at - o.failed_at)
        for o in failed
        if o.restored_at is not None and o.failed_at is not None
    ]
    rate = len(failed) / count if count else None
    lead_summary = _summary(lead) | {
        "without_commit": sum(1 for d in deployments if d.commit_time is None),
        "not_running": sum(1 for d in deployments if d.running_at is None),
    }
    restore_summary = _summary(restore) | {"open_failures": len(failed) - len(restore)}
    return {
        "deployment_frequency": {
            "deployments": count,
            "per_day": per_day,
            "per_week": per_day * 7,
            "deploy_days": len({d.applied_at.date() for d in deployments}),
            "rollbacks": sum(1 for d in deployments if d.is_rollback),
            "band": band_for("deployment_frequency", per_day) if days > 0 else None,
        },
        "lead_time": lead_summary | {"band": band_for("lead_time", lead_summary["median_s"])},
        "change_failure_rate": {
            "rate": rate,
            "failures": len(failed),
            "deployments": count,
            "causes": dict(sorted(_count(o.cause for o in failed).items())),
            "band": band_for("change_failure_rate", rate),
        },
        "time_to_restore": restore_summary
        | {"band": band_for("time_to_restore", restore_summary["median_s"])},
    }


def _count(items: Any) -> dict[str, int]:
    counts: dict[str, int] = defaultdict(int)
    for item in items:
        counts[str(item).split(":")[0]] += 1
    return dict(counts)


def _overall(metrics: dict[str, Any]) -> Band | None:
    ranks = [_RANK[m["band"]] for m in metrics.values() if m.get("band")]
    return _ORDER[max(ranks)] if ranks else None


def compute(
    deployments: Sequence[Deployment],
    signals: Sequence[HealthSignal],
    *,
    start: datetime,
    end: datetime,
    failure_window: timedelta = DEFAULT_FAILURE_WINDOW,
) -> dict[str, Any]:
    """Return the four keys for deployments applied in (start, end], with their bands."""
    results = [
        o
        for o in outcomes(deployments, signals, window=failure_window)
        if start < o.deployment.applied_at <= end
    ]
    metrics = _metrics(results, days=_seconds(end - start) / 86400)
    return {
        "window": {"start": start, "end": end, "days": _seconds(end - start) / 86400},
        "failure_window_s": _seconds(failure_window),
        **metrics,
        "overall_band": _overall(metrics),
        "bands": {name: rule.as_dict() for name, rule in BANDS.items()},
    }


def week_start(at: datetime) -> datetime:
    """Return the Monday 00:00 (same zone) of the week holding ``at``."""
    day = at.replace(hour=0, minute=0, second=0, microsecond=0)
    return day - timedelta(days=day.weekday())


def weekly_series(
    deployments: Sequence[Deployment],
    signals: Sequence[HealthSignal],
    *,
    end: datetime,
    weeks: int,
    failure_window: timedelta = DEFAULT_FAILURE_WINDOW,
) -> list[dict[str, Any]]:
    """Return one point per week (Monday-aligned, the last one partial), oldest first."""
    every = outcomes(deployments, signals, window=failure_window)
    first = week_start(end) - timedelta(weeks=weeks - 1)
    points = []
    for index in range(weeks):
        start = first + timedelta(weeks=index)
        stop = min(start + timedelta(weeks=1), end)
        results = [o for o in every if start < o.deployment.applied_at <= stop]
        m = _metrics(results, days=max(_seconds(stop - start), 0.0) / 86400)
        points.append(
            {
                "week_start": start,
                "deployments": m["deployment_frequency"]["deployments"],
                "lead_time_median_s": m["lead_time"]["median_s"],
                "change_failure_rate": m["change_failure_rate"]["rate"],
                "failures": m["change_failure_rate"]["failures"],
                "time_to_restore_median_s": m["time_to_restore"]["median_s"],
            }
        )
    return points
