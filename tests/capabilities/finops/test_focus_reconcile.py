"""Reconciliation: per resource, what the platform metered or estimated against what was billed."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest

from plinth.capabilities.finops.focus import ReconcileLine, import_focus, reconcile
from plinth.capabilities.finops.focus_spec import IMPORT_REQUIRED
from plinth.capabilities.finops.models import CostEntry
from plinth.core.clock import FrozenClock
from plinth.core.errors import InvalidInput
from plinth.infrastructure.store.db import Database

DAY = datetime(2026, 10, 5, tzinfo=UTC)
WINDOW = {"start": datetime(2026, 10, 1, tzinfo=UTC), "end": datetime(2026, 11, 1, tzinfo=UTC)}
LONG_ID = "arn:aws:ec2:us-east-1:123456789012:instance/" + "i-0" * 20


def cost(resource_id: str, amount: str, *, source: str = "meter", **kw: Any) -> CostEntry:
    """Return one ledger row of ``amount`` USD for a resource."""
    values: dict[str, Any] = {
        "at": DAY,
        "period_s": 3600.0,
        "source": source,
        "resource_id": resource_id,
        "resource_name": resource_id.removeprefix("res-"),
        "resource_type": "service",
        "provider": "aws",
        "region": "us-east-1",
        "team": "payments",
        "dimension": "cpu",
        "quantity": Decimal(1),
        "unit": "vcpu-hour",
        "unit_price": Decimal(amount),
        "cost": Decimal(amount),
        "currency": "USD",
        "extra": {},
        "ingested_at": DAY,
    }
    values.update(kw)
    return CostEntry(**values)


def bill(lines: list[tuple[str, str, str]]) -> str:
    """Return a FOCUS 1.2 bill with one usage line per (ResourceId, BilledCost, currency)."""
    names = [*IMPORT_REQUIRED, "ResourceId", "Tags"]
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=names, lineterminator="\n")
    writer.writeheader()
    for resource_id, amount, currency in lines:
        common = {name: "x" for name in IMPORT_REQUIRED}
        writer.writerow(
            {
                **common,
                "BilledCost": amount,
                "EffectiveCost": amount,
                "ListCost": amount,
                "ContractedCost": amount,
                "PricingQuantity": "1",
                "BillingCurrency": currency,
                "BillingPeriodStart": "2026-10-01T00:00:00Z",
                "BillingPeriodEnd": "2026-11-01T00:00:00Z",
                "ChargePeriodStart": "2026-10-05T00:00:00Z",
                "ChargePeriodEnd": "2026-10-05T01:00:00Z",
                "ChargeCategory": "Usage",
                "ChargeClass": "NULL",
                "ServiceCategory": "Compute",
                "ResourceId": resource_id,
                "Tags": '{"team": "payments"}',
            }
        )
    return out.getvalue()


@pytest.fixture
def lines(database: Database, clock: FrozenClock) -> dict[tuple[str, str], ReconcileLine]:
    """Meters, estimates and a bill for five resources; the reconciliation by (id, currency)."""
    with database.transaction() as session:
        session.add_all(
            [
                cost("res-web", "0.60"),
                cost("res-web", "0.40", dimension="memory"),
                cost("res-web", "0.90", source="estimate"),  # metered wins over estimated
                cost("res-db", "0.50", source="estimate"),  # only estimated
                cost("res-idle", "0.25"),  # metered, never billed
                cost(LONG_ID[:64], "2.00", extra={}),
                cost("res-web", "5.00", at=DAY + timedelta(days=40)),  # outside the window
                cost("", "9.99"),  # no resource: not reconciled
            ]
        )
        text = bill(
            [
                ("res-web", "1.10", "USD"),
                ("res-db", "0.40", "USD"),
                ("res-orphan", "0.30", "USD"),  # billed, never metered
                ("res-web", "3.00", "EUR"),
                (LONG_ID, "2.50", "USD"),
            ]
        )
        import_focus(session, text, source_name="aws-2026-10", clock=clock)
    with database.read() as session:
        found = reconcile(session, **WINDOW)
    return {(line.resource_id, line.currency): line for line in found}


def test_metered_cost_against_billed_cost(lines: dict[tuple[str, str], ReconcileLine]) -> None:
    web = lines[("res-web", "USD")]
    assert (web.metered, web.estimated, web.billed) == (
        Decimal("1.00"),
        Decimal("0.90"),
        Decimal("1.10"),
    )
    assert web.expected == Decimal("1.00")
    assert web.error == Decimal("-0.10") and web.error_pct == Decimal("-9.09")
    assert web.status == "matched" and web.team == "payments" and web.resource_name == "web"
    assert web.as_dict()["error_pct"] == "-9.09" and web.as_dict()["billed"] == "1.1"


def test_estimates_stand_in_when_nothing_was_metered(
    lines: dict[tuple[str, str], ReconcileLine],
) -> None:
    db = lines[("res-db", "USD")]
    assert (db.metered, db.expected, db.billed) == (Decimal(0), Decimal("0.50"), Decimal("0.40"))
    assert db.error == Decimal("0.10") and db.error_pct == Decimal("25.00")


def test_unbilled_and_unmetered_resources_are_shown(
    lines: dict[tuple[str, str], ReconcileLine],
) -> None:
    idle = lines[("res-idle", "USD")]
    assert idle.status == "not_billed" and idle.error == Decimal("0.25") and idle.error_pct is None
    orphan = lines[("res-orphan", "USD")]
    assert orphan.status == "not_metered" and orphan.error_pct == Decimal("-100.00")


def test_currencies_are_never_mixed(lines: dict[tuple[str, str], ReconcileLine]) -> None:
    euros = lines[("res-web", "EUR")]
    assert euros.billed == Decimal("3.00") and euros.status == "not_metered"
    assert "" not in {resource for resource, _ in lines}


def test_long_billed_ids_match_by_the_full_id(
    lines: dict[tuple[str, str], ReconcileLine],
) -> None:
    # The meter row here carries only the first 64 characters, so the two stay apart:
    # a bill's full id is what reconciliation compares.
    billed = lines[(LONG_ID, "USD")]
    assert billed.billed == Decimal("2.50") and billed.status == "not_metered"


def test_the_window_must_be_aware_and_forwards(database: Database) -> None:
    with database.read() as session, pytest.raises(InvalidInput):
        reconcile(session, start=datetime(2026, 10, 1), end=datetime(2026, 11, 1))
