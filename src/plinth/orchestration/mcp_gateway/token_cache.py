"""Verified agent tokens, remembered per token text so a request skips the store.

Checking an agent's token fully (signature, audience, expiry, revocation, the agent and
its grants) reads the store. ``TokenCache`` keeps the actor a token resolved to until
the first of:

- the token's ``exp`` (then it is checked in full again, and refused);
- ``recheck_s`` seconds (default 1 s) since it was checked in the store;
- any committed change in this process to the tables that decide who a token is:
  ``agents``, ``agent_tokens``, ``agent_signing_keys``, ``users``, ``memberships``,
  ``teams``. A SQLAlchemy session hook bumps a process-wide generation after such a
  commit, and every cached entry of an older generation is dropped. So revoking a
  token, disabling an agent or changing its grants takes effect on the very next
  request served by this process.

The bound: a change committed by another process (another control-plane worker on the
same PostgreSQL, a script on the database) reaches this process within ``recheck_s``.
Refusals are never cached: a bad token is checked (and recorded) every time.
"""

from __future__ import annotations

import base64
import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import event
from sqlalchemy.orm import ORMExecuteState, Session, UOWTransaction

from plinth.capabilities.identity.schemas import Actor
from plinth.core.clock import Clock

__all__ = ["WATCHED_TABLES", "TokenCache", "generation"]

WATCHED_TABLES = frozenset(
    {"agents", "agent_tokens", "agent_signing_keys", "users", "memberships", "teams"}
)
_FLAG = "plinth.identity_changed"
_WRITES = ("insert", "update", "delete")
_generation = [0]
_bump_lock = threading.Lock()


def generation() -> int:
    """Return the process-wide generation of identity data (bumped after each change)."""
    return _generation[0]


def _bump() -> None:
    with _bump_lock:
        _generation[0] += 1


def _touches(table: Any) -> bool:
    return getattr(table, "name", None) in WATCHED_TABLES


@event.listens_for(Session, "after_flush")
def _after_flush(session: Session, flush_context: UOWTransaction) -> None:
    for obj in (*session.new, *session.dirty, *session.deleted):
        if _touches(getattr(obj, "__table__", None)):
            session.info[_FLAG] = True
            return


@event.listens_for(Session, "do_orm_execute")
def _on_execute(state: ORMExecuteState) -> None:
    statement: Any = state.statement
    if state.is_update or state.is_delete or state.is_insert:
        if _touches(getattr(statement, "table", None)):
            state.session.info[_FLAG] = True
        return
    text = getattr(statement, "text", None)  # text(): look for a write to a watched table
    if isinstance(text, str):
        lowered = text.lower()
        if any(w in lowered for w in _WRITES) and any(t in lowered for t in WATCHED_TABLES):
            state.session.info[_FLAG] = True


@event.listens_for(Session, "after_commit")
def _after_commit(session: Session) -> None:
    if session.info.pop(_FLAG, False):
        _bump()


@event.listens_for(Session, "after_rollback")
def _after_rollback(session: Session) -> None:
    session.info.pop(_FLAG, None)


def _expiry(token: str) -> float | None:
    """Return the ``exp`` claim of a JWT (already verified by the caller), or None."""
    try:
        payload = token.split(".")[1]
        claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
        exp = claims.get("exp")
    except (IndexError, ValueError, AttributeError):
        return None
    return float(exp) if isinstance(exp, int | float) else None


@dataclass(frozen=True)
class _Entry:
    actor: Actor
    generation: int
    recheck_at: float
    expires_at: float


class TokenCache:
    """Actors of verified agent tokens, per token text (see the module's rules)."""

    def __init__(
        self,
        *,
        clock: Clock,
        recheck_s: float = 1.0,
        max_entries: int = 10000,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.clock = clock
        self.recheck_s = recheck_s
        self.max_entries = max_entries
        self._monotonic = monotonic
        self._entries: dict[str, _Entry] = {}

    def generation(self) -> int:
        """Return the generation to pass to ``put`` (read it before checking the token)."""
        return generation()

    def get(self, token: str) -> Actor | None:
        """Return the cached actor of ``token``, or None when it must be checked in full."""
        entry = self._entries.get(token)
        if entry is None:
            return None
        if (
            entry.generation != _generation[0]
            or self._monotonic() >= entry.recheck_at
            or self.clock.now().timestamp() >= entry.expires_at
        ):
            self._entries.pop(token, None)
            return None
        return entry.actor

    def put(self, token: str, actor: Actor, *, checked_at_generation: int) -> None:
        """Remember that ``token`` resolved to ``actor`` (checked at that generation)."""
        expires = _expiry(token)
        if expires is None or checked_at_generation != _generation[0]:
            return  # not a JWT, or identity data changed while it was being checked
        if len(self._entries) >= self.max_entries:
            self._entries.clear()
        self._entries[token] = _Entry(
            actor, checked_at_generation, self._monotonic() + self.recheck_s, expires
        )

    def clear(self) -> None:
        """Forget every token."""
        self._entries.clear()
