"""Showback: usage in, cost per team out: the FinOps calls of the API (``platform.costing``).

Each method owns one transaction, checks who may do it, and calls the finops
capability: metering (usage in), the ledger (cost out), anomalies (events).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Literal

from sqlalchemy.orm import Session

from plinth.capabilities.finops import anomalies, ledger, metering
from plinth.capabilities.finops.anomalies import AnomalyRule
from plinth.capabilities.finops.attribution import OwnerCache
from plinth.capabilities.finops.budgets import Budget, list_budgets
from plinth.capabilities.finops.metering import UsageSample
from plinth.capabilities.finops.pricebook import PriceBook, current_pricebook
from plinth.capabilities.finops.windows import parse_duration, parse_window
from plinth.capabilities.identity.schemas import Actor
from plinth.core.clock import Clock
from plinth.core.errors import Forbidden, InvalidInput
from plinth.infrastructure.store.db import Database
from plinth.orchestration.ledger_writer import LedgerWriter

__all__ = ["MAX_BATCH", "BookProvider", "Costing", "may_report_usage"]

MAX_BATCH = 10_000
INGEST_ROLE = "platform-engineer"
INGEST_KINDS = ("agent", "provider", "system")

BookProvider = Callable[[Session], PriceBook]


def may_report_usage(actor: Actor) -> bool:
    """Return whether ``actor`` may report usage: an org-wide platform engineer, or a machine."""
    return actor.kind in INGEST_KINDS or actor.has_role(INGEST_ROLE)


class Costing:
    """Usage in, cost reports and anomalies out."""

    def __init__(
        self,
        db: Database,
        clock: Clock,
        book_provider: BookProvider = current_pricebook,
        *,
        rule: AnomalyRule | None = None,
    ) -> None:
        self.db, self.clock, self.book_provider = db, clock, book_provider
        self.rule = rule or AnomalyRule()
        self.owners = OwnerCache()
        self.writer = LedgerWriter(db)
        self._pricing = threading.Lock()

    def check_ingest(self, actor: Actor) -> None:
        """Raise Forbidden unless ``actor`` may report usage."""
        if not may_report_usage(actor):
            raise Forbidden(
                f"{actor.name} may not report usage: it takes an org-wide {INGEST_ROLE} "
                "or an agent or provider identity"
            )

    def ingest(self, actor: Actor, samples: Sequence[UsageSample]) -> dict[str, Any]:
        """Price, attribute and record a batch of usage samples (all or nothing)."""
        self.check_ingest(actor)
        if len(samples) > MAX_BATCH:
            raise InvalidInput(f"a batch holds at most {MAX_BATCH} samples, not {len(samples)}")
        # Price one batch at a time (it is CPU-bound: threads taking turns on the interpreter
        # lock slow every batch down) and outside any write transaction, so batches are
        # priced while others are written; the writer commits waiting batches together.
        with self._pricing, self.db.read() as session:
            book = self.book_provider(session)
            rows = metering.rate(session, samples, book=book, clock=self.clock, owners=self.owners)
        entries = self.writer.write(rows)
        return {"accepted": len(samples), "entries": entries, "price_book": book.version}

    def report(
        self,
        actor: Actor,
        *,
        by: str = "team",
        window: str | None = None,
        start: str | None = None,
        end: str | None = None,
        currency: str = "USD",
        filters: Mapping[str, str] | None = None,
        shared: Literal["allocate", "separate"] = "allocate",
    ) -> dict[str, Any]:
        """Return cost per group over a window, with totals, unattributed and shared cost."""
        span = parse_window(window, now=self.clock.now(), start=start, end=end)
        with self.db.read() as session:
            result = ledger.cost_by(
                session,
                by=by,
                window=span,
                currency=currency,
                filters=filters,
                allocate_shared=shared == "allocate",
            )
        return result.as_dict()

    def series(
        self,
        actor: Actor,
        *,
        by: str = "team",
        window: str | None = "7d",
        step: str = "1d",
        start: str | None = None,
        end: str | None = None,
        currency: str = "USD",
        filters: Mapping[str, str] | None = None,
    ) -> dict[str, Any]:
        """Return cost per group per step (hourly, daily...) over a window."""
        span = parse_window(window, now=self.clock.now(), start=start, end=end)
        size = parse_duration(step, what="step")
        with self.db.read() as session:
            result = ledger.cost_series(
                session, by=by, window=span, step=size, currency=currency, filters=filters
            )
        return result.as_dict()

    def anomalies(
        self, actor: Actor, *, window: str | None = "30d", team: str | None = None
    ) -> dict[str, Any]:
        """Return recorded spend anomalies (the teams' events), newest first."""
        span = parse_window(window, now=self.clock.now())
        with self.db.read() as session:
            rows = anomalies.list_anomalies(session, window=span, team=team)
            items = [anomalies.anomaly_as_dict(r) for r in rows]
        return {"items": items, "window": span.as_dict(), "rule": self._rule()}

    def budgets(self) -> list[Budget]:
        """Return every budget in force (its scope, period, amount and thresholds)."""
        with self.db.read() as session:
            return list_budgets(session)

    def scan(self, actor: Actor | None = None, *, days: int = 1) -> dict[str, Any]:
        """Look for anomalies in the last ``days`` days now; record and return the new ones."""
        if actor is not None and not may_report_usage(actor):
            raise Forbidden(f"{actor.name} may not run anomaly detection: it takes {INGEST_ROLE}")
        with self.db.transaction() as session:
            found = anomalies.detect(session, now=self.clock.now(), rule=self.rule, days=days)
            new = anomalies.record(session, found, clock=self.clock)
        return {
            "detected": len(found),
            "new": [
                {"team": a.team, "day": a.day.date().isoformat(), "message": a.message} for a in new
            ],
        }

    def _rule(self) -> dict[str, Any]:
        return {
            "baseline_days": self.rule.baseline_days,
            "k": str(self.rule.k),
            "floor": str(self.rule.floor),
            "min_history_days": self.rule.min_history_days,
        }
