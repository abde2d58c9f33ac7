"""Cost in every plan: each resource change priced, the plan's delta, cheaper alternatives.

The planner calls :func:`price_draft` on every draft. Each ``Resource`` change
gets ``cost`` (after the change) and, for updates and deletes, ``cost_before``;
the draft gets a summary (``monthly_before``, ``monthly_after``,
``monthly_delta``, ``hourly_delta``, by team, project and environment) and the
ranked alternatives for what the plan creates or grows. Prices come from the
current price book: the shipped default plus every stored ``PriceBook``.
"""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal
from typing import Any

from sqlalchemy.orm import Session

from plinth.capabilities.finops.alternatives import Target, alternatives_for, parse_floor
from plinth.capabilities.finops.budgets import parse_budget
from plinth.capabilities.finops.estimate import (
    HOURS_PER_MONTH,
    Estimate,
    estimate_resource,
    money,
    pricing_for,
)
from plinth.capabilities.finops.pricebook import PriceBook, current_pricebook, rates_from_document
from plinth.capabilities.identity import service as identity
from plinth.capabilities.inventory import service as inventory
from plinth.core.documents import Document
from plinth.core.errors import Issue, NotFound, SpecError
from plinth.orchestration.plans import Change, PlanDraft

__all__ = ["FINOPS_KINDS", "price_draft", "validate_finops_document"]

FINOPS_KINDS = ("Budget", "PriceBook")
GROWING = ("create", "update", "replace")
TEMPLATE_ANNOTATION = "plinth.dev/template"


def validate_finops_document(session: Session, doc: Document, *, teams: set[str]) -> None:
    """Raise SpecError (with paths) if a ``Budget`` or ``PriceBook`` document is invalid.

    A budget's scope must name a team, project or environment that exists (or, for a
    team, one created by the same plan: ``teams``).
    """
    if doc.kind == "PriceBook":
        rates_from_document(doc.raw, document=doc.index)
        return
    budget = parse_budget(doc.raw, document=doc.index, file=doc.file)
    kind, name = budget.scope_kind, budget.scope_name
    if kind == "team":
        known = name in teams or identity.find_team(session, name) is not None
    else:
        try:
            getter = identity.get_project if kind == "project" else identity.get_environment
            getter(session, name)
            known = True
        except NotFound:
            known = False
    if not known:
        message = f"no {kind} named {name!r}: a budget's scope must exist"
        raise SpecError([Issue(message, f"$.spec.scope.{kind}", doc.index, doc.file)])


def _floors(session: Session, changes: list[Change]) -> dict[str, dict[str, Decimal]]:
    """Return the template lower bounds (cpu, memory) of each workload in the plan."""
    versions = {
        str(c.after["spec"]["template"]): str(c.after["spec"].get("version", ""))
        for c in changes
        if c.kind == "Application" and isinstance(c.after, dict)
    }
    floors: dict[str, dict[str, Decimal]] = {}
    for change in changes:
        if change.kind != "Workload" or not isinstance(change.after, dict):
            continue
        annotations = (change.after.get("metadata") or {}).get("annotations") or {}
        template = str(annotations.get(TEMPLATE_ANNOTATION, ""))
        if template not in versions:
            continue
        found = inventory.get_document(
            session, kind="Template", name=template, label=versions[template]
        )
        if found is not None:
            floors[change.name] = parse_floor(found.body)
    return floors


def _estimate(book: PriceBook, type_: str, spec: Any, pricing: Any) -> Estimate:
    return estimate_resource(
        book, type=type_, spec=spec if isinstance(spec, dict) else {}, pricing=pricing
    )


def price_draft(session: Session, draft: PlanDraft, *, provider_of: Callable[[str], str]) -> None:
    """Attach cost to every resource change of ``draft`` and a cost summary to the draft."""
    book = current_pricebook(session)
    env = identity.get_environment(session, draft.environment)
    before_total = after_total = Decimal(0)
    targets: list[Target] = []
    floors = _floors(session, draft.changes)
    for change in draft.changes:
        if change.kind != "Resource" or not change.type:
            continue
        pricing = pricing_for(provider=provider_of(change.type), region=env.region)
        before = _estimate(book, change.type, change.before, pricing) if change.before else None
        after = None
        if change.action != "delete" and change.after is not None:
            after = _estimate(book, change.type, change.after, pricing)
        if before is None and after is None:
            continue
        change.cost = (after or Estimate(Decimal(0), book.currency)).as_dict()
        if before is not None and change.action != "create":
            change.cost_before = before.as_dict()
        before_total += before.monthly if before else Decimal(0)
        after_total += after.monthly if after else Decimal(0)
        grew = after is not None and after.monthly > (before.monthly if before else 0)
        if change.action in GROWING and grew:
            targets.append(
                Target(
                    name=change.name,
                    type=change.type,
                    spec=dict(change.after),
                    pricing=pricing,
                    environment=draft.environment,
                    project=draft.project,
                    production=env.tier == "prod" or env.protected,
                    floor=floors.get(change.name, {}),
                )
            )
    if not any(c.cost for c in draft.changes):
        return
    draft.cost = _summary(draft, book, before_total, after_total)
    found = alternatives_for(session, book, targets) if targets else []
    draft.cost["alternatives"] = [a.as_dict() for a in found]


def _summary(draft: PlanDraft, book: PriceBook, before: Decimal, after: Decimal) -> dict[str, Any]:
    delta = after - before
    shown = money(delta, 2)
    return {
        "currency": book.currency,
        "price_book": book.version,
        "monthly_before": money(before, 2),
        "monthly_after": money(after, 2),
        "monthly_delta": shown,
        "hourly_delta": money(delta / HOURS_PER_MONTH),
        "by_team": {draft.team: shown} if draft.team else {},
        "by_project": {draft.project: shown} if draft.project else {},
        "by_environment": {draft.environment: shown},
    }
