"""The price book: what one unit of compute, storage, egress or tokens costs, where.

A :class:`Rate` prices one SKU (``compute.vcpu``, ``accelerator.h100``,
``llm.openai/gpt-4o.input``...) for one provider, region and price type
(``on_demand``, ``spot``, ``on_prem``). The default book ships with the package
(``data/pricebook.yaml``: dated public list prices with their sources, and
``data/llm-token-prices.json``: per-token prices derived from BerriAI/litellm,
MIT). Users load their own rates with ``PriceBook`` documents; their rows win.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field, replace
from datetime import date
from decimal import Decimal, InvalidOperation
from functools import cache
from importlib import resources
from typing import Any

import yaml
from sqlalchemy import select
from sqlalchemy.orm import Session

from plinth.capabilities.inventory.models import DocumentRecord
from plinth.core.errors import InvalidInput, Issue, SpecError

__all__ = [
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

PRICE_TYPES = ("on_demand", "spot", "on_prem")
_Key = tuple[str, str, str, str]


@dataclass(frozen=True)
class Rate:
    """The price of one unit of one SKU at one provider, region and price type."""

    sku: str
    provider: str
    region: str
    price_type: str
    unit: str
    amount: Decimal
    currency: str
    source: str

    def key(self) -> _Key:
        """Return the identity of the rate: ``(sku, provider, region, price_type)``."""
        return (self.sku, self.provider, self.region, self.price_type)

    def as_dict(self) -> dict[str, str]:
        """Return the rate as JSON-ready data (the amount as a decimal string)."""
        return {
            "sku": self.sku,
            "provider": self.provider,
            "region": self.region,
            "price_type": self.price_type,
            "unit": self.unit,
            "amount": format(self.amount, "f"),
            "currency": self.currency,
            "source": self.source,
        }


@dataclass(frozen=True)
class PriceBook:
    """A versioned, dated set of rates; look-ups are exact, misses name what is known."""

    version: str
    effective: date
    currency: str
    _rates: dict[_Key, Rate] = field(default_factory=dict, repr=False)

    @classmethod
    def of(cls, *, version: str, effective: date, currency: str, rates: list[Rate]) -> PriceBook:
        """Build a book from a list of rates (later rows win over earlier ones)."""
        return cls(version, effective, currency, {r.key(): r for r in rates})

    def rate(self, sku: str, *, provider: str, region: str, price_type: str = "on_demand") -> Rate:
        """Return the rate, or raise InvalidInput naming the known alternatives."""
        found = self._rates.get((sku, provider, region, price_type))
        if found is not None:
            return found
        raise InvalidInput(self._miss(sku, provider, region, price_type))

    def find(
        self, sku: str, *, provider: str, region: str, price_type: str = "on_demand"
    ) -> Rate | None:
        """Return the rate, or None."""
        return self._rates.get((sku, provider, region, price_type))

    def rates(self) -> list[Rate]:
        """Return every rate, sorted by sku, provider, region and price type."""
        return [self._rates[k] for k in sorted(self._rates)]

    def with_overrides(self, rates: list[Rate]) -> PriceBook:
        """Return a copy in which ``rates`` replace (or add to) the book's own rows."""
        merged = dict(self._rates)
        merged.update({r.key(): r for r in rates})
        return replace(self, _rates=merged)

    def _miss(self, sku: str, provider: str, region: str, price_type: str) -> str:
        if price_type not in PRICE_TYPES:
            return f"unknown price type {price_type!r} (known: {', '.join(PRICE_TYPES)})"
        rows = [k for k in self._rates if k[0] == sku]
        if not rows:
            known = sorted({k[0] for k in self._rates if not k[0].startswith("llm.")})
            return f"unknown SKU {sku!r} in price book {self.version} (known: {', '.join(known)})"
        rows_p = [k for k in rows if k[1] == provider]
        if not rows_p:
            known = sorted({k[1] for k in rows})
            return f"no price for {sku} at provider {provider!r} (known: {', '.join(known)})"
        rows_r = [k for k in rows_p if k[2] == region]
        if not rows_r:
            known = sorted({k[2] for k in rows_p})
            return (
                f"no price for {sku} at {provider} in region {region!r} (known: {', '.join(known)})"
            )
        known = sorted({k[3] for k in rows_r})
        return (
            f"no {price_type} price for {sku} at {provider} in {region} (known: {', '.join(known)})"
        )


def parse_amount(value: Any, where: str, *, what: str = "price") -> Decimal:
    """Return a non-negative finite Decimal, or raise InvalidInput naming ``where``."""
    if isinstance(value, bool) or not isinstance(value, str | int | float | Decimal):
        raise InvalidInput(f"{where}: {what} {value!r} is not a number")
    try:
        amount = Decimal(repr(value)) if isinstance(value, float) else Decimal(value)
    except InvalidOperation:
        raise InvalidInput(f"{where}: {what} {value!r} is not a number") from None
    if not amount.is_finite():
        raise InvalidInput(f"{where}: {what} {value!r} is not finite")
    if amount < 0:
        raise InvalidInput(f"{where}: {what} {value!r} is negative")
    return amount


def _load_cloud() -> tuple[str, date, str, list[Rate]]:
    package = resources.files("plinth.capabilities.finops").joinpath("data")
    raw = yaml.safe_load(package.joinpath("pricebook.yaml").read_text(encoding="utf-8"))
    currency = str(raw["currency"])
    sources: dict[str, str] = raw["sources"]
    rates = []
    for n, row in enumerate(raw["rates"]):
        sku, provider, region, price_type, unit, amount, source = row
        where = f"pricebook.yaml rates[{n}]"
        rates.append(
            Rate(
                sku,
                provider,
                region,
                price_type,
                unit,
                parse_amount(amount, where),
                currency,
                sources[source],
            )
        )
    return str(raw["version"]), date.fromisoformat(str(raw["effective"])), currency, rates


def _load_llm() -> list[Rate]:
    package = resources.files("plinth.capabilities.finops").joinpath("data")
    raw = json.loads(package.joinpath("llm-token-prices.json").read_text(encoding="utf-8"))
    cite = f"BerriAI/litellm model prices (MIT), snapshot {raw['snapshot']}"
    rates = []
    for n, model in enumerate(raw["models"]):
        sides = ["input"] if model["mode"] == "embedding" else ["input", "output"]
        for side in sides:
            amount = parse_amount(model[f"{side}_per_token"], f"llm-token-prices.json models[{n}]")
            sku = f"llm.{model['provider']}/{model['model']}.{side}"
            rates.append(
                Rate(
                    sku,
                    model["provider"],
                    "global",
                    "on_demand",
                    "token",
                    amount,
                    raw["currency"],
                    cite,
                )
            )
    return rates


@cache
def default_pricebook() -> PriceBook:
    """Return the curated, dated default price book shipped in the package."""
    version, effective, currency, rates = _load_cloud()
    return PriceBook.of(
        version=version, effective=effective, currency=currency, rates=rates + _load_llm()
    )


_RATE_FIELDS = ("sku", "provider", "region", "price_type", "unit", "amount")


def rates_from_document(doc: dict[str, Any], *, document: int | None = None) -> list[Rate]:
    """Return the rates of one ``PriceBook`` document; SpecError lists every bad row."""
    spec = doc.get("spec") or {}
    name = str((doc.get("metadata") or {}).get("name", ""))
    currency = str(spec.get("currency", "USD"))
    default_source = str(spec.get("source", f"PriceBook {name}"))
    issues: list[Issue] = []
    rates: list[Rate] = []
    for n, row in enumerate(spec.get("rates") or []):
        path = f"$.spec.rates[{n}]"
        if not isinstance(row, dict):
            issues.append(Issue("a rate must be a mapping", path, document))
            continue
        missing = [f for f in _RATE_FIELDS if f not in row]
        if missing:
            issues.append(Issue(f"missing {', '.join(missing)}", path, document))
            continue
        if row["price_type"] not in PRICE_TYPES:
            message = f"unknown price type {row['price_type']!r} (known: {', '.join(PRICE_TYPES)})"
            issues.append(Issue(message, f"{path}.price_type", document))
            continue
        try:
            amount = parse_amount(row["amount"], f"rate {n}")
        except InvalidInput as error:
            issues.append(Issue(error.detail.split(": ", 1)[1], f"{path}.amount", document))
            continue
        source = str(row.get("source", default_source))
        rates.append(
            Rate(
                str(row["sku"]),
                str(row["provider"]),
                str(row["region"]),
                row["price_type"],
                str(row["unit"]),
                amount,
                str(row.get("currency", currency)),
                source,
            )
        )
    if issues:
        raise SpecError(issues)
    return rates


def pricebook_from_documents(docs: list[dict[str, Any]]) -> PriceBook:
    """Return the default book overridden by ``PriceBook`` documents (by name order)."""
    book = default_pricebook()
    ordered = sorted(docs, key=lambda d: str((d.get("metadata") or {}).get("name", "")))
    names = []
    for n, doc in enumerate(ordered):
        book = book.with_overrides(rates_from_document(doc, document=n))
        names.append(str((doc.get("metadata") or {}).get("name", "")))
    if names:
        book = replace(book, version=f"{book.version}+{'+'.join(names)}")
    return book


_BOOKS: dict[tuple[tuple[str, str], ...], PriceBook] = {}
_BOOKS_KEPT = 16


def current_pricebook(session: Session) -> PriceBook:
    """Return the default book with every stored ``PriceBook`` document applied.

    Books are kept by the digests of the documents they were built from, so the
    hot path (every plan, every usage batch) reads two short columns instead of
    parsing and validating every document again; any change of a document is a
    new digest and so a new book.
    """
    stmt = select(DocumentRecord.id, DocumentRecord.digest).where(
        DocumentRecord.kind == "PriceBook"
    )
    key = tuple(sorted((str(i), str(d)) for i, d in session.execute(stmt).all()))
    book = _BOOKS.get(key)
    if book is None:
        bodies = session.scalars(
            select(DocumentRecord.body).where(DocumentRecord.kind == "PriceBook")
        ).all()
        book = pricebook_from_documents([dict(b) for b in bodies if isinstance(b, dict)])
        if len(_BOOKS) >= _BOOKS_KEPT:
            _BOOKS.clear()
        _BOOKS[key] = book
    return book


_DIMENSION_SKUS = {
    "cpu": "compute.vcpu",
    "memory": "compute.memory",
    "gpu": "accelerator.gpu",
    "storage": "storage.block",
    "egress": "network.egress",
    "instance": "database.postgres",
}


def sku_for(*, resource_type: str, dimension: str, provider: str = "", model: str = "") -> str:
    """Return the SKU that prices ``dimension`` of a resource (e.g. ``cpu`` → ``compute.vcpu``)."""
    if dimension in ("tokens_input", "tokens_output"):
        if not model:
            raise InvalidInput(f"{dimension} needs the model it was used with")
        return f"llm.{provider}/{model}.{dimension.removeprefix('tokens_')}"
    if dimension.startswith("gpu.") or dimension.startswith("gpu:"):
        return f"accelerator.{dimension[4:].lower()}"
    if dimension == "storage" and resource_type == "postgres":
        return "database.storage"
    sku = _DIMENSION_SKUS.get(dimension)
    if sku is None:
        known = ", ".join([*_DIMENSION_SKUS, "gpu.<type>", "tokens_input", "tokens_output"])
        raise InvalidInput(f"unknown usage dimension {dimension!r} (known: {known})")
    return sku


def price_of_usage(
    book: PriceBook,
    *,
    provider: str,
    region: str,
    resource_type: str,
    dimension: str,
    quantity: Decimal,
    price_type: str = "on_demand",
    model: str = "",
) -> tuple[Rate, Decimal]:
    """Return the rate of a metered dimension and the cost of ``quantity`` of it."""
    sku = sku_for(resource_type=resource_type, dimension=dimension, provider=provider, model=model)
    if sku.startswith("llm."):
        found = book.find(sku, provider=provider, region=region, price_type=price_type)
        rate = found or book.rate(sku, provider=provider, region="global", price_type="on_demand")
    else:
        rate = book.rate(sku, provider=provider, region=region, price_type=price_type)
    return rate, quantity * rate.amount
