"""Events outbox: CloudEvents waiting for delivery.

Revision ID: 0012
Revises: 0011
Create Date: 2026-11-29 03:30:00.000000
"""

from __future__ import annotations

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Slot reserved; filled in by the change that needs it."""


def downgrade() -> None:
    """Nothing to undo."""
