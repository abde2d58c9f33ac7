"""The janitor's findings: idle workloads, expired TTLs and orphans, ranked by what they cost.

Nothing here changes anything; ``plinth.orchestration.janitor`` acts on these
candidates through plans, like everyone else. The rules (defaults in
:class:`JanitorPolicy`, all configurable):

- **Idle**: a running service whose metered CPU use over the last
  ``idle_window`` (7 days) is under ``idle_threshold`` (5 %) of what it
  requested, counted over the ledger's ``meter`` rows of its own resource
  (``extra.used`` / ``extra.requested`` as metering writes them; a sample with no
  request counts the estimate's default request, 0.1 vCPU). The samples must
  cover at least ``min_coverage`` (80 %) of the window, so a workload metered
  for one hour is never judged on that hour. Jobs and stopped workloads are
  never idle (they use nothing while they wait, by design). A workload's VMs
  (``vm`` resources, metered like services: CPU used against the vCPUs they
  hold) count too: the workload is idle when its service, if any, and every
  VM are idle, and the finding names each.
- **Expired TTL**: the workload's ``plinth.dev/ttl`` annotation (a duration from
  its first apply, or an RFC 3339 time) is in the past.
- **Orphan**: the workload's project no longer exists, so no team owns it.
  (Teams cannot be removed while they own projects, so a gone team shows up as
  a gone project.) No plan can be made in a project that does not exist, so
  orphans are reported, not acted on, until the project is recreated.
- **Monthly cost**: the estimate of the workload's own resources at the current
  price book (``finops.estimate``, what it costs while running); when the book
  prices none of them, the sum of its ledger costs over the last 30 days
  (``meter`` rows, else ``billing`` rows); else unknown (ranked last).

Workloads rendered by an Application are reported like the others but marked
``application``: the janitor never edits them (their Application owns them).
``Candidate.actionable`` is false for those and for orphans; ``why_not`` says why.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import Float, and_, case, cast, func, select
from sqlalchemy.orm import Session

from plinth.capabilities.finops.estimate import DEFAULT_CPU, estimate_resource, money, pricing_for
from plinth.capabilities.finops.models import CostEntry
from plinth.capabilities.finops.pricebook import PriceBook, current_pricebook
from plinth.capabilities.identity.models import EnvironmentRow, ProjectRow, TeamRow
from plinth.capabilities.inventory.models import DocumentRecord, ResourceRecord
from plinth.core.errors import InvalidInput
from plinth.integration.importers.lifecycle import (
    ANNOTATION_STOPPED,
    ANNOTATION_TTL,
    parse_ttl,
)

__all__ = [
    "Candidate",
    "Finding",
    "JanitorPolicy",
    "Utilisation",
    "annotations_of",
    "cpu_utilisation",
    "find_candidates",
    "format_window",
    "mark_text",
]

IDLE, TTL, ORPHAN = "idle", "ttl", "orphan"
_WORKLOAD_TYPES = ("service", "job")
_METERED_TYPES = (*_WORKLOAD_TYPES, "vm")  # whose CPU use the idle rule reads


@dataclass(frozen=True)
class JanitorPolicy:
    """The janitor's thresholds and periods (see the module docs for what each means)."""

    idle_threshold: Decimal = Decimal("0.05")
    idle_window: timedelta = timedelta(days=7)
    min_coverage: Decimal = Decimal("0.8")
    notice: timedelta = timedelta(days=3)
    grace: timedelta = timedelta(days=7)
    snooze: timedelta = timedelta(days=30)
    cost_window: timedelta = timedelta(days=30)

    def as_dict(self) -> dict[str, Any]:
        """Return the policy as JSON data."""
        return {
            "idle_threshold": str(self.idle_threshold),
            "idle_window": format_window(self.idle_window),
            "min_coverage": str(self.min_coverage),
            "notice": format_window(self.notice),
            "grace": format_window(self.grace),
            "snooze": format_window(self.snooze),
            "cost_window": format_window(self.cost_window),
        }


@dataclass(frozen=True)
class Finding:
    """One reason a workload is a candidate: ``idle``, ``ttl`` or ``orphan``."""

    kind: str
    detail: str

    def as_dict(self) -> dict[str, str]:
        """Return the finding as JSON data."""
        return {"kind": self.kind, "detail": self.detail}


@dataclass(frozen=True)
class Utilisation:
    """CPU a resource used against what it requested, over the metered part of a window."""

    used: float  # vCPU-hours
    requested: float  # vCPU-hours
    covered_s: float

    @property
    def ratio(self) -> float:
        """Return used / requested (0 when nothing was requested)."""
        return self.used / self.requested if self.requested > 0 else 0.0


@dataclass(frozen=True)
class Candidate:
    """A workload the janitor would clean up, with why and what it costs."""

    workload: str
    environment: str
    project: str
    team: str
    findings: tuple[Finding, ...]
    monthly_cost: Decimal | None
    currency: str
    cost_basis: str
    application: str = ""
    utilisation: float | None = None
    expires_at: datetime | None = None
    notes: tuple[str, ...] = field(default_factory=tuple)
    blocked: str = ""

    @property
    def key(self) -> str:
        """Return ``environment/project/workload``."""
        return f"{self.environment}/{self.project}/{self.workload}"

    @property
    def actionable(self) -> bool:
        """True when the janitor may act on it: a standalone workload it can plan for."""
        return not self.application and not self.blocked

    @property
    def why_not(self) -> str:
        """Return why the janitor only recommends (empty when it acts)."""
        if self.application:
            return f"owned by application {self.application!r}: change the application instead"
        return self.blocked

    def as_dict(self) -> dict[str, Any]:
        """Return the candidate as JSON data."""
        return {
            "workload": self.workload,
            "environment": self.environment,
            "project": self.project,
            "team": self.team,
            "findings": [f.as_dict() for f in self.findings],
            "monthly_cost": None if self.monthly_cost is None else money(self.monthly_cost, 2),
            "currency": self.currency,
            "cost_basis": self.cost_basis,
            "application": self.application,
            "actionable": self.actionable,
            "why_not": self.why_not or None,
            "utilisation": self.utilisation,
            "expires_at": self.expires_at,
            "notes": list(self.notes),
        }


def format_window(window: timedelta) -> str:
    """Return a period as ``7d``, ``36h`` or ``90m``."""
    seconds = int(window.total_seconds())
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds and seconds % size == 0:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"


def mark_text(findings: Iterable[Finding], now: datetime) -> str:
    """Return the ``plinth.dev/janitor-mark`` value: ``<reason>; <date>``."""
    reason = ", ".join(f"{f.kind}: {f.detail}" for f in findings)
    return f"{reason}; {now.date().isoformat()}"


def annotations_of(body: dict[str, Any]) -> dict[str, str]:
    """Return a stored workload body's annotations (empty when it has none)."""
    meta = body.get("metadata")
    raw = meta.get("annotations") if isinstance(meta, dict) else None
    return {str(k): str(v) for k, v in raw.items()} if isinstance(raw, dict) else {}


def cpu_utilisation(
    session: Session, resource_ids: list[str], *, start: datetime, end: datetime
) -> dict[str, Utilisation]:
    """Return each resource's metered CPU use and request between ``start`` and ``end``."""
    if not resource_ids:
        return {}
    used = func.coalesce(cast(CostEntry.extra["used"].as_string(), Float), CostEntry.quantity)
    requested = cast(CostEntry.extra["requested"].as_string(), Float)
    unrequested_s = case((requested.is_(None), CostEntry.period_s), else_=0.0)
    stmt = (
        select(
            CostEntry.resource_id,
            func.sum(cast(used, Float)),
            func.coalesce(func.sum(requested), 0.0),
            func.sum(CostEntry.period_s),
            func.sum(unrequested_s),
        )
        .where(
            and_(
                CostEntry.source == "meter",
                CostEntry.dimension == "cpu",
                CostEntry.resource_id.in_(resource_ids),
                CostEntry.at >= start,
                CostEntry.at < end,
            )
        )
        .group_by(CostEntry.resource_id)
    )
    result: dict[str, Utilisation] = {}
    for rid, used_h, requested_h, covered, bare_s in session.execute(stmt):
        assumed = float(DEFAULT_CPU) * float(bare_s or 0.0) / 3600
        result[rid] = Utilisation(
            float(used_h or 0.0), float(requested_h or 0.0) + assumed, float(covered or 0.0)
        )
    return result


def _ledger_costs(
    session: Session, resource_ids: list[str], *, start: datetime, end: datetime
) -> dict[tuple[str, str], tuple[Decimal, str]]:
    """Return ``{(resource_id, source): (cost, currency)}`` from the ledger."""
    if not resource_ids:
        return {}
    stmt = (
        select(
            CostEntry.resource_id, CostEntry.source, CostEntry.currency, func.sum(CostEntry.cost)
        )
        .where(
            CostEntry.resource_id.in_(resource_ids),
            CostEntry.source.in_(("meter", "billing")),
            CostEntry.at >= start,
            CostEntry.at < end,
        )
        .group_by(CostEntry.resource_id, CostEntry.source, CostEntry.currency)
    )
    return {
        (rid, source): (Decimal(total or 0), currency)
        for rid, source, currency, total in session.execute(stmt)
    }


@dataclass
class _Scan:
    """What one scan reads once: the org, resources, prices, usage and ledger costs."""

    now: datetime
    policy: JanitorPolicy
    book: PriceBook
    teams: dict[str, str]
    regions: dict[str, str]
    resources: dict[tuple[str, str, str], list[ResourceRecord]]
    usage: dict[str, Utilisation]
    costs: dict[tuple[str, str], tuple[Decimal, str]]


def _load(session: Session, now: datetime, policy: JanitorPolicy) -> _Scan:
    teams = dict(
        session.execute(
            select(ProjectRow.name, TeamRow.name).join(TeamRow, TeamRow.id == ProjectRow.team_id)
        ).all()
    )
    regions = dict(session.execute(select(EnvironmentRow.name, EnvironmentRow.region)).all())
    owned: dict[tuple[str, str, str], list[ResourceRecord]] = {}
    for r in session.scalars(select(ResourceRecord).where(ResourceRecord.workload != "")):
        if not r.deleting:
            owned.setdefault((r.environment, r.project, r.workload), []).append(r)
    ids = [r.id for rs in owned.values() for r in rs]
    mains = [r.id for rs in owned.values() for r in rs if r.type in _METERED_TYPES]
    return _Scan(
        now=now,
        policy=policy,
        book=current_pricebook(session),
        teams=teams,
        regions=regions,
        resources=owned,
        usage=cpu_utilisation(session, mains, start=now - policy.idle_window, end=now),
        costs=_ledger_costs(session, ids, start=now - policy.cost_window, end=now),
    )


def _idle(
    scan: _Scan, main: ResourceRecord | None, owned: list[ResourceRecord], stopped: bool
) -> tuple[Finding | None, float]:
    """Return the idle finding when every compute part (the service, each VM) is idle."""
    if stopped or (main is not None and main.type != "service"):
        return None, -1.0
    parts = [(main, "CPU")] if main is not None else []
    vms = sorted((r for r in owned if r.type == "vm"), key=lambda r: r.name)
    parts.extend((vm, f"vm {vm.name} CPU") for vm in vms)
    if not parts:
        return None, -1.0
    results = [_idle_of(scan, resource, what) for resource, what in parts]
    ratio = max(found for _, found in results)
    if any(finding is None for finding, _ in results):
        return None, ratio
    detail = "; ".join(finding.detail for finding, _ in results if finding is not None)
    return Finding(IDLE, detail), ratio


def _idle_of(scan: _Scan, resource: ResourceRecord, what: str) -> tuple[Finding | None, float]:
    usage = scan.usage.get(resource.id)
    if usage is None:
        return None, -1.0
    window_s = scan.policy.idle_window.total_seconds()
    coverage = min(1.0, usage.covered_s / window_s) if window_s else 0.0
    if coverage < float(scan.policy.min_coverage):
        return None, usage.ratio
    if usage.ratio >= float(scan.policy.idle_threshold):
        return None, usage.ratio
    window = format_window(scan.policy.idle_window)
    detail = f"{what} used {usage.ratio:.1%} of its request over the last {window}"
    return Finding(IDLE, detail), usage.ratio


def _ttl(doc: DocumentRecord, now: datetime) -> tuple[Finding | None, datetime | None, str]:
    text = annotations_of(doc.body).get(ANNOTATION_TTL)
    if text is None:
        return None, None, ""
    try:
        expires = parse_ttl(text).expiry(doc.created_at)
    except InvalidInput as exc:
        return None, None, exc.detail
    if now < expires:
        return None, expires, ""
    return Finding(TTL, f"TTL {text} expired {expires:%Y-%m-%d %H:%M} UTC"), expires, ""


def _cost(scan: _Scan, doc: DocumentRecord, owned: list[ResourceRecord]) -> tuple[Any, str, str]:
    region = scan.regions.get(doc.environment, "")
    total, priced = Decimal(0), False
    for r in owned:
        pricing = pricing_for(provider=r.provider, region=region)
        estimate = estimate_resource(scan.book, type=r.type, spec=r.desired, pricing=pricing)
        total += estimate.monthly
        priced = priced or bool(estimate.lines)
    if priced:
        return total, scan.book.currency, "estimate"
    for source in ("meter", "billing"):
        found = [scan.costs[(r.id, source)] for r in owned if (r.id, source) in scan.costs]
        if found:
            window = format_window(scan.policy.cost_window)
            return sum((c for c, _ in found), Decimal(0)), found[0][1], f"ledger-{window}"
    return None, scan.book.currency, "none"


def _candidate(scan: _Scan, doc: DocumentRecord) -> Candidate | None:
    owned = scan.resources.get((doc.environment, doc.project, doc.name), [])
    main = next((r for r in owned if r.name == doc.name and r.type in _WORKLOAD_TYPES), None)
    annotations = annotations_of(doc.body)
    stopped = annotations.get(ANNOTATION_STOPPED, "").strip().lower() == "true"
    findings: list[Finding] = []
    notes: list[str] = []
    blocked = ""
    if doc.project not in scan.teams:
        detail = f"project {doc.project!r} no longer exists, so no team owns it"
        findings.append(Finding(ORPHAN, detail))
        blocked = (
            "its project is gone, so no plan can change it: recreate the project "
            f"{doc.project!r} for a team, then the janitor (or that team) can act"
        )
    ttl, expires, problem = _ttl(doc, scan.now)
    if problem:
        notes.append(problem)
    if ttl is not None:
        findings.append(ttl)
    idle, ratio = _idle(scan, main, owned, stopped)
    if idle is not None:
        findings.append(idle)
    if not findings:
        return None
    cost, currency, basis = _cost(scan, doc, owned)
    return Candidate(
        workload=doc.name,
        environment=doc.environment,
        project=doc.project,
        team=scan.teams.get(doc.project, ""),
        findings=tuple(findings),
        monthly_cost=cost,
        currency=currency,
        cost_basis=basis,
        application=doc.owner,
        utilisation=None if ratio < 0 else round(ratio, 6),
        expires_at=expires,
        notes=tuple(notes),
        blocked=blocked,
    )


def find_candidates(
    session: Session,
    *,
    now: datetime,
    policy: JanitorPolicy | None = None,
    environment: str | None = None,
    project: str | None = None,
) -> list[Candidate]:
    """Return every idle, expired or orphaned workload, most expensive first."""
    scan = _load(session, now, policy or JanitorPolicy())
    stmt = select(DocumentRecord).where(DocumentRecord.kind == "Workload")
    if environment:
        stmt = stmt.where(DocumentRecord.environment == environment)
    if project:
        stmt = stmt.where(DocumentRecord.project == project)
    found = [c for doc in session.scalars(stmt) if (c := _candidate(scan, doc)) is not None]
    return sorted(
        found,
        key=lambda c: (
            c.monthly_cost is None,
            -(c.monthly_cost or Decimal(0)),
            c.environment,
            c.project,
            c.workload,
        ),
    )
