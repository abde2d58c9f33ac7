"""Metering: samples become priced, attributed ledger rows; max(requested, used); bad input."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import func, select
from tests.capabilities.finops.metering_world import (
    CPU_HOUR,
    GIB_HOUR,
    add_resource,
    count_rows,
    ledger_rows,
    local_book,
    seed_org,
)
from tests.infrastructure.store import reuse

from plinth.capabilities.finops import metering_models  # noqa: F401 - tables on Base
from plinth.capabilities.finops.metering import UsageSample, ingest, parse_samples
from plinth.capabilities.finops.models import CostEntry
from plinth.core.clock import FrozenClock
from plinth.core.errors import SpecError
from plinth.core.ids import SequentialIds
from plinth.infrastructure.store.db import Database

shared_database_url = reuse.shared_database_url
database_url = reuse.emptied_database_url

MIB = 1024**2


def sample(at: datetime | str | float, **fields: Any) -> UsageSample:
    """Return a one-hour cpu sample (override anything)."""
    base: dict[str, Any] = {
        "at": at,
        "period_s": 3600,
        "dimension": "cpu",
        "quantity": 0,
        "unit": "vcpu-second",
    }
    return parse_samples([base | fields])[0]


@pytest.fixture
def org(database: Database, clock: FrozenClock, ids: SequentialIds) -> dict[str, str]:
    """Seed the organisation and three resources; return their ids by name."""
    with database.transaction() as session:
        seed_org(session, ids=ids, clock=clock)
        return {
            "web": add_resource(session, name="web", ids=ids, clock=clock),
            "trainer": add_resource(
                session,
                name="trainer",
                project="recommender",
                cpu="2",
                memory="1Gi",
                ids=ids,
                clock=clock,
            ),
            "bare": add_resource(session, name="bare", cpu=None, memory=None, ids=ids, clock=clock),
        }


def run(database: Database, clock: FrozenClock, samples: list[UsageSample], **kw: Any) -> int:
    with database.transaction() as session:
        return ingest(session, samples, book=local_book(), clock=clock, **kw)


def test_used_above_requested_is_charged_as_used(
    database: Database, clock: FrozenClock, org: dict[str, str]
) -> None:
    start = clock.now() - timedelta(hours=1)
    # One full core for an hour against 500m requested: charged 1 vCPU-hour.
    assert run(database, clock, [sample(start, resource_id=org["web"], quantity=3600)]) == 1
    [row] = ledger_rows(database)
    assert (row.team, row.project, row.environment, row.region) == (
        "payments",
        "checkout",
        "dev",
        "local",
    )
    assert (row.provider, row.resource_type, row.resource_name) == ("local", "service", "web")
    assert (row.source, row.sku, row.unit, row.dimension) == (
        "meter",
        "compute.vcpu",
        "vcpu-hour",
        "cpu",
    )
    assert row.quantity == Decimal(1) and row.unit_price == CPU_HOUR and row.cost == CPU_HOUR
    assert row.extra["used"] == pytest.approx(1.0) and row.extra["requested"] == pytest.approx(0.5)
    assert row.at == start and row.period_s == 3600
    with database.read() as session:  # stored exactly as the store writes times elsewhere
        assert session.scalar(select(func.count()).where(CostEntry.at == start)) == 1


def test_requested_above_used_is_charged_as_requested(
    database: Database, clock: FrozenClock, org: dict[str, str]
) -> None:
    start = clock.now() - timedelta(hours=1)
    samples = [
        sample(start, resource_id=org["web"], quantity=360),  # 0.1 core used, 0.5 requested
        sample(start, resource_id=org["web"], dimension="memory", quantity=64 * MIB, unit="byte"),
    ]
    assert run(database, clock, samples) == 2
    rows = {r.dimension: r for r in ledger_rows(database)}
    assert rows["cpu"].quantity == Decimal("0.5") and rows["cpu"].cost == CPU_HOUR / 2
    assert rows["memory"].quantity == Decimal("0.25")  # 256Mi requested for an hour
    assert rows["memory"].cost == GIB_HOUR / 4
    assert rows["memory"].extra["used"] == pytest.approx(0.0625)


def test_nothing_requested_means_used_is_charged(
    database: Database, clock: FrozenClock, org: dict[str, str]
) -> None:
    start = clock.now() - timedelta(hours=1)
    run(database, clock, [sample(start, resource_id=org["bare"], quantity=720)])
    [row] = ledger_rows(database)
    assert row.quantity == Decimal("0.2") and "requested" not in row.extra


def test_labels_cannot_move_a_known_resources_cost(
    database: Database, clock: FrozenClock, org: dict[str, str]
) -> None:
    start = clock.now() - timedelta(hours=1)
    moved = sample(start, resource_id=org["trainer"], team="payments", project="checkout")
    run(database, clock, [{**moved, "agent": "tuner", "model": "gpt-4o"}])
    [row] = ledger_rows(database)
    assert (row.team, row.project) == ("ml-research", "recommender")
    assert (row.agent, row.model) == ("tuner", "gpt-4o")
    assert row.quantity == Decimal(2)  # the trainer requests 2 cores


def test_unknown_resources_are_attributed_by_labels_or_kept_unattributed(
    database: Database, clock: FrozenClock, org: dict[str, str]
) -> None:
    start = clock.now() - timedelta(hours=1)
    where = {"provider": "aws", "region": "us-east-1", "quantity": 3600}
    samples = [
        sample(start, resource_id="i-0abc", team="payments", **where),
        sample(start, resource_id="i-0def", project="recommender", **where),
        sample(start, resource_name="orphan-vm", **where),
    ]
    assert run(database, clock, samples) == 3
    teams = sorted(r.team for r in ledger_rows(database))
    assert teams == ["", "ml-research", "payments"]
    assert all(r.cost == Decimal("0.04048") for r in ledger_rows(database))


def test_epoch_seconds_and_offsets_are_times_too(database: Database, clock: FrozenClock) -> None:
    start = clock.now() - timedelta(hours=1)
    where = {"provider": "aws", "region": "us-east-1", "team": "payments", "quantity": 1}
    offset = start.astimezone(timezone(timedelta(hours=5, minutes=30))).isoformat()
    run(database, clock, [sample(start.timestamp(), **where), sample(offset, **where)])
    [row] = ledger_rows(database)  # the same hour, the same key: one row of two samples
    assert row.at == start and row.extra["samples"] == 2


def test_llm_tokens_are_priced_by_model(database: Database, clock: FrozenClock) -> None:
    start = clock.now() - timedelta(minutes=1)
    tokens = {"provider": "openai", "model": "gpt-4o", "unit": "token", "period_s": 60}
    samples = [
        sample(start, dimension="tokens_input", quantity=1000, team="ml-research", **tokens),
        sample(start, dimension="tokens_output", quantity=100, team="ml-research", **tokens),
    ]
    run(database, clock, samples)
    costs = {r.dimension: r.cost for r in ledger_rows(database)}
    assert costs == {"tokens_input": Decimal("0.0025"), "tokens_output": Decimal("0.001")}


def test_samples_of_one_hour_roll_up_into_one_row(
    database: Database, clock: FrozenClock, org: dict[str, str]
) -> None:
    hour = clock.now().replace(minute=0) - timedelta(hours=2)
    samples = [
        sample(hour + timedelta(minutes=10 * n), resource_id=org["web"], period_s=600, quantity=600)
        for n in range(9)  # 6 in the first hour, 3 in the next
    ]
    assert run(database, clock, samples) == 2
    first, second = ledger_rows(database)
    assert first.extra["samples"] == 6 and second.extra["samples"] == 3
    assert first.at == hour and first.period_s == 3600
    assert first.quantity == Decimal(1) and second.quantity == Decimal("0.5")


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"dimension": "warp"}, "unknown usage dimension 'warp'"),
        ({"unit": "gib"}, "unit 'gib' cannot be priced in vcpu-hour"),
        ({"provider": "aws", "region": "mars-1"}, "region 'mars-1'"),
        ({"provider": "nowhere"}, "provider 'nowhere'"),
        ({"provider": ""}, "no provider"),
        ({"at_offset": timedelta(hours=2)}, "in the future"),
        ({"at": "2026-11-28T10:00:00"}, "has no time zone"),
        ({"at": "yesterday"}, "not an ISO 8601 timestamp"),
        ({"at": [2026]}, "is not a timestamp"),
    ],
)
def test_bad_samples_are_refused_by_row_and_nothing_is_written(
    database: Database,
    clock: FrozenClock,
    org: dict[str, str],
    fields: dict[str, Any],
    message: str,
) -> None:
    fields = dict(fields)
    start = clock.now() - timedelta(hours=1) + fields.pop("at_offset", timedelta())
    good = sample(clock.now() - timedelta(hours=1), resource_id=org["web"], quantity=1)
    at = fields.pop("at", start)
    bad = sample(at, **({"team": "payments", "provider": "aws", "region": "us-east-1"} | fields))
    with pytest.raises(SpecError) as caught:
        run(database, clock, [good, good, bad])
    assert caught.value.issues[0].path in ("$.samples[2]", "$.samples[2].at")
    assert message in caught.value.issues[0].message
    assert count_rows(database) == 0


def test_unpriced_usage_is_kept_at_zero_when_asked(database: Database, clock: FrozenClock) -> None:
    start = clock.now() - timedelta(hours=1)
    odd = sample(start, provider="nowhere", team="payments", quantity=7)
    assert run(database, clock, [odd], on_unpriced="zero") == 1
    [row] = ledger_rows(database)
    assert row.cost == 0 and row.quantity == Decimal(7) and row.unit == "vcpu-second"
    assert "provider 'nowhere'" in row.extra["unpriced"]


@pytest.mark.parametrize(
    "fields",
    [
        {"period_s": 0},
        {"quantity": -1},
        {"quantity": "NaN"},
        {"dimension": "CPU!"},
        {"colour": "blue"},
        {"price_type": "cheap"},
    ],
)
def test_sample_shape_is_validated(fields: dict[str, Any]) -> None:
    base = {
        "at": "2026-11-28T10:00:00Z",
        "period_s": 10,
        "dimension": "cpu",
        "quantity": 1,
        "unit": "vcpu-second",
    }
    with pytest.raises(SpecError) as caught:
        parse_samples([base, base | fields])
    assert caught.value.issues[0].path.startswith("$.samples[1]")
