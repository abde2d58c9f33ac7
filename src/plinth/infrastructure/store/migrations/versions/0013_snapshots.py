"""Snapshots and backups of volumes, VM disks and databases.

Revision ID: 0013
Revises: 0012
Create Date: 2026-11-29 03:30:00.000000
"""

from __future__ import annotations

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Slot reserved; filled in by the change that needs it."""


def downgrade() -> None:
    """Nothing to undo."""
