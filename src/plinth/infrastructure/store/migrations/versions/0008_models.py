"""Model registry: models, immutable signed versions, trusted signing keys and certificates.

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-29 10:00:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from plinth.infrastructure.store.db import JSONType, UTCDateTime

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "models",
        sa.Column("name", sa.String(length=63), nullable=False),
        sa.Column("team", sa.String(length=63), nullable=False),
        sa.Column("project", sa.String(length=63), nullable=True),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_models")),
    )
    op.create_index(op.f("ix_models_team"), "models", ["team"], unique=False)
    op.create_table(
        "model_versions",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("model", sa.String(length=63), nullable=False),
        sa.Column("version", sa.String(length=63), nullable=False),
        sa.Column("artifact_uri", sa.Text(), nullable=False),
        sa.Column("digest", sa.String(length=71), nullable=False),
        sa.Column(
            "size_bytes", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column("files", sa.Integer(), nullable=False),
        sa.Column("signature", JSONType, nullable=True),
        sa.Column("signature_kind", sa.String(length=16), nullable=False),
        sa.Column("signer", sa.Text(), nullable=False),
        sa.Column("lineage", JSONType, nullable=False),
        sa.Column("stage", sa.String(length=16), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("created_by", sa.String(length=100), nullable=False),
        sa.ForeignKeyConstraint(
            ["model"], ["models.name"], name=op.f("fk_model_versions_model_models")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_model_versions")),
        sa.UniqueConstraint("model", "version", name="uq_model_versions_model_version"),
    )
    op.create_index(op.f("ix_model_versions_model"), "model_versions", ["model"], unique=False)
    op.create_index(op.f("ix_model_versions_digest"), "model_versions", ["digest"], unique=False)
    op.create_table(
        "model_trust",
        sa.Column("name", sa.String(length=63), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("pem", sa.Text(), nullable=False),
        sa.Column("fingerprint", sa.String(length=64), nullable=False),
        sa.Column("subject", sa.Text(), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("created_by", sa.String(length=100), nullable=False),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_model_trust")),
    )
    op.create_index(
        op.f("ix_model_trust_fingerprint"), "model_trust", ["fingerprint"], unique=False
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_model_trust_fingerprint"), table_name="model_trust")
    op.drop_table("model_trust")
    op.drop_index(op.f("ix_model_versions_digest"), table_name="model_versions")
    op.drop_index(op.f("ix_model_versions_model"), table_name="model_versions")
    op.drop_table("model_versions")
    op.drop_index(op.f("ix_models_team"), table_name="models")
    op.drop_table("models")
