"""Rating: from a metered quantity in the unit it came in to the unit a price is quoted in.

Sample units and the price units they convert to:

- ``vcpu-second``/``vcpu-hour`` (CPU time) and ``vcpu`` (cores held over the
  period) → ``vcpu-hour``; the same for ``gpu`` → ``gpu-hour`` and
  ``instance`` → ``instance-hour``;
- ``byte``/``gib`` (a size held over the period) → ``gib-hour`` (memory) or
  ``gib-month`` (storage; a month is 730 hours), ``byte-second``/``gib-hour``;
- ``byte``/``gib`` (an amount moved) → ``gib`` (egress); ``token`` → ``token``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from plinth.capabilities.finops.pricebook import PRICE_TYPES, PriceBook, Rate, sku_for
from plinth.core.errors import InvalidInput
from plinth.core.quantities import parse_quantity

__all__ = [
    "GIB",
    "HOUR",
    "IDENTITY",
    "MONTH",
    "SAMPLE_UNITS",
    "Conversion",
    "Pricer",
    "conversion",
    "default_price_type",
    "requested_of",
]

GIB = float(1024**3)
HOUR = 3600.0
MONTH = 730 * 3600.0  # the 730-hour month that cloud price lists use


@dataclass(frozen=True)
class Conversion:
    """How one sample unit becomes one price unit."""

    factor: float  # sample unit → price unit
    gauge_s: float | None  # a level held over the period: also multiply by period / gauge_s

    def apply(self, quantity: float, period_s: float) -> float:
        """Return ``quantity`` (held or used over ``period_s``) in the price unit."""
        value = quantity * self.factor
        if self.gauge_s is not None:
            value = value * period_s / self.gauge_s
        return value


IDENTITY = Conversion(1.0, None)
_PER_HOUR = {"vcpu": "vcpu-hour", "gpu": "gpu-hour", "instance": "instance-hour"}


def _conversions() -> dict[tuple[str, str], Conversion]:
    table: dict[tuple[str, str], Conversion] = {}
    for thing, price_unit in _PER_HOUR.items():
        table[(f"{thing}-hour", price_unit)] = IDENTITY
        table[(f"{thing}-second", price_unit)] = Conversion(1 / HOUR, None)
        table[(thing, price_unit)] = Conversion(1.0, HOUR)
    for size, factor in (("byte", 1 / GIB), ("gib", 1.0)):
        table[(size, "gib-hour")] = Conversion(factor, HOUR)
        table[(size, "gib-month")] = Conversion(factor, MONTH)
        table[(size, "gib")] = Conversion(factor, None)
    table[("byte-second", "gib-hour")] = Conversion(1 / GIB / HOUR, None)
    table[("gib-hour", "gib-hour")] = IDENTITY
    table[("gib-month", "gib-month")] = IDENTITY
    table[("token", "token")] = IDENTITY
    return table


_CONVERSIONS = _conversions()
SAMPLE_UNITS: dict[str, list[str]] = {}
for _sample_unit, _price_unit in _CONVERSIONS:
    SAMPLE_UNITS.setdefault(_price_unit, []).append(_sample_unit)


def conversion(sample_unit: str, price_unit: str) -> Conversion:
    """Return how ``sample_unit`` converts to ``price_unit``; InvalidInput names what fits."""
    found = _CONVERSIONS.get((sample_unit, price_unit))
    if found is None:
        units = ", ".join(SAMPLE_UNITS.get(price_unit, [])) or price_unit
        raise InvalidInput(f"unit {sample_unit!r} cannot be priced in {price_unit} (use {units})")
    return found


def requested_of(spec: Mapping[str, Any]) -> tuple[float | None, float | None]:
    """Return the (cores, bytes) a spec reserves in ``resources`` (None where it names none).

    A ``vm`` spec reserves its ``vcpus`` (default 1) and ``memory`` (default 256Mi): a VM
    holds them while it runs, whatever its guest uses.
    """
    if "vcpus" in spec or isinstance(spec.get("image"), Mapping):  # a vm's image is a mapping
        return _vm_requested(spec)
    amounts = spec.get("resources")
    if not isinstance(amounts, Mapping):
        return None, None
    found: list[float | None] = []
    for key in ("cpu", "memory"):
        raw = amounts.get(key)
        try:
            found.append(float(parse_quantity(raw)) if raw not in (None, "") else None)
        except InvalidInput:
            found.append(None)
    return found[0], found[1]


def _vm_requested(spec: Mapping[str, Any]) -> tuple[float | None, float | None]:
    vcpus = spec.get("vcpus", 1)
    cores = float(vcpus) if isinstance(vcpus, int) and not isinstance(vcpus, bool) else None
    try:
        memory: float | None = float(parse_quantity(spec.get("memory") or "256Mi"))
    except InvalidInput:
        memory = None
    return cores, memory


def default_price_type(provider: str) -> str:
    """Return the price type used when a sample names none: on-prem for ``local``."""
    return "on_prem" if provider == "local" else PRICE_TYPES[0]


class Pricer:
    """The rates of one price book, each looked up once."""

    def __init__(self, book: PriceBook) -> None:
        self.book = book
        self._cache: dict[tuple[str, ...], Rate | str] = {}

    def rate(
        self,
        *,
        provider: str,
        region: str,
        resource_type: str,
        dimension: str,
        model: str,
        price_type: str,
    ) -> Rate | str:
        """Return the rate of a metered dimension, or a message saying why there is none."""
        key = (provider, region, resource_type, dimension, model, price_type)
        found = self._cache.get(key)
        if found is None:
            found = self._lookup(*key)
            self._cache[key] = found
        return found

    def _lookup(
        self,
        provider: str,
        region: str,
        resource_type: str,
        dimension: str,
        model: str,
        price_type: str,
    ) -> Rate | str:
        if not provider:
            return "no provider: give the provider label (or a known resource_id) to price it"
        try:
            sku = sku_for(
                resource_type=resource_type, dimension=dimension, provider=provider, model=model
            )
            if sku.startswith("llm."):
                found = self.book.find(sku, provider=provider, region=region, price_type=price_type)
                return found or self.book.rate(
                    sku, provider=provider, region="global", price_type="on_demand"
                )
            return self.book.rate(sku, provider=provider, region=region, price_type=price_type)
        except InvalidInput as exc:
            return exc.detail
