"""Billing: FOCUS exports of the ledger, FOCUS bill imports and their reconciliation.

The experience layer calls these methods (``platform.billing``) and nothing
else; each owns one transaction. Anyone signed in may export and reconcile;
only a platform engineer (organisation-wide) may import bills, and every import
is appended to the audit log in the same transaction as its ledger rows.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Sequence
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from plinth.capabilities.audit import service as audit
from plinth.capabilities.finops import focus
from plinth.capabilities.identity.schemas import Actor, Role
from plinth.core.clock import Clock
from plinth.core.errors import Forbidden, InvalidInput
from plinth.infrastructure.store.db import Database
from plinth.infrastructure.store.pagination import MAX_LIMIT

__all__ = ["DEFAULT_WINDOW", "Billing"]

DEFAULT_WINDOW = timedelta(days=30)


def _token(key: tuple[str, str]) -> str:
    return base64.urlsafe_b64encode(json.dumps(list(key)).encode()).decode()


def _after(token: str) -> tuple[str, str]:
    try:
        value = json.loads(base64.urlsafe_b64decode(token.encode()))
    except (ValueError, binascii.Error) as exc:
        raise InvalidInput("page_token is not a token this server issued") from exc
    if not (isinstance(value, list) and len(value) == 2 and all(isinstance(v, str) for v in value)):
        raise InvalidInput("page_token is not a token this server issued for this list")
    return value[0], value[1]


def _totals(lines: Sequence[focus.ReconcileLine]) -> list[dict[str, Any]]:
    by_currency: dict[str, dict[str, Decimal]] = {}
    for line in lines:
        sums = by_currency.setdefault(
            line.currency, dict.fromkeys(("metered", "estimated", "billed", "expected"), Decimal(0))
        )
        sums["metered"] += line.metered
        sums["estimated"] += line.estimated
        sums["billed"] += line.billed
        sums["expected"] += line.expected
    totals = []
    for currency, sums in sorted(by_currency.items()):
        error = sums["expected"] - sums["billed"]
        pct = (error / sums["billed"] * 100).quantize(Decimal("0.01")) if sums["billed"] else None
        totals.append(
            {
                "currency": currency,
                **{k: format(v, "f") for k, v in sums.items()},
                "error": format(error, "f"),
                "error_pct": None if pct is None else format(pct, "f"),
            }
        )
    return totals


class Billing:
    """FOCUS export, import and reconciliation over one store."""

    def __init__(self, db: Database, clock: Clock) -> None:
        self.db = db
        self.clock = clock

    def window(self, start: datetime | None, end: datetime | None) -> tuple[datetime, datetime]:
        """Resolve an optional window: the 30 days up to now by default."""
        final_end = end or self.clock.now()
        final_start = start or final_end - DEFAULT_WINDOW
        focus.check_window(final_start, final_end)
        return final_start, final_end

    def export_focus(
        self,
        actor: Actor,
        *,
        start: datetime | None = None,
        end: datetime | None = None,
        sources: Sequence[str] = focus.EXPORT_SOURCES,
    ) -> str:
        """Return the ledger of a window as FOCUS 1.2 CSV."""
        begin, finish = self.window(start, end)
        with self.db.read() as session:
            return focus.export_focus(session, start=begin, end=finish, sources=sources)

    def import_focus(
        self, actor: Actor, text: str, *, source: str, assume_utc: bool = False
    ) -> dict[str, Any]:
        """Import a FOCUS billing export (platform engineers only); all or nothing, idempotent."""
        if not actor.has_role(Role.PLATFORM_ENGINEER):
            raise Forbidden(
                "importing billing data needs the platform-engineer role organisation-wide"
            )
        with self.db.transaction() as session:
            audit.lock_chain(session)  # one import at a time: re-imports see earlier rows
            result = focus.import_focus(
                session, text, source_name=source, clock=self.clock, assume_utc=assume_utc
            )
            summary = result.as_dict()
            data = {k: v for k, v in summary.items() if k != "warnings"}
            audit.append(
                session,
                actor=actor.name,
                action="cost.import",
                subject=result.source,
                data=data,
                clock=self.clock,
            )
        return summary

    def reconcile(
        self,
        actor: Actor,
        *,
        start: datetime | None = None,
        end: datetime | None = None,
        limit: int = 50,
        page_token: str | None = None,
    ) -> dict[str, Any]:
        """Return one page of per-resource reconciliation lines plus totals per currency."""
        if limit < 1 or limit > MAX_LIMIT:
            raise InvalidInput(f"limit must be between 1 and {MAX_LIMIT}, got {limit}")
        begin, finish = self.window(start, end)
        with self.db.read() as session:
            lines = focus.reconcile(session, start=begin, end=finish)
        keyed = [((line.resource_id, line.currency), line) for line in lines]
        if page_token:
            after = _after(page_token)
            keyed = [(key, line) for key, line in keyed if key > after]
        page = keyed[:limit]
        more = len(keyed) > limit
        return {
            "window": {"start": focus.focus_time(begin), "end": focus.focus_time(finish)},
            "items": [line.as_dict() for _, line in page],
            "next_page_token": _token(page[-1][0]) if more and page else None,
            "totals": _totals(lines),
        }
