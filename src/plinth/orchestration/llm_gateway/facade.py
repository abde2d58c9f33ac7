"""``platform.llm``: the AI gateway, its keys, usage and the figures the portal shows."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import func, select

from plinth.capabilities.identity.schemas import Actor
from plinth.core.clock import Clock
from plinth.core.errors import Forbidden, InvalidInput
from plinth.core.ids import IdFactory
from plinth.infrastructure.store.db import Database
from plinth.orchestration.llm_gateway.gateway import LlmGateway
from plinth.orchestration.llm_gateway.keys import may_manage
from plinth.orchestration.llm_gateway.models import LlmRequest

__all__ = ["LlmFacade"]


def _money(amount: Decimal) -> str:
    return format(amount.normalize(), "f")


def _sees_all(actor: Actor) -> bool:
    return actor.kind != "agent" and any(
        g.team is None and g.role in ("platform-engineer", "security-auditor", "viewer")
        for g in actor.grants
    )


class LlmFacade:
    """The AI gateway as the API, CLI and portal use it."""

    def __init__(
        self, db: Database, *, clock: Clock, ids: IdFactory, authenticate: Callable[[str], Actor]
    ) -> None:
        self.db, self.clock = db, clock
        self.gateway = LlmGateway(db, clock=clock, ids=ids, authenticate=authenticate)

    # -- keys --------------------------------------------------------------------------

    def create_key(self, actor: Actor, **fields: Any) -> dict[str, Any]:
        """Create a virtual key (see ``KeyStore.create``); the token is in ``key``, once."""
        return self.gateway.keys.create(actor, **fields)

    def list_keys(self, actor: Actor, *, team: str | None = None) -> list[dict[str, Any]]:
        """Return the keys the actor may see."""
        return self.gateway.keys.list(actor, team=team)

    def revoke_key(self, actor: Actor, key_id: str) -> dict[str, Any]:
        """Revoke a key."""
        return self.gateway.keys.revoke(actor, key_id)

    # -- configuration -----------------------------------------------------------------

    def models(self, actor: Actor) -> list[dict[str, Any]]:
        """Return every served model with its provider, prices and the teams allowed it."""
        served = self.gateway.catalog.served()
        return [
            {
                "model": name,
                "kind": route.kind,
                "provider": route.provider.name,
                "input_per_million": _money(route.input_price * 1_000_000),
                "output_per_million": _money(route.output_price * 1_000_000),
                "currency": route.provider.currency,
                "teams": sorted(t for t, a in served.access.items() if a.allows(name)),
            }
            for name, route in sorted(served.models.items())
        ]

    def invalidate(self) -> None:
        """Forget the cached configuration (after LlmProvider or LlmAccess changes)."""
        self.gateway.catalog.invalidate()

    # -- usage -------------------------------------------------------------------------

    def usage(
        self, actor: Actor, *, team: str | None = None, key: str | None = None, days: int = 30
    ) -> list[dict[str, Any]]:
        """Return requests, tokens and cost per team, agent, model and outcome (one key's too)."""
        if days < 1 or days > 366:
            raise InvalidInput("days must be from 1 to 366")
        if team is not None and not (_sees_all(actor) or may_manage(actor, team)):
            raise Forbidden(f"{actor.name} may not see the LLM usage of team {team}")
        self.gateway.writer.flush()
        since = self.clock.now() - timedelta(days=days)
        r = LlmRequest
        stmt = (
            select(
                r.team,
                r.agent,
                r.model,
                r.outcome,
                func.count(),
                func.sum(r.tokens_in),
                func.sum(r.tokens_out),
                func.sum(r.cost),
                func.sum(r.redactions),
            )
            .where(r.at >= since)
            .group_by(r.team, r.agent, r.model, r.outcome)
            .order_by(r.team, r.agent, r.model, r.outcome)
        )
        if team is not None:
            stmt = stmt.where(r.team == team)
        if key is not None:
            stmt = stmt.where(r.key_id == key)
        with self.db.read() as session:
            rows = list(session.execute(stmt))
        everyone = _sees_all(actor)
        return [
            {
                "team": row[0],
                "agent": row[1] or None,
                "model": row[2],
                "outcome": row[3],
                "requests": int(row[4]),
                "tokens_in": int(row[5] or 0),
                "tokens_out": int(row[6] or 0),
                "cost": _money(Decimal(row[7] or 0)),
                "redactions": int(row[8] or 0),
            }
            for row in rows
            if everyone or may_manage(actor, row[0])
        ]

    def stats(self, *, days: int = 30, now: datetime | None = None) -> dict[str, Any]:
        """Portal figures: spend by team and model, refused and blocked requests, redactions."""
        self.gateway.writer.flush()
        since = (now or self.clock.now()) - timedelta(days=days)
        r = LlmRequest
        with self.db.read() as session:
            by = list(
                session.execute(
                    select(
                        r.team,
                        r.model,
                        r.outcome,
                        func.count(),
                        func.sum(r.cost),
                        func.sum(r.redactions),
                    )
                    .where(r.at >= since)
                    .group_by(r.team, r.model, r.outcome)
                )
            )
        spend_team: dict[str, Decimal] = {}
        spend_model: dict[str, Decimal] = {}
        outcomes: dict[str, int] = {}
        refused_models: dict[str, int] = {}
        redactions = 0
        for team, model, outcome, count, cost, redacted in by:
            amount = Decimal(cost or 0)
            spend_team[team] = spend_team.get(team, Decimal(0)) + amount
            if amount:
                spend_model[model] = spend_model.get(model, Decimal(0)) + amount
            outcomes[outcome] = outcomes.get(outcome, 0) + int(count)
            if outcome == "refused":
                refused_models[model] = refused_models.get(model, 0) + int(count)
            redactions += int(redacted or 0)
        return {
            "days": days,
            "requests": sum(outcomes.values()),
            "outcomes": outcomes,
            "spend_by_team": {k: _money(v) for k, v in sorted(spend_team.items())},
            "spend_by_model": {k: _money(v) for k, v in sorted(spend_model.items())},
            "refused": outcomes.get("refused", 0),
            "refused_models": refused_models,
            "blocked": outcomes.get("blocked", 0),
            "over_budget": outcomes.get("budget", 0),
            "redactions": redactions,
            "budgets": self.gateway.accountant.snapshot(),
        }
