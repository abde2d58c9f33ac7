"""janitor cases

Revision ID: 0003d
Revises: 0002
Create Date: 2026-11-28 21:30:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

import plinth.infrastructure.store.db

revision = "0003d"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    utc = plinth.infrastructure.store.db.UTCDateTime
    op.create_table(
        "janitor_cases",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("environment", sa.String(length=63), nullable=False),
        sa.Column("project", sa.String(length=63), nullable=False),
        sa.Column("workload", sa.String(length=253), nullable=False),
        sa.Column("active_key", sa.String(length=400), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column(
            "findings",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("mark", sa.Text(), nullable=False),
        sa.Column("team", sa.String(length=63), nullable=False),
        sa.Column("monthly_cost", sa.Numeric(precision=24, scale=9), nullable=True),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("pending_step", sa.String(length=16), nullable=False),
        sa.Column("pending_plan", sa.String(length=64), nullable=False),
        sa.Column("marked_at", utc(timezone=True), nullable=False),
        sa.Column("notified_at", utc(timezone=True), nullable=True),
        sa.Column("stopped_at", utc(timezone=True), nullable=True),
        sa.Column("closed_at", utc(timezone=True), nullable=True),
        sa.Column("closed_by", sa.String(length=100), nullable=False),
        sa.Column("updated_at", utc(timezone=True), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_janitor_cases")),
        sa.UniqueConstraint("active_key", name=op.f("uq_janitor_cases_active_key")),
    )
    with op.batch_alter_table("janitor_cases", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_janitor_cases_status"), ["status"], unique=False)
        batch_op.create_index(
            "ix_janitor_cases_workload", ["environment", "project", "workload"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("janitor_cases", schema=None) as batch_op:
        batch_op.drop_index("ix_janitor_cases_workload")
        batch_op.drop_index(batch_op.f("ix_janitor_cases_status"))
    op.drop_table("janitor_cases")
