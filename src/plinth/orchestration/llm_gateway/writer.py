"""One writer thread: the gateway's records, ledger rows and spend, many requests a commit.

A request must not wait for a commit, so the gateway hands each finished request (an
:class:`Inference`) to this writer. The writer takes every queued request (lingering a
few milliseconds after the first) into one transaction that:

- appends one audit record per request (who, which model, tokens, cost, screen
  verdicts, redactions; the content only when the team's ``LlmAccess`` logs it);
- inserts one ``llm_requests`` row per request;
- writes FinOps ledger rows (``source`` meter, ``resource_type`` llm, dimensions
  ``tokens_input`` / ``tokens_output``) summed per hour, team, agent, provider and model;
- adds each settled cost to ``llm_spend`` for the request's budget scopes.

So the audit chain, the ledger and the budgets always agree. The queue is bounded
(back-pressure, never a drop); a failed transaction is retried with back-off; ``close``
drains the queue. Only a process killed outright loses the requests still queued.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any, cast

from sqlalchemy import Table, bindparam, insert, update
from sqlalchemy.orm import Session

from plinth.capabilities.audit import service as audit
from plinth.capabilities.finops import metering
from plinth.core.batch_writer import BatchWriter
from plinth.infrastructure.store.db import Database
from plinth.orchestration.llm_gateway.models import LlmRequest, LlmSpend

__all__ = ["Inference", "LlmWriter"]

NANO = Decimal("0.000000001")
_REQUESTS = cast(Table, LlmRequest.__table__)
_SPEND = cast(Table, LlmSpend.__table__)
_ADD_SPEND = (
    update(_SPEND)
    .where((_SPEND.c.scope == bindparam("k_scope")) & (_SPEND.c.period == bindparam("k_period")))
    .values(spent=_SPEND.c.spent + bindparam("c"), requests=_SPEND.c.requests + bindparam("n"))
)


@dataclass
class Inference:
    """One finished (or refused) request, as the writer records it."""

    request_id: str
    at: datetime
    actor: str
    team: str
    endpoint: str
    outcome: str
    status: int
    agent: str = ""
    key_id: str = ""
    model: str = ""
    provider: str = ""
    tokens_in: int = 0
    tokens_out: int = 0
    cost: Decimal = Decimal(0)
    currency: str = "USD"
    input_price: Decimal = Decimal(0)
    output_price: Decimal = Decimal(0)
    redactions: int = 0
    screens: dict[str, Any] = field(default_factory=dict)
    latency_ms: float = 0.0
    reason: str = ""
    scopes: tuple[tuple[str, str], ...] = ()
    content: dict[str, Any] | None = None

    def action(self) -> str:
        """Return the audit action of this request."""
        return {
            "refused": "llm.refused",
            "blocked": "llm.blocked",
            "budget": "llm.over_budget",
        }.get(self.outcome, "llm.inference")

    def audit_data(self) -> dict[str, Any]:
        """Return the audit record's data (no content unless logged by policy)."""
        data: dict[str, Any] = {
            "request_id": self.request_id,
            "team": self.team,
            "agent": self.agent or None,
            "key": self.key_id or None,
            "endpoint": self.endpoint,
            "model": self.model,
            "provider": self.provider or None,
            "outcome": self.outcome,
            "status": self.status,
            "usage": {"input": self.tokens_in, "output": self.tokens_out},  # in tokens
            "cost": str(self.cost.quantize(NANO)),
            "currency": self.currency,
            "screens": self.screens,
            "redactions": self.redactions,
            "latency_ms": round(self.latency_ms, 3),
        }
        if self.reason:
            data["reason"] = self.reason
        if self.content is not None:
            data["content"] = self.content
        return data


def _request_row(item: Inference) -> dict[str, Any]:
    return {
        "request_id": item.request_id,
        "at": item.at,
        "actor": item.actor,
        "team": item.team,
        "agent": item.agent,
        "key_id": item.key_id,
        "endpoint": item.endpoint,
        "model": item.model[:200],
        "provider": item.provider,
        "outcome": item.outcome,
        "status": item.status,
        "tokens_in": item.tokens_in,
        "tokens_out": item.tokens_out,
        "cost": item.cost.quantize(NANO),
        "currency": item.currency,
        "redactions": item.redactions,
        "screens": item.screens,
        "latency_ms": round(item.latency_ms, 3),
    }


def ledger_rows(items: list[Inference], now: datetime) -> list[dict[str, Any]]:
    """Return the ledger rows of ``items``: token counts per hour, team, agent and model."""
    lines: dict[tuple[Any, ...], dict[str, Any]] = {}
    for item in items:
        if item.outcome not in ("ok", "cut") or not item.provider:
            continue
        hour = item.at.astimezone(UTC).replace(minute=0, second=0, microsecond=0)
        for dimension, tokens, price in (
            ("tokens_input", item.tokens_in, item.input_price),
            ("tokens_output", item.tokens_out, item.output_price),
        ):
            if not tokens:
                continue
            key = (hour, item.team, item.agent, item.provider, item.model, dimension, price)
            line = lines.get(key)
            if line is None:
                line = lines[key] = {
                    "at": hour,
                    "period_s": 3600.0,
                    "source": "meter",
                    "resource_id": "",
                    "resource_name": item.model[:253],
                    "resource_type": "llm",
                    "provider": item.provider,
                    "region": "",
                    "environment": "",
                    "project": "",
                    "team": item.team,
                    "agent": item.agent,
                    "model": item.model[:200],
                    "sku": f"{item.provider}/{item.model}/{dimension}"[:200],
                    "dimension": dimension,
                    "quantity": Decimal(0),
                    "unit": "token",
                    "unit_price": price.quantize(NANO),
                    "cost": Decimal(0),
                    "currency": item.currency,
                    "extra": {"requests": 0, "cut": 0},
                    "ingested_at": now,
                }
            line["quantity"] += tokens
            line["cost"] = (line["cost"] + tokens * price).quantize(NANO)
            line["extra"]["requests"] += 1
            line["extra"]["cut"] += item.outcome == "cut"
    return list(lines.values())


def _apply(session: Session, items: list[Inference], now: datetime) -> None:
    audit.append_many(
        session,
        [
            audit.Entry(
                at=i.at,
                actor=i.actor,
                action=i.action(),
                subject=f"llm/{i.model or 'unknown'}",
                data=i.audit_data(),
            )
            for i in items
        ],
    )
    session.execute(insert(_REQUESTS), [_request_row(i) for i in items])
    metering.record(session, ledger_rows(items, now))
    spend: dict[tuple[str, str], tuple[Decimal, int]] = {}
    for item in items:
        for key in item.scopes:
            cost, count = spend.get(key, (Decimal(0), 0))
            spend[key] = (cost + item.cost, count + 1)
    conn = session.connection()
    for (scope, period), (cost, count) in spend.items():
        params = {"k_scope": scope, "k_period": period, "c": cost.quantize(NANO), "n": count}
        if getattr(conn.execute(_ADD_SPEND, params), "rowcount", 0) == 0:
            values = {"scope": scope, "period": period, "spent": params["c"], "requests": count}
            conn.execute(insert(_SPEND), values)


class LlmWriter(BatchWriter[Inference]):
    """Records finished requests in order, many per transaction, on one thread."""

    thread_name = "plinth-llm"
    label = "the LLM gateway's writer"
    sleep_linger = True

    def __init__(
        self,
        db: Database,
        *,
        on_committed: Callable[[list[Inference]], None] = lambda items: None,
        now: Callable[[], datetime] = lambda: datetime.now(UTC),
        max_pending: int = 10000,
        max_batch: int = 500,
        linger_s: float = 0.02,
    ) -> None:
        super().__init__(max_pending=max_pending, max_batch=max_batch, linger_s=linger_s)
        self.db, self.on_committed, self.now = db, on_committed, now

    def write_batch(self, items: list[Inference]) -> None:
        """Record ``items`` in one transaction."""
        with self.db.transaction() as session:
            _apply(session, items, self.now())

    def committed(self, items: list[Inference]) -> None:
        """Hand the committed ``items`` to ``on_committed``."""
        self.on_committed(items)
