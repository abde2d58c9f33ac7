"""Platform-generated secrets, encrypted at rest, with rotation.

Revision ID: 0011
Revises: 0010
Create Date: 2026-11-29 01:00:00.000000
"""

from __future__ import annotations

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Nothing yet: the tables arrive with the work that needs them."""


def downgrade() -> None:
    """Nothing to undo."""
