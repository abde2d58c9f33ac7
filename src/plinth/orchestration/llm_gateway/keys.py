"""Virtual keys: opaque ``plk-`` tokens per team or agent, stored as digests, revocable.

A key is shown once, when it is created; the store keeps its SHA-256 digest (a key
carries 192 random bits, so a fast digest is enough) and an 8-character prefix for
listings. A key may narrow its team's allowed models and carry its own budget. Looking
a key up is cached per digest for ``recheck_s``; revoking a key in this process drops
the cache at once, another process's revocation is seen within ``recheck_s``.
"""

from __future__ import annotations

import hashlib
import re
import secrets
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import select

from plinth.capabilities.agents import service as agents
from plinth.capabilities.identity.schemas import Actor
from plinth.core.clock import Clock
from plinth.core.errors import Forbidden, InvalidInput, NotFound
from plinth.core.ids import IdFactory
from plinth.infrastructure.store.db import Database
from plinth.orchestration.llm_gateway.models import LlmKey

__all__ = ["KEY_PREFIX", "KeyInfo", "KeyStore", "digest_of", "may_manage"]

KEY_PREFIX = "plk-"
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$")
PERIODS = ("day", "month")


def digest_of(token: str) -> str:
    """Return the stored digest of a key."""
    return hashlib.sha256(token.encode()).hexdigest()


@dataclass(frozen=True)
class KeyInfo:
    """A live key as the gateway uses it."""

    id: str
    name: str
    team: str
    agent: str
    models: tuple[str, ...]
    budget: Decimal | None
    period: str


def may_manage(actor: Actor, team: str) -> bool:
    """True when ``actor`` is a human of ``team`` or a platform engineer."""
    if actor.kind == "agent":
        return False
    if any(g.role == "platform-engineer" and g.team is None for g in actor.grants):
        return True
    return team in actor.teams


def _as_dict(row: LlmKey) -> dict[str, Any]:
    return {
        "id": row.id,
        "name": row.name,
        "prefix": row.prefix,
        "team": row.team,
        "agent": row.agent or None,
        "models": list(row.models or []),
        "budget": None if row.budget is None else str(row.budget),
        "period": row.period,
        "created_by": row.created_by,
        "created_at": row.created_at.isoformat(),
        "revoked_at": row.revoked_at.isoformat() if row.revoked_at else None,
    }


class KeyStore:
    """Creates, lists, revokes and resolves virtual keys."""

    def __init__(
        self,
        db: Database,
        *,
        ids: IdFactory,
        clock: Clock,
        recheck_s: float = 1.0,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.db, self.ids, self.clock = db, ids, clock
        self.recheck_s, self._monotonic = recheck_s, monotonic
        self._cache: dict[str, tuple[float, KeyInfo | None]] = {}
        self._lock = threading.Lock()

    def create(
        self,
        actor: Actor,
        *,
        name: str,
        team: str,
        agent: str = "",
        models: Sequence[str] = (),
        budget: Decimal | None = None,
        period: str = "month",
    ) -> dict[str, Any]:
        """Create a key; return its listing with the token (shown only this once)."""
        if not _NAME.match(name):
            raise InvalidInput("a key name is 1-100 letters, digits, '.', '_' or '-'")
        if period not in PERIODS:
            raise InvalidInput(f"period must be one of {', '.join(PERIODS)}")
        if budget is not None and budget < 0:
            raise InvalidInput("a budget cannot be negative")
        if not may_manage(actor, team):
            raise Forbidden(f"only members of team {team} or platform engineers create its keys")
        if agent:
            self._check_agent(agent, team)
        token = KEY_PREFIX + secrets.token_urlsafe(24)
        row = LlmKey(
            id=self.ids.new("llmkey"),
            name=name,
            digest=digest_of(token),
            prefix=token[:8],
            team=team,
            agent=agent,
            models=[str(m) for m in models],
            budget=budget,
            period=period,
            created_by=actor.name,
            created_at=self.clock.now(),
        )
        with self.db.transaction() as session:
            session.add(row)
            session.flush()
            listed = _as_dict(row)
        return {**listed, "key": token}

    def _check_agent(self, agent: str, team: str) -> None:
        with self.db.read() as session:
            row = agents.get_agent(session, agent)
            owner = agents.agent_spec(row).team if row is not None else None
        if owner != team:
            raise InvalidInput(f"{agent!r} is not a registered agent of team {team}")

    def list(self, actor: Actor, *, team: str | None = None) -> list[dict[str, Any]]:
        """Return the keys the actor may see (its teams' keys; every key for platform)."""
        with self.db.read() as session:
            stmt = select(LlmKey).order_by(LlmKey.created_at, LlmKey.id)
            if team is not None:
                stmt = stmt.where(LlmKey.team == team)
            rows = list(session.scalars(stmt))
            return [_as_dict(r) for r in rows if may_manage(actor, r.team)]

    def revoke(self, actor: Actor, key_id: str) -> dict[str, Any]:
        """Revoke a key (effective on the next request in this process)."""
        with self.db.transaction() as session:
            row = session.get(LlmKey, key_id)
            if row is None or not may_manage(actor, row.team):
                raise NotFound(f"no LLM key {key_id!r}")
            if row.revoked_at is None:
                row.revoked_at = self.clock.now()
            listed = _as_dict(row)
        with self._lock:
            self._cache.clear()
        return listed

    def resolve(self, token: str) -> KeyInfo | None:
        """Return the live key of ``token`` or None (reads the store at most every recheck_s)."""
        digest = digest_of(token)
        found = self._cache.get(digest)
        now = self._monotonic()
        if found is not None and found[0] > now:
            return found[1]
        with self.db.read() as session:
            row = session.scalar(select(LlmKey).where(LlmKey.digest == digest))
            info = None
            if row is not None and row.revoked_at is None:
                info = KeyInfo(
                    id=row.id,
                    name=row.name,
                    team=row.team,
                    agent=row.agent,
                    models=tuple(row.models or ()),
                    budget=row.budget,
                    period=row.period,
                )
        with self._lock:
            if len(self._cache) > 10000:
                self._cache.clear()
            self._cache[digest] = (now + self.recheck_s, info)
        return info

    def cached(self, token: str) -> tuple[bool, KeyInfo | None]:
        """Return (known, key) from the cache only."""
        found = self._cache.get(digest_of(token))
        if found is None or found[0] <= self._monotonic():
            return False, None
        return True, found[1]


def period_of(period: str, at: datetime) -> str:
    """Return the period label of ``at``: ``2026-11`` (month) or ``2026-11-29`` (day)."""
    return at.strftime("%Y-%m-%d" if period == "day" else "%Y-%m")
