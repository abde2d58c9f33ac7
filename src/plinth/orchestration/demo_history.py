"""Weeks of a demo organisation's history, made through the platform's own paths.

Every deploy is a real plan, commit annotation and apply (gates, decisions, audit
chain, approvals by humans for the deploy bot's escalations), with the platform's
clock set to the past. Two things are backfilled because no process ran then:
what the reconciler would have observed (``Created``/``Updated``/``Failed`` events,
written with ``inventory.add_event``, the reconciler's own function) and the usage
the metering loop would have sampled (sent through ``Costing.ingest``, the path of
``POST /usage``). docs/demo.md says so too.
"""

from __future__ import annotations

import hashlib
import logging
import random
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import yaml

from plinth.capabilities.identity import service as identity
from plinth.capabilities.identity.schemas import Actor
from plinth.capabilities.inventory import service as inventory
from plinth.core.clock import FrozenClock
from plinth.core.errors import PlinthError
from plinth.orchestration.plans import PlanRequest
from plinth.orchestration.platform import Platform

__all__ = ["SERVICES", "History", "Service", "move_to", "service_document"]

log = logging.getLogger(__name__)
BOT = "deploy-bot"
WEEKEND = 0.15  # weekends are quiet, not silent


@dataclass(frozen=True)
class Service:
    """A demo service: who changes it, how often, how often a change fails."""

    name: str
    team: str
    project: str
    developer: str
    releaser: str
    deploy_chance: float
    failure_chance: float
    lead_hours: tuple[float, float]
    bot: bool = False


SERVICES = (
    Service("checkout-api", "payments", "checkout", "ada", "rita", 0.8, 0.08, (0.3, 8.0), True),
    Service("payments-worker", "payments", "checkout", "ada", "rita", 0.45, 0.12, (1.0, 30.0)),
    Service("recs-api", "ml-research", "recommender", "dana", "pat", 0.35, 0.25, (6.0, 90.0)),
    Service("status-page", "platform", "platform-tools", "pat", "pat", 0.3, 0.05, (0.5, 12.0)),
)
STAGES = (("dev", 10), ("staging", 12), ("prod", 15))


def move_to(clock: FrozenClock, at: datetime) -> None:
    """Move the clock forward to ``at`` (never back)."""
    delta = (at - clock.now()).total_seconds()
    if delta > 0:
        clock.advance(delta)


def service_document(service: Service, version: str) -> str:
    """Return the Score workload of one version of a demo service."""
    doc: dict[str, Any] = {
        "apiVersion": "score.dev/v1b1",
        "metadata": {"name": service.name},
        "service": {"ports": {"web": {"port": 8080}}},
        "containers": {
            "main": {
                "image": "py:plinth_demo.webapp",
                "variables": {"PLINTH_SERVICE_NAME": service.name, "APP_VERSION": version},
            }
        },
    }
    return yaml.safe_dump(doc, sort_keys=False)


@dataclass
class History:
    """Makes the history: one call of ``run`` from ``start`` to ``end``."""

    platform: Platform
    clock: FrozenClock
    rng: random.Random
    versions: dict[str, int] = field(default_factory=dict)
    live: dict[tuple[str, str], str] = field(default_factory=dict)
    counts: dict[str, int] = field(default_factory=dict)
    _bot: tuple[datetime, Actor] | None = None

    def actor(self, name: str) -> Actor:
        """Return a human (or, for ``deploy-bot``, the agent with a fresh token)."""
        if name != BOT:
            with self.platform.db.read() as session:
                return identity.actor_by_name(session, name)
        if self._bot is None or self.clock.now() - self._bot[0] > timedelta(minutes=10):
            issued = self.platform.agents.issue(
                self.actor("pat"), BOT, audience="plinth-api", ttl_seconds=900
            )
            self._bot = (self.clock.now(), self.platform.authenticate(issued["token"]))
        return self._bot[1]

    def _count(self, what: str) -> None:
        self.counts[what] = self.counts.get(what, 0) + 1

    def deploy(
        self,
        service: Service,
        environment: str,
        version: str,
        *,
        by: str,
        commit: tuple[str, datetime],
    ) -> dict[str, Any] | None:
        """Plan and apply one version; humans approve what the bot escalates."""
        actor = self.actor(by)
        request = PlanRequest(
            environment=environment,
            project=service.project,
            documents=service_document(service, version),
            file=f"{service.name}.yaml",
        )
        plan = self.platform.plan(actor, request)
        if plan["status"] == "denied":
            self._count("denied")
            return None
        self.platform.dora.record_commit(actor, plan["digest"], sha=commit[0], time=commit[1])
        if plan["status"] == "needs_approval":
            return self._escalate(service, plan, actor)
        self.platform.apply(actor, plan["digest"])
        self._count("deploys")
        return plan

    def _escalate(self, service: Service, plan: dict[str, Any], actor: Actor) -> dict[str, Any]:
        result = self.platform.apply(actor, plan["digest"])
        if result["status"] == "applied":
            return plan
        self.clock.advance(self.rng.uniform(600, 5400))  # a human looks at it
        reviewer = self.actor(service.releaser)
        self.platform.review(reviewer, plan["digest"], approve=True, reason="looks good")
        if actor.kind == "human":
            self.platform.apply(actor, plan["digest"])
        self._count("approvals")
        self._count("deploys")
        return plan

    def observe(self, service: Service, environment: str, *, reason: str, message: str) -> None:
        """Backfill what the reconciler would have recorded about the service's resources."""
        with self.platform.db.transaction() as session:
            for record in inventory.resources_of(
                session, environment=environment, project=service.project, workload=service.name
            ):
                inventory.add_event(
                    session, record, reason=reason, message=message, at=self.clock.now()
                )

    def release(self, service: Service, day: datetime) -> None:
        """One new version through dev, staging and prod (stopping where it fails)."""
        number = self.versions.get(service.name, 0) + 1
        self.versions[service.name] = number
        version = f"1.{number // 10}.{number % 10}"
        sha = hashlib.sha1(f"{service.name}-{number}".encode()).hexdigest()[:12]
        first = day.replace(hour=STAGES[0][1])
        committed = first - timedelta(hours=self.rng.uniform(*service.lead_hours))
        for environment, hour in STAGES:
            move_to(self.clock, day.replace(hour=hour, minute=self.rng.randrange(60)))
            by = service.developer if environment != "prod" else service.releaser
            if service.bot and self.rng.random() < 0.6:
                by = BOT  # the bot promotes; in prod it escalates to rita
            if self.deploy(service, environment, version, by=by, commit=(sha, committed)) is None:
                return
            if not self._settle(service, environment, version):
                return

    def _settle(self, service: Service, environment: str, version: str) -> bool:
        """Running a few minutes later, or failing (then rollback or fix); True when healthy."""
        key = (service.name, environment)
        self.clock.advance(self.rng.uniform(90, 420))
        created = key not in self.live
        self.observe(
            service, environment, reason="Created" if created else "Updated", message=version
        )
        if environment == "dev" or self.rng.random() >= service.failure_chance:
            self.live[key] = version
            return True
        self.clock.advance(self.rng.uniform(120, 900))
        self.observe(service, environment, reason="Failed", message="health check failing")
        self._count("failures")
        previous = self.live.get(key)
        self.clock.advance(self.rng.uniform(900, 3 * 3600))
        if previous is not None and self.rng.random() < 0.7:
            by = service.releaser if environment == "prod" else service.developer
            self._rollback(service, environment, previous, by=by)
            return False
        self.clock.advance(self.rng.uniform(0, 4 * 3600))
        self.observe(service, environment, reason="Updated", message="fixed by hand")
        self.live[key] = version
        return False

    def _rollback(self, service: Service, environment: str, version: str, *, by: str) -> None:
        """Apply the previous version again (a revert commit made now)."""
        actor = self.actor(by)
        request = PlanRequest(
            environment=environment,
            project=service.project,
            documents=service_document(service, version),
            file=f"{service.name}.yaml",
        )
        plan = self.platform.plan(actor, request)
        sha = hashlib.sha1(f"revert-{plan['digest']}".encode()).hexdigest()[:12]
        self.platform.dora.record_commit(actor, plan["digest"], sha=sha, time=self.clock.now())
        if plan["status"] == "needs_approval":
            self._escalate(service, plan, actor)
        else:
            self.platform.apply(actor, plan["digest"])
        self._count("rollbacks")
        self.clock.advance(self.rng.uniform(60, 300))
        self.observe(service, environment, reason="Updated", message=f"rolled back to {version}")

    def run(self, start: datetime, end: datetime) -> dict[str, int]:
        """Make each day's releases from ``start`` to ``end``; return counts."""
        day = start.replace(hour=0, minute=0, second=0, microsecond=0)
        while day + timedelta(hours=18) < end:
            quiet = 1.0 if day.weekday() < 5 else WEEKEND
            for service in SERVICES:
                if self.rng.random() < service.deploy_chance * quiet:
                    try:
                        self.release(service, day)
                    except PlinthError as exc:  # a refusal ends this release, not the history
                        log.warning("demo release of %s refused: %s", service.name, exc)
                        self._count("refused")
            day += timedelta(days=1)
        return dict(self.counts)
