"""LLM gateway: virtual keys, budget reservations, inference records.

Revision ID: 0012
Revises: 0011
Create Date: 2026-11-29 01:00:00.000000
"""

from __future__ import annotations

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Nothing yet: the tables arrive with the work that needs them."""


def downgrade() -> None:
    """Nothing to undo."""
