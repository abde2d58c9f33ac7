"""DORA maths on constructed deployments and health signals (no store)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from plinth.capabilities.dora import Deployment, HealthSignal, band_for, compute, weekly_series
from plinth.capabilities.dora.metrics import outcomes, percentile, week_start

T0 = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)  # a Monday
H = timedelta(hours=1)
S = timedelta(seconds=1)


def dep(
    n: int,
    at: datetime,
    *,
    commit_h: float | None = 1.0,
    running_min: float | None = 5.0,
    rolled_back_at: datetime | None = None,
    env: str = "prod",
    project: str = "checkout",
) -> Deployment:
    """A deployment ``n`` applied at ``at``: committed ``commit_h`` hours before."""
    return Deployment(
        id=f"d{n}",
        team="payments",
        environment=env,
        project=project,
        applied_at=at,
        commit_sha="abc1234" if commit_h is not None else None,
        commit_time=at - commit_h * H if commit_h is not None else None,
        running_at=at + timedelta(minutes=running_min) if running_min is not None else None,
        rolled_back_at=rolled_back_at,
    )


def sig(at: datetime, healthy: bool, *, resource: str = "web") -> HealthSignal:
    """A health signal of prod/checkout."""
    return HealthSignal(
        "prod", "checkout", at, healthy, "Failed" if not healthy else "Updated", resource
    )


def window(deps: list[Deployment], signals: list[HealthSignal], days: int = 7) -> dict[str, Any]:
    """Compute over the week after T0."""
    return compute(deps, signals, start=T0 - timedelta(seconds=1), end=T0 + timedelta(days=days))


def test_no_deployments() -> None:
    m = window([], [])
    assert m["deployment_frequency"]["deployments"] == 0
    assert m["deployment_frequency"]["band"] == "low"
    assert m["lead_time"]["median_s"] is None and m["lead_time"]["band"] is None
    assert m["change_failure_rate"]["rate"] is None
    assert m["time_to_restore"]["median_s"] is None
    assert m["overall_band"] == "low"


def test_frequency_and_lead_time() -> None:
    deps = [dep(i, T0 + i * 12 * H, commit_h=i + 1) for i in range(14)]  # 2 a day
    m = window(deps, [])
    assert m["deployment_frequency"]["deployments"] == 14
    assert m["deployment_frequency"]["per_day"] == pytest.approx(2.0, rel=1e-3)
    assert m["deployment_frequency"]["band"] == "elite"
    lead = m["lead_time"]
    # lead = commit_h hours + 5 minutes; median of 1..14 hours is 7.5 h
    assert lead["median_s"] == pytest.approx(7.5 * 3600 + 300)
    assert lead["count"] == 14 and lead["without_commit"] == 0
    assert lead["band"] == "elite"
    assert m["change_failure_rate"]["rate"] == 0.0


def test_missing_commit_or_not_running_is_left_out_of_lead_time() -> None:
    deps = [dep(1, T0, commit_h=None), dep(2, T0 + H, running_min=None), dep(3, T0 + 2 * H)]
    lead = window(deps, [])["lead_time"]
    assert lead["count"] == 1 and lead["without_commit"] == 1 and lead["not_running"] == 1


def test_failure_and_restore_time() -> None:
    deps = [dep(1, T0), dep(2, T0 + 10 * H)]
    signals = [
        sig(T0 + 5 * timedelta(minutes=1), True),
        sig(T0 + 2 * H, False),
        sig(T0 + 3 * H, True),
    ]
    m = window(deps, signals)
    assert m["change_failure_rate"]["failures"] == 1
    assert m["change_failure_rate"]["rate"] == 0.5
    assert m["change_failure_rate"]["band"] == "low"
    assert m["time_to_restore"]["median_s"] == pytest.approx(3600.0)
    assert m["time_to_restore"]["band"] == "high"


def test_failure_without_restore_is_open() -> None:
    m = window([dep(1, T0)], [sig(T0 + H, False)])
    assert m["change_failure_rate"]["failures"] == 1
    assert m["time_to_restore"]["count"] == 0
    assert m["time_to_restore"]["open_failures"] == 1
    assert m["time_to_restore"]["median_s"] is None


def test_failure_after_the_window_or_the_next_deploy_is_not_this_ones() -> None:
    late = window([dep(1, T0)], [sig(T0 + 30 * H, False)])
    assert late["change_failure_rate"]["failures"] == 0
    deps = [dep(1, T0), dep(2, T0 + H)]
    result = outcomes(deps, [sig(T0 + 2 * H, False)])
    assert [o.failed for o in result] == [False, True]


def test_other_scope_signals_do_not_count() -> None:
    other = HealthSignal("dev", "checkout", T0 + H, False, "Failed", "web")
    assert window([dep(1, T0)], [other])["change_failure_rate"]["failures"] == 0


def test_rollback_counts_as_failure_restored_when_the_rollback_runs() -> None:
    bad = dep(1, T0, rolled_back_at=T0 + H)
    rollback = dep(2, T0 + H)
    signals = [HealthSignal("prod", "checkout", T0 + H + 5 * timedelta(minutes=1), True, "Running")]
    m = window([bad, rollback], signals)
    assert m["change_failure_rate"]["causes"] == {"rollback": 1}
    # failed when the bad change ran (T0+5m), restored when the rollback ran (T0+1h5m)
    assert m["time_to_restore"]["median_s"] == pytest.approx(3600.0)


def test_restore_waits_for_the_failed_resource() -> None:
    signals = [sig(T0 + H, False, resource="db"), sig(T0 + 2 * H, True, resource="web")]
    signals.append(sig(T0 + 3 * H, True, resource="db"))
    m = window([dep(1, T0)], signals)
    assert m["time_to_restore"]["median_s"] == pytest.approx(2 * 3600.0)


def test_weekly_series_is_monday_aligned_and_oldest_first() -> None:
    deps = [dep(1, T0), dep(2, T0 + timedelta(days=8)), dep(3, T0 + timedelta(days=9))]
    points = weekly_series(deps, [], end=T0 + timedelta(days=10), weeks=3)
    assert [p["week_start"] for p in points] == [
        week_start(T0) - timedelta(weeks=1),
        week_start(T0),
        week_start(T0) + timedelta(weeks=1),
    ]
    assert [p["deployments"] for p in points] == [0, 1, 2]
    assert points[0]["change_failure_rate"] is None


@pytest.mark.parametrize(
    ("metric", "value", "band"),
    [
        ("deployment_frequency", 3.0, "elite"),
        ("deployment_frequency", 0.5, "high"),
        ("deployment_frequency", 0.1, "medium"),
        ("deployment_frequency", 0.01, "low"),
        ("lead_time", 3600.0, "elite"),
        ("lead_time", 3 * 86400.0, "high"),
        ("lead_time", 20 * 86400.0, "medium"),
        ("lead_time", 60 * 86400.0, "low"),
        ("change_failure_rate", 0.05, "elite"),
        ("change_failure_rate", 0.10, "high"),
        ("change_failure_rate", 0.15, "medium"),
        ("change_failure_rate", 0.5, "low"),
        ("time_to_restore", 600.0, "elite"),
        ("time_to_restore", 7200.0, "high"),
        ("time_to_restore", 3 * 86400.0, "medium"),
        ("time_to_restore", 30 * 86400.0, "low"),
    ],
)
def test_bands(metric: str, value: float, band: str) -> None:
    assert band_for(metric, value) == band


def test_percentile() -> None:
    assert percentile([], 0.5) is None
    assert percentile([3.0], 0.9) == 3.0
    assert percentile([1.0, 2.0, 3.0, 4.0], 0.5) == 2.5
