"""Continuous compliance: findings on live state, with owners and states.

Revision ID: 0010
Revises: 0009
Create Date: 2026-11-29 01:00:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from plinth.infrastructure.store.db import UTCDateTime

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Create the compliance findings table."""
    op.create_table(
        "compliance_findings",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("fingerprint", sa.String(length=64), nullable=False),
        sa.Column("pack", sa.String(length=253), nullable=False),
        sa.Column("pack_version", sa.String(length=63), nullable=False),
        sa.Column("rule", sa.String(length=253), nullable=False),
        sa.Column("severity", sa.String(length=16), nullable=False),
        sa.Column("level", sa.String(length=16), nullable=False),
        sa.Column("message", sa.Text(), nullable=False),
        sa.Column("fix", sa.Text(), nullable=False),
        sa.Column("resource", sa.String(length=253), nullable=False),
        sa.Column("environment", sa.String(length=63), nullable=False),
        sa.Column("project", sa.String(length=63), nullable=False),
        sa.Column("team", sa.String(length=63), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("first_seen", UTCDateTime(), nullable=False),
        sa.Column("last_seen", UTCDateTime(), nullable=False),
        sa.Column("resolved_at", UTCDateTime(), nullable=True),
        sa.Column("remediation", sa.String(length=32), nullable=False),
        sa.Column("remediation_due", UTCDateTime(), nullable=True),
        sa.Column("remediated_at", UTCDateTime(), nullable=True),
        sa.Column("remediation_detail", sa.Text(), nullable=False),
        sa.Column("exception", sa.String(length=253), nullable=False),
        sa.Column("exception_expires", UTCDateTime(), nullable=True),
        sa.Column("notes", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_compliance_findings")),
        sa.UniqueConstraint("fingerprint", name=op.f("uq_compliance_findings_fingerprint")),
    )
    op.create_index(
        "ix_compliance_findings_scope", "compliance_findings", ["team", "environment"], unique=False
    )
    op.create_index("ix_compliance_findings_state", "compliance_findings", ["state"], unique=False)


def downgrade() -> None:
    """Drop the compliance findings table."""
    op.drop_index("ix_compliance_findings_state", table_name="compliance_findings")
    op.drop_index("ix_compliance_findings_scope", table_name="compliance_findings")
    op.drop_table("compliance_findings")
