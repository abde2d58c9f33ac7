"""The policy engine as compliance scans use it: packs in force plus the live pack.

Each scan reads the Policy documents in force from the store (so a Policy applied a
moment ago applies to the next scan), adds the built-in ``compliance-live`` pack, and
evaluates them with the Rego engine. A pack that cannot be evaluated makes the scope's
evaluation fail: the scan then leaves that scope's findings as they are (never
resolving findings because a policy broke).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from plinth.capabilities.compliance.live_pack import LIVE_PACK
from plinth.capabilities.inventory.models import DocumentRecord
from plinth.capabilities.policy.engine import PolicyEngine
from plinth.capabilities.policy.exceptions import PolicyExceptionRule, apply_exceptions
from plinth.capabilities.policy.model import Pack, PolicyResult
from plinth.capabilities.policy.packs import in_force
from plinth.core.clock import Clock
from plinth.orchestration.compliance import Covered, ResultLike

__all__ = ["EnginePolicies"]


class EnginePolicies:
    """Evaluates the packs in force (and the live pack) on live input."""

    def __init__(self, *, clock: Clock, timeout_s: float = 2.0) -> None:
        self.clock, self.timeout_s = clock, timeout_s
        self._cache: tuple[tuple[str, ...], PolicyEngine] | None = None
        self._versions: dict[str, str] = {}

    def packs(self, session: Session) -> list[Pack]:
        """Return the packs in force now, with the live pack."""
        bodies = session.scalars(select(DocumentRecord.body).where(DocumentRecord.kind == "Policy"))
        return [*in_force(list(bodies)), LIVE_PACK]

    def engine(self, session: Session) -> PolicyEngine:
        """Return an engine for the packs in force (reused while they do not change)."""
        packs = self.packs(session)
        keys = tuple(p.key for p in packs)
        if self._cache is None or self._cache[0] != keys:
            self._cache = (keys, PolicyEngine(packs, timeout_s=self.timeout_s))
        return self._cache[1]

    def evaluate(self, session: Session, live: Mapping[str, Any]) -> Sequence[ResultLike]:
        """Return every result on one live input; raise when a pack cannot be evaluated."""
        engine = self.engine(session)
        evaluation = engine.evaluate(live)
        if evaluation.errors:
            raise RuntimeError("; ".join(evaluation.errors))
        self._versions = {p.name: p.version for p in engine.packs}
        return list(evaluation.results)

    def pack_version(self, pack: str) -> str:
        """Return the version of a pack of the last evaluation ("" when unknown)."""
        return self._versions.get(pack, "")

    def except_(
        self, session: Session, results: Sequence[ResultLike], live: Mapping[str, Any]
    ) -> tuple[list[ResultLike], list[Covered]]:
        """Split results into those that stand and those a live PolicyException covers."""
        bodies = session.scalars(
            select(DocumentRecord.body).where(DocumentRecord.kind == "PolicyException")
        )
        rules = [r for r in map(PolicyExceptionRule.from_document, bodies) if r is not None]
        plain = [r for r in results if isinstance(r, PolicyResult)]
        environment = str((live.get("environment") or {}).get("name", ""))
        kept, excepted = apply_exceptions(plain, rules, self.clock.now(), environment=environment)
        covered = [Covered(result, rule.name, rule.expires) for result, rule in excepted]
        return list(kept), covered
