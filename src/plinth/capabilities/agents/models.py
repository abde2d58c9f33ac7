"""Tables of agent identity: registered agents, token signing keys and issued tokens."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from plinth.infrastructure.store.db import Base, JSONType, UTCDateTime

__all__ = ["AgentRow", "AgentSigningKeyRow", "AgentTokenRow"]


class AgentRow(Base):
    """A registered agent: its ``Agent`` spec and the user it acts as."""

    __tablename__ = "agents"
    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    name: Mapped[str] = mapped_column(String(63), unique=True)
    user_id: Mapped[str] = mapped_column(ForeignKey("users.id"), unique=True)
    team: Mapped[str] = mapped_column(String(63))
    purpose: Mapped[str] = mapped_column(Text, default="")
    spec: Mapped[dict[str, Any]] = mapped_column(JSONType)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())
    disabled_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)


class AgentSigningKeyRow(Base):
    """An Ed25519 key that signs agent tokens; the private half is sealed with the SecretBox."""

    __tablename__ = "agent_signing_keys"
    kid: Mapped[str] = mapped_column(String(64), primary_key=True)
    public_pem: Mapped[str] = mapped_column(Text)
    private_encrypted: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    retires_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)


class AgentTokenRow(Base):
    """One issued agent token by its ``jti``: checked on each request, so revoking is immediate."""

    __tablename__ = "agent_tokens"
    jti: Mapped[str] = mapped_column(String(64), primary_key=True)
    agent_id: Mapped[str] = mapped_column(ForeignKey("agents.id", ondelete="CASCADE"), index=True)
    audience: Mapped[str] = mapped_column(String(32))
    scopes: Mapped[list[str]] = mapped_column(JSONType)
    issued_at: Mapped[datetime] = mapped_column(UTCDateTime())
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime())
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    revoked_by: Mapped[str] = mapped_column(String(63), default="")
