"""Policy exceptions and compliance findings.

Revision ID: 0010
Revises: 0009
Create Date: 2026-11-29 01:00:00.000000
"""

from __future__ import annotations

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Nothing yet: the tables arrive with the work that needs them."""


def downgrade() -> None:
    """Nothing to undo."""
