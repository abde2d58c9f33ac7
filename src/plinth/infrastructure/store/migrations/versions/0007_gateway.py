"""MCP gateway: tool calls held for approval, daily tool-call usage per agent.

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-28 22:30:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

import plinth.infrastructure.store.db

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    utc = plinth.infrastructure.store.db.UTCDateTime
    op.create_table(
        "gateway_tool_approvals",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("agent", sa.String(length=100), nullable=False),
        sa.Column("team", sa.String(length=63), nullable=False),
        sa.Column("tool", sa.String(length=300), nullable=False),
        sa.Column("args_digest", sa.String(length=64), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column(
            "reasons",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("requested_at", utc(), nullable=False),
        sa.Column("expires_at", utc(), nullable=False),
        sa.Column("decided_by", sa.String(length=100), nullable=False),
        sa.Column("decided_at", utc(), nullable=True),
        sa.Column("decision_reason", sa.Text(), nullable=False),
        sa.Column("used_at", utc(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_gateway_tool_approvals")),
    )
    op.create_index(
        "ix_gateway_tool_approvals_call",
        "gateway_tool_approvals",
        ["agent", "tool", "args_digest"],
        unique=False,
    )
    op.create_index(
        op.f("ix_gateway_tool_approvals_status"),
        "gateway_tool_approvals",
        ["status"],
        unique=False,
    )
    op.create_table(
        "gateway_usage",
        sa.Column("agent", sa.String(length=100), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("calls", sa.Integer(), nullable=False),
        sa.Column("cost", sa.Numeric(precision=24, scale=9), nullable=False),
        sa.PrimaryKeyConstraint("agent", "day", name=op.f("pk_gateway_usage")),
    )


def downgrade() -> None:
    op.drop_table("gateway_usage")
    op.drop_index(op.f("ix_gateway_tool_approvals_status"), table_name="gateway_tool_approvals")
    op.drop_index("ix_gateway_tool_approvals_call", table_name="gateway_tool_approvals")
    op.drop_table("gateway_tool_approvals")
