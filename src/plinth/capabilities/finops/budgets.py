"""Budgets: how much a team, project or environment may spend per period, and its forecast.

A ``Budget`` document (``plinth.dev/v1``, unscoped) names one scope, an amount,
a currency, a period (``monthly``, ``quarterly``, ``yearly`` or an ISO 8601
duration of one unit: ``P1M``, ``P3M``, ``P1Y``, ``P2W``, ``P30D``) and
thresholds as fractions of the amount. Calendar periods start on the first of a
month (UTC); week and day periods are counted from Monday 1970-01-05.

Forecast of a period = spent so far (ledger rows of source ``meter`` or
``billing`` in the scope since the period started) + committed (the hourly
estimate of every desired resource in the scope x the hours left in the period)
+ held reservations of approved plans not yet applied.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from plinth.capabilities.finops import committed, reservations
from plinth.capabilities.finops.estimate import money
from plinth.capabilities.finops.models import BudgetReservation, CostEntry
from plinth.capabilities.finops.pricebook import PriceBook, current_pricebook, parse_amount
from plinth.capabilities.identity.models import ProjectRow, TeamRow
from plinth.capabilities.inventory.models import DocumentRecord
from plinth.core.clock import Clock
from plinth.core.errors import InvalidInput, Issue, SpecError
from plinth.core.ids import IdFactory

__all__ = [
    "SCOPES",
    "Budget",
    "Forecast",
    "Period",
    "budget_facts",
    "budgets_for",
    "forecast",
    "list_budgets",
    "parse_budget",
    "parse_period",
    "reserve_for_plan",
]

SCOPES = ("team", "project", "environment")
SPENT_SOURCES = ("meter", "billing")
_NAMED = {"monthly": "P1M", "quarterly": "P3M", "yearly": "P1Y"}
_ISO = re.compile(r"^P([1-9][0-9]{0,3})([YMWD])$")
_DAY_EPOCH = datetime(1970, 1, 5, tzinfo=UTC)
DEFAULT_THRESHOLDS = {
    "warn": Decimal("0.8"),
    "needs_approval": Decimal("1.0"),
    "deny": Decimal("1.2"),
}


@dataclass(frozen=True)
class Period:
    """A budget period: a number of months, or a number of days."""

    text: str
    months: int = 0
    days: int = 0

    def window(self, now: datetime) -> tuple[datetime, datetime]:
        """Return the start and end (exclusive) of the period that contains ``now``."""
        if self.months:
            index = (now.year * 12 + now.month - 1) // self.months * self.months
            start = datetime(index // 12, index % 12 + 1, 1, tzinfo=UTC)
            after = index + self.months
            return start, datetime(after // 12, after % 12 + 1, 1, tzinfo=UTC)
        span = timedelta(days=self.days)
        start = _DAY_EPOCH + span * ((now - _DAY_EPOCH) // span)
        return start, start + span


def parse_period(text: Any) -> Period:
    """Parse ``monthly``/``quarterly``/``yearly`` or ``P<n>Y|M|W|D``; InvalidInput otherwise."""
    iso = _NAMED.get(text, text) if isinstance(text, str) else text
    match = _ISO.match(iso) if isinstance(iso, str) else None
    if match is None:
        raise InvalidInput(
            f"budget period {text!r} does not parse: use monthly, quarterly, yearly or an "
            "ISO 8601 duration of one unit such as P1M, P3M, P1Y, P2W or P30D"
        )
    n, unit = int(match[1]), match[2]
    if unit in "YM":
        return Period(str(text), months=n * (12 if unit == "Y" else 1))
    return Period(str(text), days=n * (7 if unit == "W" else 1))


@dataclass(frozen=True)
class Budget:
    """A parsed ``Budget`` document."""

    name: str
    scope_kind: str
    scope_name: str
    amount: Decimal
    currency: str
    period: Period
    thresholds: dict[str, Decimal]

    def covers(self, *, environment: str, project: str, team: str) -> bool:
        """Return whether a plan in this environment/project/team falls in the scope."""
        value = {"team": team, "project": project, "environment": environment}[self.scope_kind]
        return bool(value) and value == self.scope_name


def parse_budget(
    body: dict[str, Any], *, document: int | None = None, file: str | None = None
) -> Budget:
    """Return the budget of a document; SpecError names every bad field."""
    spec = body.get("spec") or {}
    issues: list[Issue] = []
    scope = spec.get("scope") or {}
    kinds = [k for k in SCOPES if k in scope]
    if len(kinds) != 1:
        issues.append(
            Issue(f"needs exactly one of {', '.join(SCOPES)}", "$.spec.scope", document, file)
        )
    try:
        amount = parse_amount(spec.get("amount"), "amount", what="amount")
        if amount <= 0:
            raise InvalidInput("amount: must be more than zero")
    except InvalidInput as error:
        amount = Decimal(0)
        issues.append(Issue(error.detail.split(": ", 1)[1], "$.spec.amount", document, file))
    try:
        period = parse_period(spec.get("period", "monthly"))
    except InvalidInput as error:
        period = Period("monthly", months=1)
        issues.append(Issue(error.detail, "$.spec.period", document, file))
    thresholds = dict(DEFAULT_THRESHOLDS)
    for key, raw in (spec.get("thresholds") or {}).items():
        try:
            thresholds[key] = parse_amount(raw, key, what="threshold")
        except InvalidInput as error:
            message = error.detail.split(": ", 1)[1]
            issues.append(Issue(message, f"$.spec.thresholds.{key}", document, file))
    order = [thresholds["warn"], thresholds["needs_approval"], thresholds["deny"]]
    if order != sorted(order):
        message = "thresholds must satisfy warn <= needs_approval <= deny"
        issues.append(Issue(message, "$.spec.thresholds", document, file))
    if issues:
        raise SpecError(issues)
    return Budget(
        name=str(body["metadata"]["name"]),
        scope_kind=kinds[0],
        scope_name=str(scope[kinds[0]]),
        amount=amount,
        currency=str(spec.get("currency", "USD")),
        period=period,
        thresholds=thresholds,
    )


def list_budgets(session: Session) -> list[Budget]:
    """Return every stored budget, by name."""
    rows = session.scalars(
        select(DocumentRecord).where(DocumentRecord.kind == "Budget").order_by(DocumentRecord.name)
    )
    return [parse_budget(row.body) for row in rows]


def budgets_for(session: Session, *, environment: str, project: str, team: str) -> list[Budget]:
    """Return the budgets whose scope covers a plan in ``environment``/``project``/``team``."""
    return [
        b
        for b in list_budgets(session)
        if b.covers(environment=environment, project=project, team=team)
    ]


@dataclass(frozen=True)
class Forecast:
    """Where a budget stands in its current period."""

    start: datetime
    end: datetime
    hours_left: Decimal
    spent: Decimal
    committed: Decimal
    held: Decimal

    @property
    def total(self) -> Decimal:
        """Return spent + committed + held."""
        return self.spent + self.committed + self.held


def _scope_projects(session: Session, budget: Budget) -> list[str] | None:
    if budget.scope_kind == "project":
        return [budget.scope_name]
    if budget.scope_kind == "team":
        stmt = select(ProjectRow.name).join(TeamRow, TeamRow.id == ProjectRow.team_id)
        return list(session.scalars(stmt.where(TeamRow.name == budget.scope_name)))
    return None


def _committed_hourly(session: Session, budget: Budget, book: PriceBook) -> Decimal:
    """Return the hourly cost of every resource applied in the budget's scope."""
    projects = _scope_projects(session, budget)
    if projects is None:
        return committed.committed_hourly(session, environment=budget.scope_name)
    return committed.committed_hourly(session, projects=projects)


def _spent(session: Session, budget: Budget, start: datetime, now: datetime) -> Decimal:
    column = getattr(CostEntry, budget.scope_kind)
    stmt = select(func.coalesce(func.sum(CostEntry.cost), 0)).where(
        column == budget.scope_name,
        CostEntry.at >= start,
        CostEntry.at < now,
        CostEntry.source.in_(SPENT_SOURCES),
        CostEntry.currency == budget.currency,
    )
    return Decimal(session.scalar(stmt) or 0)


def forecast(
    session: Session,
    budget: Budget,
    *,
    now: datetime,
    book: PriceBook | None = None,
    exclude_plan: str = "",
) -> Forecast:
    """Return the budget's forecast for the period containing ``now``."""
    start, end = budget.period.window(now)
    hours_left = Decimal((end - now).total_seconds()) / 3600
    committed = _committed_hourly(session, budget, book or current_pricebook(session))
    held = reservations.held_amount(session, budget=budget.name, now=now, exclude_plan=exclude_plan)
    return Forecast(
        start=start,
        end=end,
        hours_left=hours_left,
        spent=_spent(session, budget, start, now),
        committed=committed * hours_left,
        held=held,
    )


def budget_facts(
    session: Session,
    *,
    environment: str,
    project: str,
    team: str,
    now: datetime,
    exclude_plan: str = "",
) -> list[dict[str, Any]]:
    """Return, as plain data for the cost gate, every covering budget and its forecast."""
    covering = budgets_for(session, environment=environment, project=project, team=team)
    if not covering:
        return []
    book = current_pricebook(session)
    facts = []
    for budget in covering:
        f = forecast(session, budget, now=now, book=book, exclude_plan=exclude_plan)
        facts.append(
            {
                "name": budget.name,
                "scope": {budget.scope_kind: budget.scope_name},
                "amount": money(budget.amount, 2),
                "currency": budget.currency,
                "period": budget.period.text,
                "thresholds": {k: str(v) for k, v in budget.thresholds.items()},
                "period_start": f.start.isoformat(),
                "period_end": f.end.isoformat(),
                "hours_left": money(f.hours_left, 4),
                "spent": money(f.spent),
                "committed": money(f.committed),
                "held": money(f.held),
            }
        )
    return facts


def reserve_for_plan(
    session: Session,
    *,
    environment: str,
    project: str,
    team: str,
    cost: dict[str, Any],
    plan_digest: str,
    ids: IdFactory,
    clock: Clock,
) -> list[BudgetReservation]:
    """Hold, in every budget covering the plan, what it adds until the period ends."""
    hourly = Decimal(str(cost.get("hourly_delta", "0")))
    if hourly <= 0:
        return []
    now = clock.now()
    held = []
    for budget in budgets_for(session, environment=environment, project=project, team=team):
        _, end = budget.period.window(now)
        amount = hourly * Decimal((end - now).total_seconds()) / 3600
        held.append(
            reservations.hold(
                session,
                budget=budget.name,
                plan_digest=plan_digest,
                amount=amount,
                currency=budget.currency,
                ids=ids,
                clock=clock,
            )
        )
    return held
