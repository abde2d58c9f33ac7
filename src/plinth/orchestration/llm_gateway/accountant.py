"""Budgets held before a call, settled after it: concurrent requests cannot overrun them.

For every budget scope (``team:<name>`` from the team's ``LlmAccess``, ``key:<id>`` for
a key with its own budget) and period (a UTC day or month), the accountant keeps in
memory the settled spend (loaded once from ``llm_spend``) and the amount held by
requests in flight. ``reserve`` holds a request's maximum cost (its input upper bound
plus ``max_tokens`` at the output price) in every scope at once, under one lock, and
refuses when any scope would go over: so however many requests run together, settled
spend plus what is held never exceeds a budget. ``settle`` releases the hold and adds
the actual cost; the writer then adds it to ``llm_spend`` in the same transaction as
the ledger rows and the audit record (one commit for many requests).

Crash semantics: holds live in memory only, so a crash releases them (nothing was
spent for them that is not settled). A settled cost is durable once the writer commits
(normally within ~50 ms); a process killed outright loses at most the costs queued in
that window, in ``llm_spend``, the ledger and the audit chain alike (they stay equal).
Several control-plane processes each keep their own holds: a budget is exact within a
process; across processes each reloads the settled spend every ``reload_s``.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from decimal import Decimal

from sqlalchemy import select

from plinth.infrastructure.store.db import Database
from plinth.orchestration.llm_gateway.models import LlmSpend

__all__ = ["Accountant", "BudgetExceeded", "Hold", "Limit"]


@dataclass(frozen=True)
class Limit:
    """One budget that a request counts against."""

    scope: str
    period: str
    amount: Decimal


class BudgetExceeded(Exception):
    """A request's maximum cost does not fit in one of its budgets."""

    def __init__(self, limit: Limit, available: Decimal, needed: Decimal) -> None:
        super().__init__(
            f"budget {limit.scope} for {limit.period} exhausted: {available:.6f} left, "
            f"this request may cost up to {needed:.6f}"
        )
        self.limit = limit


@dataclass
class _Account:
    spent: Decimal
    held: Decimal = Decimal(0)
    loaded_at: float = 0.0
    pending: Decimal = Decimal(0)  # settled here, not yet committed


@dataclass
class Hold:
    """Money held for one request in some budgets."""

    amount: Decimal
    keys: tuple[tuple[str, str], ...]
    settled: bool = False
    extra: dict[str, str] = field(default_factory=dict)


class Accountant:
    """Holds and settles request costs against budgets (see the module)."""

    def __init__(
        self,
        db: Database,
        *,
        reload_s: float = 5.0,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.db, self.reload_s, self._monotonic = db, reload_s, monotonic
        self._lock = threading.Lock()
        self._accounts: dict[tuple[str, str], _Account] = {}

    def _load(self, key: tuple[str, str]) -> Decimal:
        with self.db.read() as session:
            row = session.scalar(
                select(LlmSpend).where(LlmSpend.scope == key[0], LlmSpend.period == key[1])
            )
            return row.spent if row is not None else Decimal(0)

    def prepare(self, limits: Sequence[Limit]) -> None:
        """Load (or reload, when stale) the settled spend of ``limits``; call off the event loop."""
        now = self._monotonic()
        for limit in limits:
            key = (limit.scope, limit.period)
            account = self._accounts.get(key)
            if account is not None and now - account.loaded_at < self.reload_s:
                continue
            stored = self._load(key)
            with self._lock:
                account = self._accounts.get(key)
                if account is None:
                    self._accounts[key] = _Account(spent=stored, loaded_at=now)
                else:  # what other processes settled, plus ours not yet committed
                    account.spent = max(account.spent, stored + account.pending)
                    account.loaded_at = now

    def ready(self, limits: Sequence[Limit]) -> bool:
        """True when every limit's account is loaded and fresh."""
        now = self._monotonic()
        for limit in limits:
            account = self._accounts.get((limit.scope, limit.period))
            if account is None or now - account.loaded_at >= self.reload_s:
                return False
        return True

    def reserve(self, limits: Sequence[Limit], amount: Decimal) -> Hold:
        """Hold ``amount`` in every limit at once, or raise BudgetExceeded (holding nothing)."""
        keys = tuple((limit.scope, limit.period) for limit in limits)
        with self._lock:
            for limit, key in zip(limits, keys, strict=True):
                account = self._accounts[key]
                available = limit.amount - account.spent - account.held
                if amount > available:
                    raise BudgetExceeded(limit, max(available, Decimal(0)), amount)
            for key in keys:
                self._accounts[key].held += amount
        return Hold(amount, keys)

    def settle(self, hold: Hold, cost: Decimal) -> None:
        """Release the hold and count the actual cost (once; later calls do nothing)."""
        with self._lock:
            if hold.settled:
                return
            hold.settled = True
            for key in hold.keys:
                account = self._accounts[key]
                account.held -= hold.amount
                account.spent += cost
                account.pending += cost

    def committed(self, keys: Sequence[tuple[str, str]], cost: Decimal) -> None:
        """Note that ``cost`` settled in ``keys`` is now in the store."""
        with self._lock:
            for key in keys:
                account = self._accounts.get(key)
                if account is not None:
                    account.pending -= cost

    def snapshot(self) -> list[dict[str, str]]:
        """Return every loaded account: scope, period, spent, held."""
        with self._lock:
            return [
                {"scope": k[0], "period": k[1], "spent": str(a.spent), "held": str(a.held)}
                for k, a in sorted(self._accounts.items())
            ]
