"""Merge the FinOps branches; committed hourly cost per resource and per scope.

Revision ID: 0004
Revises: 0003b, 0003d
Create Date: 2026-11-28 21:11:02.449964
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = ("0003b", "0003d")
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("resources", schema=None) as batch_op:
        batch_op.add_column(sa.Column("hourly_cost", sa.Numeric(24, 9), nullable=True))
    with op.batch_alter_table("cost_entries", schema=None) as batch_op:
        batch_op.create_index("ix_cost_resource_name", ["resource_name", "dimension"])
    op.create_table(
        "committed_costs",
        sa.Column("environment", sa.String(length=63), nullable=False),
        sa.Column("project", sa.String(length=63), nullable=False),
        sa.Column("hourly", sa.Numeric(precision=24, scale=9), nullable=False),
        sa.PrimaryKeyConstraint("environment", "project", name=op.f("pk_committed_costs")),
    )


def downgrade() -> None:
    op.drop_table("committed_costs")
    with op.batch_alter_table("cost_entries", schema=None) as batch_op:
        batch_op.drop_index("ix_cost_resource_name")
    with op.batch_alter_table("resources", schema=None) as batch_op:
        batch_op.drop_column("hourly_cost")
