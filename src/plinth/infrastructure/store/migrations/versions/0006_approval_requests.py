"""approval requests: who asked, why, the team they are routed to, until when

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-01 10:00:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

import plinth.infrastructure.store.db

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    utc = plinth.infrastructure.store.db.UTCDateTime
    op.create_table(
        "approval_requests",
        sa.Column("digest", sa.String(length=64), nullable=False),
        sa.Column("round", sa.Integer(), nullable=False),
        sa.Column("requested_by", sa.String(length=100), nullable=False),
        sa.Column("team", sa.String(length=63), nullable=False),
        sa.Column(
            "reasons",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("created_at", utc(timezone=True), nullable=False),
        sa.Column("expires_at", utc(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("digest", name=op.f("pk_approval_requests")),
    )
    with op.batch_alter_table("approval_requests", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_approval_requests_requested_by"), ["requested_by"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_approval_requests_team"), ["team"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("approval_requests", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_approval_requests_team"))
        batch_op.drop_index(batch_op.f("ix_approval_requests_requested_by"))
    op.drop_table("approval_requests")
