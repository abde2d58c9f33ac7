"""Snapshots and backups of volumes, VM disks and databases.

Revision ID: 0013
Revises: 0012
Create Date: 2026-11-29 03:30:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import plinth.infrastructure.store.db

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Create the snapshots table."""
    utc = plinth.infrastructure.store.db.UTCDateTime
    op.create_table(
        "snapshots",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("resource_id", sa.String(length=64), nullable=False),
        sa.Column("resource_type", sa.String(length=63), nullable=False),
        sa.Column("resource_name", sa.String(length=253), nullable=False),
        sa.Column("environment", sa.String(length=63), nullable=False),
        sa.Column("project", sa.String(length=63), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("created_at", utc(), nullable=False),
        sa.Column("created_by", sa.String(length=100), nullable=False),
        sa.Column("size_bytes", sa.BigInteger(), nullable=False),
        sa.Column("location", sa.Text(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("note", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_snapshots")),
    )
    op.create_index(op.f("ix_snapshots_resource_id"), "snapshots", ["resource_id"], unique=False)
    op.create_index(
        "ix_snapshots_resource",
        "snapshots",
        ["environment", "project", "resource_name"],
        unique=False,
    )


def downgrade() -> None:
    """Drop the snapshots table."""
    op.drop_index("ix_snapshots_resource", table_name="snapshots")
    op.drop_index(op.f("ix_snapshots_resource_id"), table_name="snapshots")
    op.drop_table("snapshots")
