"""finops ledger

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-28 20:11:34.643968
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

import plinth.infrastructure.store.db

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "budget_reservations",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("budget", sa.String(length=253), nullable=False),
        sa.Column("plan_digest", sa.String(length=64), nullable=False),
        sa.Column("amount", sa.Numeric(precision=24, scale=9), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column(
            "created_at", plinth.infrastructure.store.db.UTCDateTime(timezone=True), nullable=False
        ),
        sa.Column(
            "expires_at", plinth.infrastructure.store.db.UTCDateTime(timezone=True), nullable=True
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_budget_reservations")),
    )
    with op.batch_alter_table("budget_reservations", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_budget_reservations_budget"), ["budget"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_budget_reservations_plan_digest"), ["plan_digest"], unique=False
        )

    op.create_table(
        "cost_entries",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("at", plinth.infrastructure.store.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("period_s", sa.Float(), nullable=False),
        sa.Column("source", sa.String(length=16), nullable=False),
        sa.Column("resource_id", sa.String(length=64), nullable=False),
        sa.Column("resource_name", sa.String(length=253), nullable=False),
        sa.Column("resource_type", sa.String(length=63), nullable=False),
        sa.Column("provider", sa.String(length=63), nullable=False),
        sa.Column("region", sa.String(length=63), nullable=False),
        sa.Column("environment", sa.String(length=63), nullable=False),
        sa.Column("project", sa.String(length=63), nullable=False),
        sa.Column("team", sa.String(length=63), nullable=False),
        sa.Column("agent", sa.String(length=100), nullable=False),
        sa.Column("model", sa.String(length=200), nullable=False),
        sa.Column("sku", sa.String(length=200), nullable=False),
        sa.Column("dimension", sa.String(length=63), nullable=False),
        sa.Column("quantity", sa.Numeric(precision=24, scale=9), nullable=False),
        sa.Column("unit", sa.String(length=32), nullable=False),
        sa.Column("unit_price", sa.Numeric(precision=24, scale=9), nullable=False),
        sa.Column("cost", sa.Numeric(precision=24, scale=9), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column(
            "extra",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column(
            "ingested_at", plinth.infrastructure.store.db.UTCDateTime(timezone=True), nullable=False
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_cost_entries")),
    )
    with op.batch_alter_table("cost_entries", schema=None) as batch_op:
        batch_op.create_index("ix_cost_resource_at", ["resource_id", "at"], unique=False)
        batch_op.create_index("ix_cost_source_at", ["source", "at"], unique=False)
        batch_op.create_index("ix_cost_team_at", ["team", "at"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("cost_entries", schema=None) as batch_op:
        batch_op.drop_index("ix_cost_team_at")
        batch_op.drop_index("ix_cost_source_at")
        batch_op.drop_index("ix_cost_resource_at")

    op.drop_table("cost_entries")
    with op.batch_alter_table("budget_reservations", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_budget_reservations_plan_digest"))
        batch_op.drop_index(batch_op.f("ix_budget_reservations_budget"))

    op.drop_table("budget_reservations")
