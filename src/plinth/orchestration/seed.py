"""The demo organisation seeded into an empty store on first start."""

from __future__ import annotations

import copy
from collections.abc import Sequence
from typing import Any

from sqlalchemy.orm import Session

from plinth.capabilities.audit import service as audit
from plinth.capabilities.identity import service as identity
from plinth.capabilities.identity.schemas import Grant, Persona, Role
from plinth.capabilities.inventory import service as inventory
from plinth.capabilities.templates import TemplateVersion, builtin_templates
from plinth.core.clock import Clock
from plinth.core.ids import IdFactory
from plinth.orchestration.janitor import seed_janitor

__all__ = [
    "DEMO_BUDGET",
    "DEMO_USERS",
    "ON_PREM_PRICEBOOK",
    "put_missing",
    "seed_demo",
    "seed_finops",
    "seed_templates",
]

TEAMS = {
    "payments": "Checkout and payment services",
    "ml-research": "Recommendation models and training",
    "platform": "The platform team",
}
PROJECTS = {
    "checkout": ("payments", "The web shop's checkout"),
    "recommender": ("ml-research", "Product recommendations"),
    "platform-tools": ("platform", "Tools the platform team runs"),
}
ENVIRONMENTS = {
    "dev": ("dev", False, "Where developers try things"),
    "staging": ("staging", False, "Production-like, for release checks"),
    "prod": ("prod", True, "Production: changes need a release manager"),
}
DEMO_USERS: dict[str, tuple[str, str, list[Grant]]] = {
    "ada": ("Ada, app developer", Persona.APP_DEVELOPER, [Grant(Role.DEVELOPER, "payments")]),
    "pat": ("Pat, platform engineer", Persona.PLATFORM_ENGINEER, [Grant(Role.PLATFORM_ENGINEER)]),
    "lee": ("Lee, engineering leader", Persona.LEADER, [Grant(Role.VIEWER)]),
    "sam": ("Sam, security and compliance", Persona.SECURITY, [Grant(Role.SECURITY_AUDITOR)]),
    "dana": ("Dana, ML engineer", Persona.ML_ENGINEER, [Grant(Role.ML_ENGINEER, "ml-research")]),
    "rita": (
        "Rita, release manager",
        Persona.APP_DEVELOPER,
        [Grant(Role.RELEASE_MANAGER, "payments"), Grant(Role.DEVELOPER, "payments")],
    ),
}


_ON_PREM_SOURCE = "demo organisation's internal rate card (hardware, power, staff), 2026"
_ON_PREM_RATES = (
    ("compute.vcpu", "vcpu-hour", "0.035"),
    ("compute.memory", "gib-hour", "0.0045"),
    ("accelerator.gpu", "gpu-hour", "1.50"),
    ("accelerator.l4", "gpu-hour", "0.55"),
    ("accelerator.a100", "gpu-hour", "2.10"),
    ("accelerator.h100", "gpu-hour", "4.20"),
    ("storage.block", "gib-month", "0.05"),
    ("network.egress", "gib", "0"),
    ("database.postgres", "instance-hour", "0.02"),
    ("database.storage", "gib-month", "0.08"),
)
ON_PREM_PRICEBOOK: dict[str, Any] = {
    "apiVersion": "plinth.dev/v1",
    "kind": "PriceBook",
    "metadata": {"name": "on-prem-local"},
    "spec": {
        "description": "What running on the organisation's own machines costs (local provider)",
        "currency": "USD",
        "source": _ON_PREM_SOURCE,
        "rates": [
            {
                "sku": sku,
                "provider": "local",
                "region": "local",
                "price_type": "on_prem",
                "unit": unit,
                "amount": amount,
            }
            for sku, unit, amount in _ON_PREM_RATES
        ],
    },
}
DEMO_BUDGET: dict[str, Any] = {
    "apiVersion": "plinth.dev/v1",
    "kind": "Budget",
    "metadata": {"name": "payments-monthly"},
    "spec": {
        "description": "What team payments may spend in a month, all environments together",
        "scope": {"team": "payments"},
        "amount": "200",
        "currency": "USD",
        "period": "monthly",
        "thresholds": {"warn": "0.8", "needs_approval": "1.0", "deny": "1.2"},
    },
}


def seed_finops(session: Session, *, ids: IdFactory, clock: Clock) -> list[str]:
    """Store the on-prem price book and the demo budget when absent; return what was added.

    The caller records the seeding on the audit chain (``seed_demo`` does).
    """
    return put_missing(session, (ON_PREM_PRICEBOOK, DEMO_BUDGET), ids=ids, clock=clock)


def put_missing(
    session: Session, bodies: Sequence[dict[str, Any]], *, ids: IdFactory, clock: Clock
) -> list[str]:
    """Store each organisation document that is not in the store yet; return ``kind/name``s."""
    added = []
    for body in bodies:
        kind, name = body["kind"], body["metadata"]["name"]
        if inventory.get_document(session, kind=kind, name=name) is not None:
            continue
        inventory.put_document(
            session,
            kind=kind,
            name=name,
            body=copy.deepcopy(body),
            actor="system",
            plan_digest="",
            ids=ids,
            clock=clock,
        )
        added.append(f"{kind}/{name}")
    return added


def seed_templates(session: Session, *, ids: IdFactory, clock: Clock) -> list[str]:
    """Publish every built-in template version not yet in the store."""
    published = []
    for raw in builtin_templates():
        version = TemplateVersion.from_document(raw)
        if inventory.get_document(
            session, kind="Template", name=version.name, label=version.version
        ):
            continue
        inventory.put_document(
            session,
            kind="Template",
            name=version.name,
            body=raw,
            actor="system",
            plan_digest="",
            ids=ids,
            clock=clock,
            label=version.version,
        )
        published.append(f"{version.name}@{version.version}")
    if published:
        audit.append(
            session,
            actor="system",
            action="templates.published",
            subject="templates",
            data={"templates": published},
            clock=clock,
        )
    return published


def seed_demo(session: Session, *, ids: IdFactory, clock: Clock) -> dict[str, str]:
    """Create the demo organisation; return each user's new API token (shown once)."""
    for name, description in TEAMS.items():
        identity.upsert_team(session, name=name, description=description, ids=ids, clock=clock)
    for name, (team, description) in PROJECTS.items():
        identity.upsert_project(
            session, name=name, team=team, description=description, ids=ids, clock=clock
        )
    for name, (tier, protected, description) in ENVIRONMENTS.items():
        identity.upsert_environment(
            session,
            name=name,
            tier=tier,
            protected=protected,
            region="local",
            description=description,
            ids=ids,
            clock=clock,
        )
    tokens: dict[str, str] = {}
    for name, (display, persona, grants) in DEMO_USERS.items():
        actor = identity.create_user(
            session,
            name=name,
            persona=persona,
            grants=grants,
            ids=ids,
            clock=clock,
            display_name=display,
        )
        tokens[name] = identity.issue_token(session, user_id=actor.id, ids=ids, clock=clock)
    seed_templates(session, ids=ids, clock=clock)
    tokens["janitor"] = seed_janitor(session, ids=ids, clock=clock)
    finops = seed_finops(session, ids=ids, clock=clock)
    audit.append(
        session,
        actor="system",
        action="organisation.seeded",
        subject="organisation/demo",
        data={
            "teams": sorted(TEAMS),
            "projects": sorted(PROJECTS),
            "environments": sorted(ENVIRONMENTS),
            "users": sorted(DEMO_USERS),
            "documents": finops,
        },
        clock=clock,
    )
    return tokens
