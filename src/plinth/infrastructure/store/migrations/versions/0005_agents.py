"""agents: registered agents, token signing keys and issued tokens

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-01 09:00:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

import plinth.infrastructure.store.db

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    utc = plinth.infrastructure.store.db.UTCDateTime
    json = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")
    op.create_table(
        "agents",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=63), nullable=False),
        sa.Column("user_id", sa.String(length=64), nullable=False),
        sa.Column("team", sa.String(length=63), nullable=False),
        sa.Column("purpose", sa.Text(), nullable=False),
        sa.Column("spec", json, nullable=False),
        sa.Column("created_at", utc(timezone=True), nullable=False),
        sa.Column("updated_at", utc(timezone=True), nullable=False),
        sa.Column("disabled_at", utc(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], name=op.f("fk_agents_user_id_users")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_agents")),
        sa.UniqueConstraint("name", name=op.f("uq_agents_name")),
        sa.UniqueConstraint("user_id", name=op.f("uq_agents_user_id")),
    )
    op.create_table(
        "agent_signing_keys",
        sa.Column("kid", sa.String(length=64), nullable=False),
        sa.Column("public_pem", sa.Text(), nullable=False),
        sa.Column("private_encrypted", sa.Text(), nullable=False),
        sa.Column("created_at", utc(timezone=True), nullable=False),
        sa.Column("retires_at", utc(timezone=True), nullable=True),
        sa.Column("expires_at", utc(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("kid", name=op.f("pk_agent_signing_keys")),
    )
    op.create_table(
        "agent_tokens",
        sa.Column("jti", sa.String(length=64), nullable=False),
        sa.Column("agent_id", sa.String(length=64), nullable=False),
        sa.Column("audience", sa.String(length=32), nullable=False),
        sa.Column("scopes", json, nullable=False),
        sa.Column("issued_at", utc(timezone=True), nullable=False),
        sa.Column("expires_at", utc(timezone=True), nullable=False),
        sa.Column("revoked_at", utc(timezone=True), nullable=True),
        sa.Column("revoked_by", sa.String(length=63), nullable=False),
        sa.ForeignKeyConstraint(
            ["agent_id"],
            ["agents.id"],
            name=op.f("fk_agent_tokens_agent_id_agents"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("jti", name=op.f("pk_agent_tokens")),
    )
    with op.batch_alter_table("agent_tokens", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_agent_tokens_agent_id"), ["agent_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("agent_tokens", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_agent_tokens_agent_id"))
    op.drop_table("agent_tokens")
    op.drop_table("agent_signing_keys")
    op.drop_table("agents")
