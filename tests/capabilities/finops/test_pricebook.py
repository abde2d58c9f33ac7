"""The price book: the shipped, dated default; look-ups; the user's own rates; bad rates."""

from __future__ import annotations

import re
from datetime import date
from decimal import Decimal
from typing import Any

import pytest

from plinth.capabilities.finops.pricebook import (
    PRICE_TYPES,
    Rate,
    current_pricebook,
    default_pricebook,
    price_of_usage,
    pricebook_from_documents,
    rates_from_document,
    sku_for,
)
from plinth.capabilities.inventory import service as inventory
from plinth.core.clock import FrozenClock
from plinth.core.errors import InvalidInput, SpecError
from plinth.core.ids import SequentialIds
from plinth.infrastructure.store.db import Database


def own_rates(*rows: Any, name: str = "negotiated") -> dict[str, Any]:
    """Return a PriceBook document with ``rows``."""
    return {
        "apiVersion": "plinth.dev/v1",
        "kind": "PriceBook",
        "metadata": {"name": name},
        "spec": {"currency": "USD", "source": "our contract, 2026-01", "rates": list(rows)},
    }


def row(**fields: Any) -> dict[str, Any]:
    """Return one rate row (aws us-east-1 on-demand vCPU unless told otherwise)."""
    base = {
        "sku": "compute.vcpu",
        "provider": "aws",
        "region": "us-east-1",
        "price_type": "on_demand",
        "unit": "vcpu-hour",
        "amount": "0.03",
    }
    return base | fields


def test_default_book_is_dated_and_every_rate_cites_a_source() -> None:
    book = default_pricebook()
    assert book.effective == date(2025, 7, 1) and book.currency == "USD"
    rates = book.rates()
    assert all(r.amount >= 0 and r.price_type in PRICE_TYPES for r in rates)
    cloud = [r for r in rates if not r.sku.startswith("llm.")]
    assert all(re.search(r"https://\S+ .*20\d\d-\d\d", r.source) for r in cloud)
    for provider in ("aws", "gcp", "azure"):
        regions = {r.region for r in cloud if r.provider == provider and r.sku == "compute.vcpu"}
        assert len(regions) >= 2, provider
        kinds = {r.price_type for r in cloud if r.provider == provider}
        assert kinds == {"on_demand", "spot"}, provider
    skus = {r.sku for r in cloud}
    assert {"accelerator.h100", "accelerator.a100", "accelerator.l4", "accelerator.v100"} <= skus
    assert {"storage.block", "network.egress", "database.postgres", "database.storage"} <= skus


def test_llm_token_prices_come_from_litellm_with_attribution() -> None:
    book = default_pricebook()
    llm = [r for r in book.rates() if r.sku.startswith("llm.")]
    assert 40 <= len({r.sku.rsplit(".", 1)[0] for r in llm}) <= 80
    assert {r.provider for r in llm} >= {"openai", "anthropic", "gemini", "mistral"}
    assert all("BerriAI/litellm" in r.source and "MIT" in r.source for r in llm)
    gpt = book.rate("llm.openai/gpt-4o.input", provider="openai", region="global")
    assert gpt.amount == Decimal("0.0000025") and gpt.unit == "token"
    # Embedding models have no output price.
    assert (
        book.find("llm.openai/text-embedding-3-small.output", provider="openai", region="global")
        is None
    )


def test_a_rate_is_found_exactly() -> None:
    rate = default_pricebook().rate(
        "compute.vcpu", provider="gcp", region="us-central1", price_type="spot"
    )
    assert (rate.unit, rate.currency, rate.price_type) == ("vcpu-hour", "USD", "spot")
    on_demand = default_pricebook().rate("compute.vcpu", provider="gcp", region="us-central1")
    assert rate.amount < on_demand.amount


@pytest.mark.parametrize(
    ("sku", "provider", "region", "price_type", "message"),
    [
        ("compute.cpu", "aws", "us-east-1", "on_demand", "unknown SKU 'compute.cpu'.*compute.vcpu"),
        (
            "compute.vcpu",
            "ibm",
            "us-east-1",
            "on_demand",
            "provider 'ibm' \\(known: aws, azure, gcp",
        ),
        ("compute.vcpu", "aws", "mars-1", "on_demand", "region 'mars-1' \\(known: eu-west-1"),
        ("compute.vcpu", "aws", "us-east-1", "reserved", "unknown price type 'reserved'"),
        ("accelerator.h100", "azure", "westeurope", "on_demand", "region 'westeurope'"),
        ("database.postgres", "aws", "us-east-1", "spot", "no spot price.*known: on_demand"),
    ],
)
def test_unknown_sku_region_provider_or_type_names_what_is_known(
    sku: str, provider: str, region: str, price_type: str, message: str
) -> None:
    with pytest.raises(InvalidInput, match=message):
        default_pricebook().rate(sku, provider=provider, region=region, price_type=price_type)


def test_own_rates_win_and_add_to_the_default() -> None:
    book = pricebook_from_documents(
        [
            own_rates(
                row(amount="0.02"),
                row(
                    sku="compute.vcpu",
                    provider="local",
                    region="local",
                    price_type="on_prem",
                    amount="0.01",
                ),
            )
        ]
    )
    assert book.version.endswith("+negotiated")
    vcpu = book.rate("compute.vcpu", provider="aws", region="us-east-1")
    assert vcpu.amount == Decimal("0.02") and vcpu.source == "our contract, 2026-01"
    assert book.rate(
        "compute.vcpu", provider="local", region="local", price_type="on_prem"
    ).amount == Decimal("0.01")
    # Everything else is still the default's.
    memory = book.rate("compute.memory", provider="aws", region="us-east-1")
    assert memory == default_pricebook().rate("compute.memory", provider="aws", region="us-east-1")
    assert default_pricebook().rate(
        "compute.vcpu", provider="aws", region="us-east-1"
    ).amount == Decimal("0.04048")


def test_with_overrides_returns_a_new_book() -> None:
    base = default_pricebook()
    cheap = Rate(
        "storage.block",
        "aws",
        "us-east-1",
        "on_demand",
        "gib-month",
        Decimal("0.01"),
        "USD",
        "test",
    )
    changed = base.with_overrides([cheap])
    assert changed.rate("storage.block", provider="aws", region="us-east-1") == cheap
    assert base.rate("storage.block", provider="aws", region="us-east-1").amount == Decimal("0.08")


def test_bad_rates_are_all_reported_with_their_paths() -> None:
    doc = own_rates(
        row(amount="-1"),
        row(amount="cheap"),
        row(amount=True),
        row(price_type="reserved"),
        {"sku": "compute.vcpu"},
        "not a mapping",
        row(amount="Infinity"),
    )
    with pytest.raises(SpecError) as raised:
        rates_from_document(doc, document=2)
    found = {(i.path, i.message) for i in raised.value.issues}
    assert ("$.spec.rates[0].amount", "price '-1' is negative") in found
    assert ("$.spec.rates[1].amount", "price 'cheap' is not a number") in found
    assert ("$.spec.rates[2].amount", "price True is not a number") in found
    assert any(p == "$.spec.rates[3].price_type" and "reserved" in m for p, m in found)
    assert any(p == "$.spec.rates[4]" and "missing provider" in m for p, m in found)
    assert ("$.spec.rates[5]", "a rate must be a mapping") in found
    assert ("$.spec.rates[6].amount", "price 'Infinity' is not finite") in found
    assert all(i.document == 2 for i in raised.value.issues)


def test_current_book_applies_stored_documents(
    database: Database, clock: FrozenClock, ids: SequentialIds
) -> None:
    with database.transaction() as session:
        assert current_pricebook(session).version == default_pricebook().version
        inventory.put_document(
            session,
            kind="PriceBook",
            name="negotiated",
            body=own_rates(row(amount="0.02")),
            actor="pat",
            plan_digest="",
            ids=ids,
            clock=clock,
        )
    with database.transaction() as session:
        book = current_pricebook(session)
    assert book.rate("compute.vcpu", provider="aws", region="us-east-1").amount == Decimal("0.02")


@pytest.mark.parametrize(
    ("resource_type", "dimension", "model", "sku"),
    [
        ("service", "cpu", "", "compute.vcpu"),
        ("service", "memory", "", "compute.memory"),
        ("service", "gpu.H100", "", "accelerator.h100"),
        ("volume", "storage", "", "storage.block"),
        ("postgres", "storage", "", "database.storage"),
        ("postgres", "instance", "", "database.postgres"),
        ("route", "egress", "", "network.egress"),
        ("agent", "tokens_output", "gpt-4o", "llm.openai/gpt-4o.output"),
    ],
)
def test_usage_dimensions_map_to_skus(
    resource_type: str, dimension: str, model: str, sku: str
) -> None:
    assert (
        sku_for(resource_type=resource_type, dimension=dimension, provider="openai", model=model)
        == sku
    )


def test_price_of_usage() -> None:
    book = default_pricebook()
    rate, cost = price_of_usage(
        book,
        provider="aws",
        region="us-east-1",
        resource_type="service",
        dimension="cpu",
        quantity=Decimal(10),
    )
    assert rate.sku == "compute.vcpu" and cost == Decimal("0.40480")
    rate, cost = price_of_usage(
        book,
        provider="anthropic",
        region="us-east-1",
        resource_type="agent",
        dimension="tokens_input",
        quantity=Decimal(1_000_000),
        model="claude-sonnet-4-5",
    )
    assert rate.region == "global" and cost == Decimal("3.000000")
    with pytest.raises(InvalidInput, match="unknown usage dimension 'disk'"):
        price_of_usage(
            book,
            provider="aws",
            region="us-east-1",
            resource_type="service",
            dimension="disk",
            quantity=Decimal(1),
        )
    with pytest.raises(InvalidInput, match="needs the model"):
        price_of_usage(
            book,
            provider="openai",
            region="global",
            resource_type="agent",
            dimension="tokens_input",
            quantity=Decimal(1),
        )


def test_public_surface_is_pinned() -> None:
    from plinth.capabilities.finops import pricebook

    assert sorted(pricebook.__all__) == [
        "PRICE_TYPES",
        "PriceBook",
        "Rate",
        "current_pricebook",
        "default_pricebook",
        "parse_amount",
        "price_of_usage",
        "pricebook_from_documents",
        "rates_from_document",
        "sku_for",
    ]
