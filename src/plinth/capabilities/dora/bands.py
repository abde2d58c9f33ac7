"""DORA performance bands (elite/high/medium/low) for each of the four keys.

Thresholds follow the cluster values of the Accelerate State of DevOps report
2023 (DORA), with its ranges made contiguous so every value gets one band.
docs/dora.md lists them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

__all__ = ["BANDS", "Band", "BandRule", "band_for"]

Band = Literal["elite", "high", "medium", "low"]
HOUR, DAY, WEEK = 3600.0, 86400.0, 7 * 86400.0
MONTH = 30 * DAY
_ORDER: tuple[Band, ...] = ("elite", "high", "medium", "low")


@dataclass(frozen=True)
class BandRule:
    """Limits of elite, high and medium; beyond the medium limit is low."""

    unit: str
    higher_is_better: bool
    limits: tuple[float, float, float]
    text: tuple[str, str, str, str]
    inclusive: bool = False

    def band(self, value: float) -> Band:
        """Return the band of one value."""
        for band, limit in zip(_ORDER, self.limits, strict=False):
            if self.higher_is_better:
                if value >= limit:
                    return band
            elif value < limit or (self.inclusive and value == limit):
                return band
        return "low"

    def as_dict(self) -> dict[str, Any]:
        """Return the rule as JSON data (what each band means)."""
        return {
            "unit": self.unit,
            "higher_is_better": self.higher_is_better,
            "bands": dict(zip(_ORDER, self.text, strict=True)),
        }


BANDS: dict[str, BandRule] = {
    "deployment_frequency": BandRule(
        "deployments per day",
        True,
        (1.0, 1.0 / 7.0, 1.0 / 30.0),
        ("daily or more (on demand)", "weekly to daily", "monthly to weekly", "less than monthly"),
    ),
    "lead_time": BandRule(
        "seconds",
        False,
        (DAY, WEEK, MONTH),
        ("under 1 day", "1 day to 1 week", "1 week to 1 month", "over 1 month"),
    ),
    "change_failure_rate": BandRule(
        "fraction of deployments",
        False,
        (0.05, 0.10, 0.15),
        ("5% or less", "10% or less", "15% or less", "over 15%"),
        inclusive=True,
    ),
    "time_to_restore": BandRule(
        "seconds",
        False,
        (HOUR, DAY, WEEK),
        ("under 1 hour", "1 hour to 1 day", "1 day to 1 week", "over 1 week"),
    ),
}


def band_for(metric: str, value: float | None) -> Band | None:
    """Return the band of ``value`` for ``metric`` (None when there is no value)."""
    return None if value is None else BANDS[metric].band(value)
