"""Tables of the model registry: models, their immutable versions, and trusted signers.

A version's artifact lives in the content-addressed store under the platform's data
directory (``<data_dir>/artifacts/sha256/<hex>/<file or directory name>``); the row
keeps its absolute path, its digest (see ``signing``), the signature bundle and the
lineage. Only ``stage`` ever changes after a version is registered.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from plinth.infrastructure.store.db import Base, JSONType, UTCDateTime

__all__ = ["STAGES", "ModelRow", "ModelTrust", "ModelVersionRow"]

STAGES = ("none", "staging", "production")


class ModelRow(Base):
    """A model: a name owned by a team, with any number of versions."""

    __tablename__ = "models"
    name: Mapped[str] = mapped_column(String(63), primary_key=True)
    team: Mapped[str] = mapped_column(String(63), index=True)
    project: Mapped[str | None] = mapped_column(String(63), nullable=True)
    description: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())


class ModelVersionRow(Base):
    """One immutable version of a model: its artifact, digest, signature and lineage."""

    __tablename__ = "model_versions"
    __table_args__ = (UniqueConstraint("model", "version", name="uq_model_versions_model_version"),)
    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    model: Mapped[str] = mapped_column(ForeignKey("models.name"), index=True)
    version: Mapped[str] = mapped_column(String(63))
    artifact_uri: Mapped[str] = mapped_column(Text)
    digest: Mapped[str] = mapped_column(String(71), index=True)
    size_bytes: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"))
    files: Mapped[int] = mapped_column(Integer)
    signature: Mapped[dict[str, Any] | None] = mapped_column(JSONType, nullable=True)
    signature_kind: Mapped[str] = mapped_column(String(16), default="none")
    signer: Mapped[str] = mapped_column(Text, default="")
    lineage: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    stage: Mapped[str] = mapped_column(String(16), default="none")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    created_by: Mapped[str] = mapped_column(String(100))


class ModelTrust(Base):
    """A named public key or CA certificate that model signatures may be verified against."""

    __tablename__ = "model_trust"
    name: Mapped[str] = mapped_column(String(63), primary_key=True)
    kind: Mapped[str] = mapped_column(String(16))  # public-key | certificate
    pem: Mapped[str] = mapped_column(Text)
    fingerprint: Mapped[str] = mapped_column(String(64), index=True)
    subject: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    created_by: Mapped[str] = mapped_column(String(100))
