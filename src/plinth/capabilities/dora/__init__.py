"""DORA telemetry: the four keys computed from deployments and health signals (pure)."""

from __future__ import annotations

from plinth.capabilities.dora.bands import BANDS, band_for
from plinth.capabilities.dora.metrics import compute, weekly_series
from plinth.capabilities.dora.model import Deployment, HealthSignal, Outcome

__all__ = [
    "BANDS",
    "Deployment",
    "HealthSignal",
    "Outcome",
    "band_for",
    "compute",
    "weekly_series",
]
