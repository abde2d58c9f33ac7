"""metering cursors and cost anomalies

Revision ID: 0003b
Revises: 0002
Create Date: 2026-11-28 21:00:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import plinth.infrastructure.store.db

revision = "0003b"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "metering_cursors",
        sa.Column("resource_id", sa.String(length=64), nullable=False),
        sa.Column("cpu_seconds", sa.Float(), nullable=False),
        sa.Column(
            "read_at", plinth.infrastructure.store.db.UTCDateTime(timezone=True), nullable=False
        ),
        sa.PrimaryKeyConstraint("resource_id", name=op.f("pk_metering_cursors")),
    )
    op.create_table(
        "cost_anomalies",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("team", sa.String(length=63), nullable=False),
        sa.Column("day", plinth.infrastructure.store.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("spend", sa.Numeric(precision=24, scale=9), nullable=False),
        sa.Column("baseline_mean", sa.Numeric(precision=24, scale=9), nullable=False),
        sa.Column("baseline_stddev", sa.Numeric(precision=24, scale=9), nullable=False),
        sa.Column("threshold", sa.Numeric(precision=24, scale=9), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("message", sa.Text(), nullable=False),
        sa.Column(
            "detected_at", plinth.infrastructure.store.db.UTCDateTime(timezone=True), nullable=False
        ),
        sa.Column(
            "updated_at", plinth.infrastructure.store.db.UTCDateTime(timezone=True), nullable=False
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_cost_anomalies")),
        sa.UniqueConstraint("team", "day", name=op.f("uq_cost_anomalies_team")),
    )
    with op.batch_alter_table("cost_anomalies", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_cost_anomalies_team"), ["team"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("cost_anomalies", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_cost_anomalies_team"))
    op.drop_table("cost_anomalies")
    op.drop_table("metering_cursors")
