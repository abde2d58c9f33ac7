"""What the gateway serves, cached: the registered upstreams and each agent's tool grants.

Both are read from the store at most once per ``ttl_s`` (default 2 s), so a call does
not query the store for them; ``invalidate()`` drops the cache at once (the platform
calls it after applying an ``McpServer`` or ``Agent`` document).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from fnmatch import fnmatchcase

from plinth.capabilities.agents import service as agents
from plinth.capabilities.identity.schemas import Actor
from plinth.infrastructure.store.db import Database
from plinth.orchestration.mcp_gateway.registry import UpstreamDefinition, load_upstreams

__all__ = ["AgentGrant", "Catalog"]


@dataclass(frozen=True)
class AgentGrant:
    """The part of an agent's spec the gateway needs: team, tool globs, approval TTL."""

    name: str
    team: str
    tools: tuple[str, ...]
    approval_ttl_seconds: int

    def grants(self, key: str) -> bool:
        """True when one of the agent's ``server/tool`` globs matches ``key``."""
        return any(fnmatchcase(key, pattern) for pattern in self.tools)


class Catalog:
    """Upstream definitions and agent grants, refreshed from the store every ``ttl_s``."""

    def __init__(
        self, db: Database, *, ttl_s: float = 2.0, monotonic: Callable[[], float] = time.monotonic
    ) -> None:
        self.db = db
        self.ttl_s = ttl_s
        self._monotonic = monotonic
        self._lock = threading.Lock()
        self._upstreams: tuple[float, Mapping[str, UpstreamDefinition]] | None = None
        self._agents: dict[str, tuple[float, AgentGrant | None]] = {}

    def invalidate(self) -> None:
        """Forget everything cached; the next call reads the store."""
        with self._lock:
            self._upstreams = None
            self._agents.clear()

    def cached_upstreams(self) -> Mapping[str, UpstreamDefinition] | None:
        """Return the cached upstreams, or None when they must be read again."""
        found = self._upstreams
        if found is None or found[0] <= self._monotonic():
            return None
        return found[1]

    def upstreams(self) -> Mapping[str, UpstreamDefinition]:
        """Return the registered upstreams by name (reads the store when the cache is stale)."""
        cached = self.cached_upstreams()
        if cached is not None:
            return cached
        with self.db.read() as session:
            loaded = load_upstreams(session)
        with self._lock:
            self._upstreams = (self._monotonic() + self.ttl_s, loaded)
        return loaded

    def cached_agent(self, actor: Actor) -> tuple[bool, AgentGrant | None]:
        """Return (known, grant) from the cache for an agent actor."""
        found = self._agents.get(actor.name)
        if found is None or found[0] <= self._monotonic():
            return False, None
        return True, found[1]

    def agent(self, actor: Actor) -> AgentGrant | None:
        """Return the grant of a registered, enabled agent; None for anyone else."""
        if actor.kind != "agent":
            return None
        known, grant = self.cached_agent(actor)
        if known:
            return grant
        with self.db.read() as session:
            row = agents.get_agent(session, actor.name)
            if row is None or row.disabled_at is not None:
                grant = None
            else:
                spec = agents.agent_spec(row)
                grant = AgentGrant(
                    name=row.name,
                    team=spec.team,
                    tools=tuple(spec.tools),
                    approval_ttl_seconds=spec.autonomy.approval_ttl_seconds,
                )
        with self._lock:
            self._agents[actor.name] = (self._monotonic() + self.ttl_s, grant)
        return grant
