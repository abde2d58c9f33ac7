"""The FOCUS columns as data: what each column is, whether it may be null, when it appeared.

Source: the FinOps Open Cost and Usage Specification (FOCUS), tags ``v1.0`` and
``v1.2`` of the FinOps Foundation's FOCUS_Spec repository,
``specification/columns/*.md`` (each column's "Feature level", "Allows nulls"
and "Data type"), ``specification/attributes/datetime_format.md`` and
``unit_format.md``, and the allowed-value tables of ChargeCategory,
ChargeFrequency, PricingCategory, ServiceCategory and ServiceSubcategory.
Only facts are recorded here (names, levels, flags, allowed values).

FOCUS 1.2 defines 57 columns and no allocation columns (allocation columns
arrive after 1.2); Plinth carries its attribution in ``Tags`` and in two
custom columns with the ``x_`` prefix the specification asks for.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

__all__ = [
    "CHARGE_CATEGORIES",
    "CHARGE_FREQUENCIES",
    "COLUMNS",
    "EXPORT_COLUMNS",
    "IMPORT_REQUIRED",
    "PRICING_CATEGORIES",
    "PRICING_CATEGORY_RENAMES",
    "SERVICE_CATEGORIES",
    "FocusColumn",
    "column",
]

Level = Literal["Mandatory", "Conditional", "Recommended"]
DataType = Literal["String", "Decimal", "DateTime", "JSON"]


@dataclass(frozen=True)
class FocusColumn:
    """One FOCUS column: its feature level, nullability and data type in FOCUS 1.2."""

    name: str
    level: Level
    nullable: bool
    type: DataType
    since: str  # the FOCUS version that introduced it ("1.0" for everything in 1.0)


def _c(name: str, level: str, nullable: bool, type_: str, since: str = "1.0") -> FocusColumn:
    return FocusColumn(name, level, nullable, type_, since)  # type: ignore[arg-type]


M, C, R = "Mandatory", "Conditional", "Recommended"
S, D, T, J = "String", "Decimal", "DateTime", "JSON"

COLUMNS: tuple[FocusColumn, ...] = (
    _c("AvailabilityZone", R, True, S),
    _c("BilledCost", M, False, D),
    _c("BillingAccountId", M, False, S),
    _c("BillingAccountName", M, True, S),
    _c("BillingAccountType", C, False, S, "1.2"),
    _c("BillingCurrency", M, False, S),
    _c("BillingPeriodEnd", M, False, T),
    _c("BillingPeriodStart", M, False, T),
    _c("CapacityReservationId", C, True, S, "1.1"),
    _c("CapacityReservationStatus", C, True, S, "1.1"),
    _c("ChargeCategory", M, False, S),
    _c("ChargeClass", M, True, S),
    _c("ChargeDescription", M, True, S),
    _c("ChargeFrequency", R, False, S),
    _c("ChargePeriodEnd", M, False, T),
    _c("ChargePeriodStart", M, False, T),
    _c("CommitmentDiscountCategory", C, True, S),
    _c("CommitmentDiscountId", C, True, S),
    _c("CommitmentDiscountName", C, True, S),
    _c("CommitmentDiscountQuantity", C, True, D, "1.1"),
    _c("CommitmentDiscountStatus", C, True, S),
    _c("CommitmentDiscountType", C, True, S),
    _c("CommitmentDiscountUnit", C, True, S, "1.1"),
    _c("ConsumedQuantity", C, True, D),
    _c("ConsumedUnit", C, True, S),
    _c("ContractedCost", M, False, D),
    _c("ContractedUnitPrice", C, True, D),
    _c("EffectiveCost", M, False, D),
    _c("InvoiceId", R, True, S, "1.2"),
    _c("InvoiceIssuerName", M, False, S),
    _c("ListCost", M, False, D),
    _c("ListUnitPrice", C, True, D),
    _c("PricingCategory", C, True, S),
    _c("PricingCurrency", C, True, S, "1.2"),
    _c("PricingCurrencyContractedUnitPrice", C, True, D, "1.2"),
    _c("PricingCurrencyEffectiveCost", C, True, D, "1.2"),
    _c("PricingCurrencyListUnitPrice", C, True, D, "1.2"),
    _c("PricingQuantity", M, True, D),
    _c("PricingUnit", M, True, S),
    _c("ProviderName", M, False, S),
    _c("PublisherName", M, False, S),
    _c("RegionId", C, True, S),
    _c("RegionName", C, True, S),
    _c("ResourceId", C, True, S),
    _c("ResourceName", C, True, S),
    _c("ResourceType", C, True, S),
    _c("ServiceCategory", M, False, S),
    _c("ServiceName", M, False, S),
    _c("ServiceSubcategory", R, False, S, "1.1"),
    _c("SkuId", C, True, S),
    _c("SkuMeter", C, True, S, "1.1"),
    _c("SkuPriceDetails", C, True, J, "1.1"),
    _c("SkuPriceId", C, True, S),
    _c("SubAccountId", C, True, S),
    _c("SubAccountName", C, True, S),
    _c("SubAccountType", C, True, S, "1.2"),
    _c("Tags", C, True, J),
)

_BY_NAME = {c.name: c for c in COLUMNS}

# Mandatory since FOCUS 1.0 and still mandatory in 1.2: a file that lacks any of
# these is not a FOCUS 1.0+ cost and usage dataset, so the import refuses it.
IMPORT_REQUIRED: tuple[str, ...] = tuple(
    c.name for c in COLUMNS if c.level == "Mandatory" and c.since == "1.0"
)

# What the export writes: every mandatory column, the recommended ones, and the
# conditional ones that apply to a platform's ledger (unit prices, usage, regions,
# resources, SKUs, sub accounts, tags; commitment discounts and capacity
# reservations as null). Left out because their conditions never hold for the
# ledger: BillingAccountType and SubAccountType (one account type only) and the
# PricingCurrency* columns (prices are in the billing currency).
_NOT_EXPORTED = frozenset(
    {
        "BillingAccountType",
        "SubAccountType",
        "PricingCurrency",
        "PricingCurrencyContractedUnitPrice",
        "PricingCurrencyEffectiveCost",
        "PricingCurrencyListUnitPrice",
    }
)
EXPORT_COLUMNS: tuple[str, ...] = tuple(
    [c.name for c in COLUMNS if c.name not in _NOT_EXPORTED]
    + ["x_PlinthSource", "x_PlinthDimension"]
)

CHARGE_CATEGORIES = ("Usage", "Purchase", "Tax", "Credit", "Adjustment")
CHARGE_FREQUENCIES = ("One-Time", "Recurring", "Usage-Based")
PRICING_CATEGORIES = ("Standard", "Dynamic", "Committed", "Other")
# FOCUS 1.0 names of two pricing categories, renamed in 1.1.
PRICING_CATEGORY_RENAMES = {"On-Demand": "Standard", "Commitment-Based": "Committed"}

SERVICE_CATEGORIES = (
    "AI and Machine Learning",
    "Analytics",
    "Business Applications",
    "Compute",
    "Databases",
    "Developer Tools",
    "Multicloud",
    "Identity",
    "Integration",
    "Internet of Things",
    "Management and Governance",
    "Media",
    "Migration",
    "Mobile",
    "Networking",
    "Security",
    "Storage",
    "Web",
    "Other",
)


def column(name: str) -> FocusColumn:
    """Return the FOCUS 1.2 column called ``name``; KeyError if FOCUS has no such column."""
    return _BY_NAME[name]
