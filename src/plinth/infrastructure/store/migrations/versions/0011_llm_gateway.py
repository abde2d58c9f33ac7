"""LLM gateway: virtual keys, budget reservations, inference records.

Revision ID: 0011
Revises: 0010
Create Date: 2026-11-29 01:00:00.000000
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

import plinth.infrastructure.store.db

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None

_MONEY = sa.Numeric(precision=24, scale=9)


def _json() -> sa.types.TypeEngine[Any]:
    return sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")


def upgrade() -> None:
    """Create the keys, spend and request tables."""
    utc = plinth.infrastructure.store.db.UTCDateTime
    op.create_table(
        "llm_keys",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("digest", sa.String(length=64), nullable=False),
        sa.Column("prefix", sa.String(length=16), nullable=False),
        sa.Column("team", sa.String(length=63), nullable=False),
        sa.Column("agent", sa.String(length=100), nullable=False),
        sa.Column("models", _json(), nullable=False),
        sa.Column("budget", _MONEY, nullable=True),
        sa.Column("period", sa.String(length=8), nullable=False),
        sa.Column("created_by", sa.String(length=100), nullable=False),
        sa.Column("created_at", utc(), nullable=False),
        sa.Column("revoked_at", utc(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_llm_keys")),
        sa.UniqueConstraint("digest", name=op.f("uq_llm_keys_digest")),
    )
    op.create_index(op.f("ix_llm_keys_team"), "llm_keys", ["team"], unique=False)
    op.create_table(
        "llm_spend",
        sa.Column("scope", sa.String(length=200), nullable=False),
        sa.Column("period", sa.String(length=10), nullable=False),
        sa.Column("spent", _MONEY, nullable=False),
        sa.Column("requests", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("scope", "period", name=op.f("pk_llm_spend")),
    )
    op.create_table(
        "llm_requests",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("request_id", sa.String(length=64), nullable=False),
        sa.Column("at", utc(), nullable=False),
        sa.Column("actor", sa.String(length=100), nullable=False),
        sa.Column("team", sa.String(length=63), nullable=False),
        sa.Column("agent", sa.String(length=100), nullable=False),
        sa.Column("key_id", sa.String(length=64), nullable=False),
        sa.Column("endpoint", sa.String(length=32), nullable=False),
        sa.Column("model", sa.String(length=200), nullable=False),
        sa.Column("provider", sa.String(length=63), nullable=False),
        sa.Column("outcome", sa.String(length=16), nullable=False),
        sa.Column("status", sa.Integer(), nullable=False),
        sa.Column("tokens_in", sa.Integer(), nullable=False),
        sa.Column("tokens_out", sa.Integer(), nullable=False),
        sa.Column("cost", _MONEY, nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("redactions", sa.Integer(), nullable=False),
        sa.Column("screens", _json(), nullable=False),
        sa.Column("latency_ms", sa.Numeric(precision=12, scale=3), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_llm_requests")),
    )
    op.create_index(
        op.f("ix_llm_requests_request_id"), "llm_requests", ["request_id"], unique=False
    )
    op.create_index("ix_llm_requests_team_at", "llm_requests", ["team", "at"], unique=False)


def downgrade() -> None:
    """Drop the LLM gateway's tables."""
    op.drop_index("ix_llm_requests_team_at", table_name="llm_requests")
    op.drop_index(op.f("ix_llm_requests_request_id"), table_name="llm_requests")
    op.drop_table("llm_requests")
    op.drop_table("llm_spend")
    op.drop_index(op.f("ix_llm_keys_team"), table_name="llm_keys")
    op.drop_table("llm_keys")
