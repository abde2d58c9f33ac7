"""Cost estimates of resources before they exist: hourly and monthly, with a breakdown.

The cost model (also in ``docs/finops.md``):

- a month is 730 hours (365 x 24 / 12);
- ``service``: (vCPUs x vCPU-hour + GiB x GiB-hour) x replicas, every hour of the month,
  from the resource's cpu and memory (limits, else requests, summed over containers);
  undeclared cpu is taken as ``DEFAULT_CPU`` and undeclared memory as ``DEFAULT_MEMORY``;
- ``job``: the same rates x the duration of a run x runs per month. Runs per month come from
  its cron schedule (croniter, over a reference month of 730 hours); a job without a
  schedule runs once. A run lasts its timeout (an upper bound), else
  ``DEFAULT_JOB_DURATION_S``;
- ``postgres``: a small managed instance (instance-hour) + its storage (GiB-month, the
  ``size`` in the spec, else ``DEFAULT_POSTGRES_STORAGE``);
- ``volume``: its ``size`` in GiB-months (``DEFAULT_VOLUME_SIZE`` when absent);
- ``vm``: every hour of the month, ``vcpus`` x vCPU-hour (default 1) + ``memory`` GiB x
  GiB-hour (default ``DEFAULT_VM_MEMORY``) + each declared ``gpu`` x its accelerator's
  GPU-hour (``accelerator.<type>``, ``accelerator.gpu`` when no type is given), plus its
  data ``disks`` in GiB-months of block storage, the same rates as services and volumes;
- ``route``: free; any other type: zero, with a note saying it is not priced.

A value that is still a placeholder (``${...}``) carries no cost; the note says so.
A rate missing from the price book gives a zero line and a note, never a failure.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from functools import lru_cache
from typing import Any

from croniter import croniter

from plinth.capabilities.finops.pricebook import PriceBook
from plinth.core.errors import InvalidInput
from plinth.core.quantities import format_quantity, parse_quantity

__all__ = [
    "DEFAULT_CPU",
    "DEFAULT_JOB_DURATION_S",
    "DEFAULT_MEMORY",
    "DEFAULT_POSTGRES_STORAGE",
    "DEFAULT_VOLUME_SIZE",
    "HOURS_PER_MONTH",
    "Estimate",
    "Line",
    "Pricing",
    "estimate_resource",
    "money",
    "pricing_for",
    "runs_per_month",
]

HOURS_PER_MONTH = Decimal(730)
GIB = Decimal(1024**3)
DEFAULT_CPU = Decimal("0.1")
DEFAULT_MEMORY = Decimal(128 * 1024**2)
DEFAULT_JOB_DURATION_S = 600
DEFAULT_VOLUME_SIZE = GIB
DEFAULT_POSTGRES_STORAGE = 10 * GIB
DEFAULT_VM_MEMORY = Decimal(256 * 1024**2)
_REFERENCE_START = datetime(2025, 1, 6, tzinfo=UTC)  # a Monday: a fixed, reproducible month
_WEEK_HOURS = Decimal(168)
_SAMPLE_RUNS = 12_000  # more than a week of minutes


def money(value: Decimal, places: int = 6) -> str:
    """Return a money amount as a fixed-point string (``places`` decimals)."""
    return format(value.quantize(Decimal(1).scaleb(-places)), "f")


@dataclass(frozen=True)
class Pricing:
    """Where a resource is priced: provider, region and price type."""

    provider: str
    region: str
    price_type: str = "on_demand"


def pricing_for(*, provider: str, region: str, price_type: str | None = None) -> Pricing:
    """Return the pricing of a resource; the local provider is priced on-prem."""
    if provider == "local":
        return Pricing("local", "local", price_type or "on_prem")
    return Pricing(provider, region, price_type or "on_demand")


@dataclass(frozen=True)
class Line:
    """One priced dimension of a resource over a month."""

    dimension: str
    sku: str
    quantity: Decimal
    unit: str
    unit_price: Decimal
    monthly: Decimal

    def as_dict(self) -> dict[str, str]:
        """Return the line as JSON data (decimal strings)."""
        return {
            "dimension": self.dimension,
            "sku": self.sku,
            "quantity": _plain(self.quantity),
            "unit": self.unit,
            "unit_price": format(self.unit_price.normalize(), "f"),
            "monthly": money(self.monthly),
        }


@dataclass(frozen=True)
class Estimate:
    """What a resource costs per hour and per month, line by line."""

    monthly: Decimal
    currency: str
    lines: tuple[Line, ...] = ()
    notes: tuple[str, ...] = ()
    quantities: dict[str, Decimal] = field(default_factory=dict)

    @property
    def hourly(self) -> Decimal:
        """Return the average cost of one hour (monthly / 730)."""
        return self.monthly / HOURS_PER_MONTH

    def as_dict(self) -> dict[str, Any]:
        """Return ``{hourly, monthly, currency, breakdown, notes}`` as JSON data."""
        return {
            "hourly": money(self.hourly),
            "monthly": money(self.monthly),
            "currency": self.currency,
            "breakdown": [line.as_dict() for line in self.lines],
            "notes": list(self.notes),
        }


class _Lines:
    """Collects priced lines and notes for one resource."""

    def __init__(self, book: PriceBook, pricing: Pricing) -> None:
        self.book, self.pricing = book, pricing
        self.lines: list[Line] = []
        self.notes: list[str] = []

    def add(self, dimension: str, sku: str, quantity: Decimal, *, per_hour: bool) -> None:
        p = self.pricing
        try:
            rate = self.book.rate(
                sku, provider=p.provider, region=p.region, price_type=p.price_type
            )
        except InvalidInput as error:
            self.notes.append(f"{dimension} not priced: {error.detail}")
            return
        monthly_quantity = quantity * HOURS_PER_MONTH if per_hour else quantity
        self.lines.append(
            Line(
                dimension,
                sku,
                monthly_quantity,
                _monthly_unit(rate.unit, per_hour),
                rate.amount,
                monthly_quantity * rate.amount,
            )
        )

    def result(self, quantities: dict[str, Decimal]) -> Estimate:
        total = sum((line.monthly for line in self.lines), Decimal(0))
        return Estimate(total, self.book.currency, tuple(self.lines), tuple(self.notes), quantities)


def _plain(value: Decimal) -> str:
    """Return ``value`` rounded to 6 decimals, without trailing zeros."""
    text = money(value)
    return text.rstrip("0").rstrip(".") if "." in text else text


def _monthly_unit(unit: str, per_hour: bool) -> str:
    return f"{unit} per month" if per_hour else unit


def _quantity(value: Any, default: Decimal, what: str, notes: list[str]) -> Decimal | None:
    """Parse a quantity; None (with a note) for placeholders or bad values."""
    if value is None:
        shown = format_quantity(default, binary=what != "cpu")
        notes.append(f"no {what} declared: assumed {shown}")
        return default
    if isinstance(value, str) and "${" in value:
        notes.append(f"{what} {value} is not known until apply: not priced")
        return None
    try:
        return parse_quantity(value)
    except InvalidInput as error:
        notes.append(f"{what} not priced: {error.detail}")
        return None


def _replicas(spec: dict[str, Any], notes: list[str]) -> Decimal:
    raw = spec.get("replicas", 1)
    if isinstance(raw, int) and not isinstance(raw, bool) and raw >= 0:
        return Decimal(raw)
    notes.append(f"replicas {raw!r} is not a whole number: assumed 1")
    return Decimal(1)


def _compute(lines: _Lines, spec: dict[str, Any], hours: Decimal) -> dict[str, Decimal]:
    """Add cpu, memory and accelerator lines for ``hours`` of one replica-set per month."""
    declared = spec.get("resources") or {}
    cpu = _quantity(declared.get("cpu"), DEFAULT_CPU, "cpu", lines.notes)
    memory = _quantity(declared.get("memory"), DEFAULT_MEMORY, "memory", lines.notes)
    share = hours / HOURS_PER_MONTH
    quantities: dict[str, Decimal] = {"hours": hours}
    if cpu is not None:
        quantities["cpu"] = cpu
        lines.add("cpu", "compute.vcpu", cpu * share, per_hour=True)
    if memory is not None:
        quantities["memory"] = memory
        lines.add("memory", "compute.memory", memory / GIB * share, per_hour=True)
    gpu = spec.get("accelerators") or {}
    if isinstance(gpu, dict) and gpu.get("count"):
        count = Decimal(str(gpu["count"]))
        gpu_type = str(gpu.get("type", "gpu")).lower()
        quantities["gpu"] = count
        lines.add(f"gpu.{gpu_type}", f"accelerator.{gpu_type}", count * share, per_hour=True)
    return quantities


@lru_cache(maxsize=256)
def runs_per_month(schedule: str | None) -> Decimal:
    """Return how often a cron schedule fires in a 730-hour month (1 for no schedule)."""
    if not schedule:
        return Decimal(1)
    if not croniter.is_valid(schedule):
        raise InvalidInput(f"invalid cron schedule {schedule!r}")
    week_end = _REFERENCE_START + timedelta(hours=168)
    it = croniter(schedule, _REFERENCE_START - timedelta(seconds=1))
    count, first = 0, None
    while (at := it.get_next(datetime)) < week_end:
        first = first or at
        count += 1
        if count == _SAMPLE_RUNS:  # more often than every minute: extrapolate
            hours = Decimal((at - first).total_seconds()) / 3600
            return (Decimal(count - 1) * HOURS_PER_MONTH / hours).quantize(Decimal(1))
    if count >= 168:  # hourly or more often: a week is representative
        return Decimal(count) * HOURS_PER_MONTH / _WEEK_HOURS
    month_end = _REFERENCE_START + timedelta(hours=730)
    it = croniter(schedule, _REFERENCE_START - timedelta(seconds=1))
    count = 0
    while it.get_next(datetime) < month_end:
        count += 1
    return Decimal(count)


def _job(lines: _Lines, spec: dict[str, Any]) -> dict[str, Decimal]:
    timeout = spec.get("timeout_s")
    duration = Decimal(timeout if isinstance(timeout, int) and timeout > 0 else 0)
    if not duration:
        duration = Decimal(DEFAULT_JOB_DURATION_S)
        lines.notes.append(f"no timeout: a run is assumed to last {DEFAULT_JOB_DURATION_S} s")
    try:
        runs = runs_per_month(spec.get("schedule"))
    except InvalidInput as error:
        lines.notes.append(f"not priced: {error.detail}")
        return {}
    hours = runs * duration / 3600 * _replicas(spec, lines.notes)
    return _compute(lines, spec, hours) | {"runs": runs, "duration_s": duration}


def _vm(lines: _Lines, spec: dict[str, Any]) -> dict[str, Decimal]:
    """Add a VM's vCPU, memory, accelerator and disk lines (it runs every hour of the month)."""
    quantities: dict[str, Decimal] = {"hours": HOURS_PER_MONTH}
    raw = spec.get("vcpus", 1)
    if isinstance(raw, int) and not isinstance(raw, bool) and raw > 0:
        quantities["cpu"] = Decimal(raw)
        lines.add("cpu", "compute.vcpu", Decimal(raw), per_hour=True)
    else:
        lines.notes.append(f"vcpus {raw!r} is not a whole number: not priced")
    memory = _quantity(spec.get("memory"), DEFAULT_VM_MEMORY, "memory", lines.notes)
    if memory is not None:
        quantities["memory"] = memory
        lines.add("memory", "compute.memory", memory / GIB, per_hour=True)
    gpu = spec.get("gpu") or {}
    count = gpu.get("count") if isinstance(gpu, dict) else None
    if isinstance(count, int) and not isinstance(count, bool) and count > 0:
        gpu_type = str(gpu.get("type") or "gpu").lower()
        quantities["gpu"] = Decimal(count)
        lines.add(f"gpu.{gpu_type}", f"accelerator.{gpu_type}", Decimal(count), per_hour=True)
    storage = Decimal(0)
    for disk in spec.get("disks") or []:
        name = disk.get("name", "?") if isinstance(disk, dict) else "?"
        size = disk.get("size") if isinstance(disk, dict) else None
        found = _quantity(size, DEFAULT_VOLUME_SIZE, f"disk {name} size", lines.notes)
        storage += found or 0
    if storage:
        quantities["storage"] = storage
        lines.add("storage", "storage.block", storage / GIB, per_hour=False)
    return quantities


def estimate_resource(
    book: PriceBook, *, type: str, spec: dict[str, Any] | None, pricing: Pricing
) -> Estimate:
    """Return the estimated cost of one resource of ``type`` with ``spec``."""
    lines = _Lines(book, pricing)
    spec = spec or {}
    quantities: dict[str, Decimal] = {}
    if type == "service":
        replicas = _replicas(spec, lines.notes)
        quantities = _compute(lines, spec, HOURS_PER_MONTH * replicas)
        quantities["replicas"] = replicas
    elif type == "job":
        quantities = _job(lines, spec)
    elif type == "postgres":
        lines.add("instance", "database.postgres", Decimal(1), per_hour=True)
        size = _quantity(spec.get("size"), DEFAULT_POSTGRES_STORAGE, "storage size", lines.notes)
        if size is not None:
            quantities["storage"] = size
            lines.add("storage", "database.storage", size / GIB, per_hour=False)
    elif type == "volume":
        size = _quantity(spec.get("size"), DEFAULT_VOLUME_SIZE, "volume size", lines.notes)
        if size is not None:
            quantities["storage"] = size
            lines.add("storage", "storage.block", size / GIB, per_hour=False)
    elif type == "vm":
        quantities = _vm(lines, spec)
    elif type != "route":
        lines.notes.append(f"resources of type {type!r} are not priced")
    return lines.result(quantities)
