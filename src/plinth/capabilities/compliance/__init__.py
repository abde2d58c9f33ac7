"""Continuous compliance: findings of policies evaluated on live state, and their reports."""

from __future__ import annotations

__all__: list[str] = []
