"""Right-sizing from usage history: percentile plus margin, floors, noise and savings."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st
from tests.capabilities.finops.janitor_world import (
    VCPU_HOUR,
    meter,
    organisation,
    price_local,
    workload,
)
from tests.infrastructure.store import reuse

from plinth.capabilities.finops.rightsizing import (
    Recommendation,
    RightsizingPolicy,
    percentile,
    recommend,
    recommended_level,
)
from plinth.core.clock import FrozenClock
from plinth.core.errors import InvalidInput
from plinth.core.ids import SequentialIds
from plinth.infrastructure.store.db import Database

shared_database_url = reuse.shared_database_url
database_url = reuse.emptied_database_url

MIB = Decimal(1024**2)


def recommendations(
    database: Database, clock: FrozenClock, policy: RightsizingPolicy | None = None
) -> dict[tuple[str, str], Recommendation]:
    """Return the recommendations by (workload, dimension)."""
    with database.read() as session:
        found = recommend(session, now=clock.now(), policy=policy)
    return {(r.workload, r.dimension): r for r in found}


def setup(database: Database, ids: SequentialIds, clock: FrozenClock) -> None:
    """The organisation and the on-prem prices."""
    with database.transaction() as session:
        organisation(session, ids=ids, clock=clock)
        price_local(session, ids=ids, clock=clock)


def test_percentile_is_nearest_rank() -> None:
    values = [float(v) for v in range(1, 101)]
    assert percentile(values, 95) == 95.0
    assert percentile(values, 100) == 100.0
    assert percentile([3.0, 1.0, 2.0], 50) == 2.0
    assert percentile([7.0], 1) == 7.0


def test_level_adds_the_margin_rounds_up_and_keeps_the_floor() -> None:
    step, floor = Decimal("0.01"), Decimal("0.05")
    assert recommended_level(0.1, margin=Decimal("0.2"), floor=floor, step=step) == Decimal("0.12")
    assert recommended_level(0.101, margin=Decimal("0.2"), floor=floor, step=step) == Decimal(
        "0.13"
    )
    assert recommended_level(0.0, margin=Decimal("0.2"), floor=floor, step=step) == floor


@given(
    st.floats(min_value=0, max_value=1000, allow_nan=False),
    st.decimals(min_value=0, max_value=2, places=2),
)
def test_level_is_never_below_the_floor_or_the_observed_value(
    observed: float, margin: Decimal
) -> None:
    floor, step = Decimal("0.05"), Decimal("0.01")
    level = recommended_level(observed, margin=margin, floor=floor, step=step)
    assert level >= floor and level >= Decimal(repr(observed))
    assert (level / step) == (level / step).to_integral_value()


def test_policy_values_are_checked() -> None:
    with pytest.raises(InvalidInput, match="percentile"):
        RightsizingPolicy(cpu_percentile=0)
    with pytest.raises(InvalidInput, match="margin"):
        RightsizingPolicy(margin=Decimal("-0.1"))
    with pytest.raises(InvalidInput, match="floors"):
        RightsizingPolicy(cpu_floor=Decimal(0))
    assert RightsizingPolicy().as_dict()["memory_floor"] == "64Mi"


def test_an_oversized_service_gets_smaller_requests_with_savings(
    database: Database, ids: SequentialIds, clock: FrozenClock
) -> None:
    setup(database, ids, clock)
    cpu = [0.1] * 19 + [0.3]  # p95 of 20 samples is the 19th: 0.1 vCPU
    memory = [0.2] * 99 + [0.25]  # p99 of 100 samples is the 99th: 0.2 GiB
    with database.transaction() as session:
        web = workload(session, "web", ids=ids, clock=clock, cpu="1", memory="1Gi")
        meter(
            session,
            web,
            start=clock.now() - timedelta(days=5),
            hours=100,
            cpu=cpu,
            requested_cpu=1.0,
            memory_gib=memory,
            requested_gib=1.0,
        )
    found = recommendations(database, clock)
    cpu_rec, mem_rec = found[("web", "cpu")], found[("web", "memory")]
    assert (cpu_rec.current, cpu_rec.observed, cpu_rec.recommended) == ("1", "100m", "120m")
    assert (cpu_rec.percentile, cpu_rec.samples) == (95, 100)
    assert cpu_rec.monthly_savings == (1 - Decimal("0.12")) * VCPU_HOUR * 730
    assert cpu_rec.as_dict()["direction"] == "down"
    assert (
        cpu_rec.how == "set containers.c0.resources.limits.cpu to 120m in the workload's Score file"
    )
    # 0.2 GiB + 20 % = 245.76Mi, rounded up to 16Mi steps: 256Mi
    assert (mem_rec.current, mem_rec.recommended, mem_rec.percentile) == ("1Gi", "256Mi", 99)
    assert mem_rec.monthly_savings == Decimal("0.75") * Decimal("0.004") * 730
    with database.read() as session:
        ordered = recommend(session, now=clock.now())
    assert [r.dimension for r in ordered] == ["cpu", "memory"]  # biggest savings first


def test_floors_noise_history_and_under_provisioning(
    database: Database, ids: SequentialIds, clock: FrozenClock
) -> None:
    setup(database, ids, clock)
    start = clock.now() - timedelta(days=2)
    with database.transaction() as session:
        idle = workload(session, "idle", ids=ids, clock=clock, cpu="1")
        meter(session, idle, start=start, hours=30, cpu=0.0)
        fine = workload(session, "fine", ids=ids, clock=clock, cpu="250m")
        meter(session, fine, start=start, hours=30, cpu=0.2, requested_cpu=0.25)
        new = workload(session, "new", ids=ids, clock=clock, cpu="1")
        meter(session, new, start=start, hours=10, cpu=0.0)
        hot = workload(session, "hot", ids=ids, clock=clock, cpu="500m")
        meter(session, hot, start=start, hours=30, cpu=0.9, requested_cpu=0.5)
        old = workload(session, "old", ids=ids, clock=clock, cpu="1")
        meter(session, old, start=clock.now() - timedelta(days=30), hours=30, cpu=0.0)
    found = recommendations(database, clock)
    assert set(found) == {("idle", "cpu"), ("hot", "cpu")}
    assert found[("idle", "cpu")].recommended == "50m"  # the floor
    more = found[("hot", "cpu")]
    assert more.recommended == "1080m" and more.monthly_savings < 0
    assert more.as_dict()["direction"] == "up"
    wide = RightsizingPolicy(window=timedelta(days=40), min_samples=5)
    assert ("new", "cpu") in recommendations(database, clock, wide)
    assert ("old", "cpu") in recommendations(database, clock, wide)


def test_undeclared_requests_and_applications(
    database: Database, ids: SequentialIds, clock: FrozenClock
) -> None:
    setup(database, ids, clock)
    start = clock.now() - timedelta(days=2)
    with database.transaction() as session:
        bare = workload(session, "bare", ids=ids, clock=clock, cpu=None, containers=2)
        meter(session, bare, start=start, hours=30, cpu=0.5, requested_cpu=None)
        app = workload(session, "shop-web", ids=ids, clock=clock, cpu="2", owner="shop")
        meter(session, app, start=start, hours=30, cpu=0.1)
    found = recommendations(database, clock)
    bare_rec = found[("bare", "cpu")]
    assert bare_rec.current is None and bare_rec.recommended == "600m"
    assert "containers.<each>.resources.limits.cpu (summing to 600m)" in bare_rec.how
    shop = found[("shop-web", "cpu")]
    assert shop.application == "shop" and shop.team == "payments"
    assert shop.how.startswith(
        "add the override {path: containers.c0.resources.limits.cpu, value: 120m}"
    )
