"""Accelerator scheduling: requests for accelerators, the devices they hold, one lock row.

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-30 10:00:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from plinth.infrastructure.store.db import UTCDateTime

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    lock = op.create_table(
        "accelerator_lock",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_accelerator_lock")),
    )
    op.bulk_insert(lock, [{"id": 1, "version": 0}])
    op.create_table(
        "accelerator_requests",
        sa.Column("resource_id", sa.String(length=64), nullable=False),
        sa.Column("team", sa.String(length=63), nullable=False),
        sa.Column("accelerator", sa.String(length=63), nullable=False),
        sa.Column("milli", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("nodes", sa.Integer(), nullable=True),
        sa.Column("partition", sa.String(length=32), nullable=True),
        sa.Column("priority", sa.Integer(), nullable=False),
        sa.Column("estimate_s", sa.Float(), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("submitted_at", UTCDateTime(), nullable=False),
        sa.Column("started_at", UTCDateTime(), nullable=True),
        sa.Column("stop_deadline", UTCDateTime(), nullable=True),
        sa.Column("preempted_by", sa.String(length=64), nullable=True),
        sa.Column("attained_s", sa.Float(), nullable=False),
        sa.Column("borrowed", sa.Boolean(), nullable=False),
        sa.PrimaryKeyConstraint("resource_id", name=op.f("pk_accelerator_requests")),
    )
    op.create_index(
        op.f("ix_accelerator_requests_team"), "accelerator_requests", ["team"], unique=False
    )
    op.create_index(
        op.f("ix_accelerator_requests_status"), "accelerator_requests", ["status"], unique=False
    )
    op.create_table(
        "accelerator_allocations",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("resource_id", sa.String(length=64), nullable=False),
        sa.Column("node", sa.String(length=63), nullable=False),
        sa.Column("device", sa.Integer(), nullable=True),
        sa.Column("milli", sa.Integer(), nullable=False),
        sa.Column("profile", sa.String(length=32), nullable=True),
        sa.Column("slots", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["resource_id"],
            ["accelerator_requests.resource_id"],
            name=op.f("fk_accelerator_allocations_resource_id_accelerator_requests"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_accelerator_allocations")),
    )
    op.create_index(
        op.f("ix_accelerator_allocations_resource_id"),
        "accelerator_allocations",
        ["resource_id"],
        unique=False,
    )
    op.create_index(
        op.f("ix_accelerator_allocations_node"), "accelerator_allocations", ["node"], unique=False
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_accelerator_allocations_node"), table_name="accelerator_allocations")
    op.drop_index(
        op.f("ix_accelerator_allocations_resource_id"), table_name="accelerator_allocations"
    )
    op.drop_table("accelerator_allocations")
    op.drop_index(op.f("ix_accelerator_requests_status"), table_name="accelerator_requests")
    op.drop_index(op.f("ix_accelerator_requests_team"), table_name="accelerator_requests")
    op.drop_table("accelerator_requests")
    op.drop_table("accelerator_lock")
