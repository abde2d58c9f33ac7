"""Plan latency and throughput against a small and a large store, in one run.

Builds two embedded platforms (SQLite in a temporary directory, demo seed,
the real ``local`` provider, nothing applied for real), fills one with 100 and
the other with 10,000 existing resources (10 per workload, over dev/staging and
ten projects), then times ``Platform.plan`` of one 10-resource Score workload
many times against each. Every iteration changes one variable, so every plan is
new work: the draft, the gates, the stored plan record and its audit entry,
which is what a user waits for. A third platform, a copy of the small one
without the ``policy`` gate, is measured in the same blocks, so the policy
gate's cost per plan is read side by side, under the same load.

Run: ``.venv/bin/python benchmarks/plan.py [--iterations N] [--quick]``.
The last line printed is one JSON object with the figures.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from plinth.capabilities.catalog.loader import load_documents
from plinth.capabilities.finops import committed
from plinth.capabilities.finops.estimate import estimate_resource, pricing_for
from plinth.capabilities.finops.pricebook import current_pricebook
from plinth.capabilities.identity import service as identity
from plinth.capabilities.identity.schemas import Actor
from plinth.capabilities.inventory import service as inventory
from plinth.capabilities.inventory.models import DocumentRecord, ResourceRecord
from plinth.core.clock import SystemClock
from plinth.core.config import DEFAULT_GATES, Settings
from plinth.core.documents import Document
from plinth.core.ids import RandomIds
from plinth.core.secrets import load_or_create_key
from plinth.infrastructure.providers.base import ProviderContext
from plinth.infrastructure.providers.local.provider import LocalProvider
from plinth.infrastructure.providers.local.specs import spec_digest
from plinth.infrastructure.providers.registry import ProviderRegistry
from plinth.integration.importers.score import translate_workload
from plinth.orchestration.plans import PlanRequest
from plinth.orchestration.platform import Platform

__all__ = ["Case", "Figures", "fill_state", "main", "measure", "prepare_case", "score_workload"]

RESOURCES_PER_WORKLOAD = 10
SMALL_STATE = 100
LARGE_STATE = 10_000
GOAL = 0.8
ENVIRONMENTS = ("dev", "staging")
SEEDED_PROJECTS = ("checkout", "recommender", "platform-tools")
EXTRA_PROJECTS = tuple((f"service-{i:02d}", "platform") for i in range(1, 8))
BENCH_NAME = "storefront"
BENCH_SCOPE = ("dev", "checkout")
BENCH_ACTOR = "ada"
BLOCK = 10
EXPECTED_ACTIONS = sorted(["update", "update", *["no-op"] * 9])
OBSERVED_PHASE = {"service": "running", "postgres": "ready", "volume": "ready", "route": "ready"}


@dataclass(frozen=True)
class Figures:
    """What one state size measured."""

    state: int
    iterations: int
    policy: bool
    plans_per_s: float
    p50_ms: float
    p99_ms: float
    fill_s: float

    def as_dict(self) -> dict[str, float]:
        """Return the figures reported in the JSON line."""
        return {
            "plans_per_s": round(self.plans_per_s, 2),
            "p50_ms": round(self.p50_ms, 3),
            "p99_ms": round(self.p99_ms, 3),
        }


def score_workload(name: str, *, release: str) -> dict[str, Any]:
    """Return a Score workload that becomes 10 resources: itself plus 9 declared ones."""
    volumes = ("data", "cache", "uploads", "reports", "archive")
    return {
        "apiVersion": "score.dev/v1b1",
        "metadata": {"name": name},
        "containers": {
            "main": {
                "image": "ghcr.io/example/shop:1.0",
                "command": ["python", "-m", "http.server", "8080"],
                "variables": {
                    "DATABASE_URL": "${resources.db.uri}",
                    "ANALYTICS_URL": "${resources.analytics.uri}",
                    "RELEASE": release,
                },
                "volumes": [{"source": f"${{resources.{v}}}", "target": f"/{v}"} for v in volumes],
                "resources": {"limits": {"cpu": "500m", "memory": "256Mi"}},
                "readinessProbe": {"httpGet": {"path": "/", "port": 8080}},
            }
        },
        "service": {"ports": {"www": {"port": 8080}, "admin": {"port": 9090}}},
        "resources": {
            "db": {"type": "postgres", "params": {"database": f"{name}-db"}},
            "analytics": {"type": "postgres", "params": {"database": f"{name}-stats"}},
            **{v: {"type": "volume", "params": {"size": "1Gi"}} for v in volumes},
            "www": {"type": "route", "params": {"host": f"{name}.local.test", "port": 8080}},
            "admin": {
                "type": "route",
                "params": {"host": f"admin.{name}.local.test", "port": 9090, "path": "/admin"},
            },
        },
    }


def _platform(data_dir: Path, *, policy: bool = True) -> Platform:
    """Return a seeded embedded platform whose only provider is the real, idle local one."""
    gates = [g for g in DEFAULT_GATES if policy or g != "policy"]
    settings = Settings(data_dir=data_dir, reconcile_interval_s=3600.0, gates=gates)
    data_dir.mkdir(parents=True, exist_ok=True)
    key = load_or_create_key(data_dir / "secret.key")  # the key Platform itself loads
    registry = ProviderRegistry()
    registry.register(LocalProvider(ProviderContext(data_dir=data_dir, secret_key=key)))
    platform = Platform(settings, clock=SystemClock(), ids=RandomIds(), registry=registry)
    platform.prepare()
    return platform


def _document(name: str, *, release: str) -> Document:
    """Return the workload as the planner's loader returns it, without parsing YAML."""
    return Document("score.dev/v1b1", "Workload", name, score_workload(name, release=release), 0)


def _check_document() -> None:
    """Make sure the documents written to state are exactly what the loader would produce."""
    text = yaml.safe_dump(score_workload(BENCH_NAME, release="r0"), sort_keys=False)
    if load_documents(text) != [_document(BENCH_NAME, release="r0")]:
        raise SystemExit("the benchmark workload does not load as expected")


def _scopes() -> list[tuple[str, str]]:
    projects = [*SEEDED_PROJECTS, *(name for name, _ in EXTRA_PROJECTS)]
    return [(env, project) for project in projects for env in ENVIRONMENTS]


def _placements(total: int) -> list[tuple[str, str, str]]:
    """Return (environment, project, workload name) for every workload of the state."""
    scopes = _scopes()
    count = max(1, total // RESOURCES_PER_WORKLOAD)
    out = [(*BENCH_SCOPE, BENCH_NAME)]
    for i in range(1, count):
        env, project = scopes[i % len(scopes)]
        out.append((env, project, f"app-{i:05d}"))
    return out


def _deploy(platform: Platform, session: Session, env: str, project: str, name: str) -> int:
    """Record one workload and its resources as applied and converged; return the count."""
    doc = _document(name, release="r0")
    ids, clock = platform.ids, platform.clock
    inventory.put_document(
        session,
        kind="Workload",
        name=name,
        body=doc.raw,
        actor="bench",
        plan_digest="",
        ids=ids,
        clock=clock,
        environment=env,
        project=project,
    )
    # As the planner does: the secure defaults are part of every applied spec.
    raw = translate_workload(doc)
    claims = {s.name: {doc.name} for s in raw}
    specs = [platform.planner.harden(s, raw, claims, [(doc, name)]) for s in raw]
    book = current_pricebook(session)
    pricing = pricing_for(provider="local", region="local")
    for spec in specs:
        # As the applier does: each resource keeps the hourly cost it was applied at.
        hourly = estimate_resource(book, type=spec.type, spec=spec.spec, pricing=pricing).hourly
        record = inventory.put_desired(
            session,
            environment=env,
            project=project,
            name=spec.name,
            type=spec.type,
            provider="local",
            workload=spec.workload or "",
            spec=spec.spec,
            depends_on=sorted(spec.depends_on),
            refs=[name],
            ids=ids,
            clock=clock,
            hourly_cost=hourly,
        )
        _mark_converged(record, spec.type)
    return len(specs)


def _mark_converged(record: ResourceRecord, type_name: str) -> None:
    """Record what the reconciler records once a resource converged (see reconciler.py)."""
    record.phase, record.healthy = OBSERVED_PHASE[type_name], True
    record.applied_digest = spec_digest(record.desired)
    record.observed_generation = record.generation
    if type_name == "postgres":
        database = record.desired.get("database")
        record.state = {"database": record.name, "role": record.name, "spec_database": database}


def fill_state(platform: Platform, total: int) -> int:
    """Write ``total`` existing resources (``total / 10`` workloads); return rows written."""
    written = 0
    with platform.db.transaction() as session:
        for project, team in EXTRA_PROJECTS:
            identity.upsert_project(
                session,
                name=project,
                team=team,
                description="benchmark",
                ids=platform.ids,
                clock=platform.clock,
            )
        for env, project, name in _placements(total):
            written += _deploy(platform, session, env, project, name)
        committed.rebuild(session)  # what the applier keeps up to date, change by change
    return written


def _count_rows(platform: Platform) -> tuple[int, int]:
    """Return how many resources and Workload documents the store holds."""
    with platform.db.transaction() as session:
        resources = session.scalar(select(func.count()).select_from(ResourceRecord))
        workloads = session.scalar(
            select(func.count())
            .select_from(DocumentRecord)
            .where(DocumentRecord.kind == "Workload")
        )
    return int(resources or 0), int(workloads or 0)


def _request(release: str) -> PlanRequest:
    env, project = BENCH_SCOPE
    body = yaml.safe_dump(score_workload(BENCH_NAME, release=release), sort_keys=False)
    return PlanRequest(environment=env, project=project, documents=body, file=None)


@dataclass
class Case:
    """One platform holding ``state`` resources, and the plan latencies measured on it."""

    state: int
    platform: Platform
    actor: Actor
    fill_s: float
    policy: bool = True
    latencies: list[float] = field(default_factory=list)
    planned: int = 0

    def plan(self, count: int, *, timed: bool) -> None:
        """Plan the benchmark workload ``count`` times, each with a new release value."""
        requests = [_request(f"{self.state}-{self.planned + i}") for i in range(count)]
        self.planned += count
        for request in requests:
            start = time.perf_counter()
            plan = self.platform.plan(self.actor, request)
            elapsed = time.perf_counter() - start
            actions = sorted(c["action"] for c in plan["changes"])
            if plan["outcome"] != "allow" or actions != EXPECTED_ACTIONS:
                raise SystemExit(f"unexpected plan: {plan['outcome']}, {actions}")
            if timed:
                self.latencies.append(elapsed)

    def figures(self) -> Figures:
        """Return throughput and latency percentiles of the timed plans."""
        ordered = sorted(self.latencies)
        p99 = ordered[min(len(ordered) - 1, round(0.99 * (len(ordered) - 1)))]
        return Figures(
            state=self.state,
            iterations=len(ordered),
            policy=self.policy,
            plans_per_s=len(ordered) / sum(ordered),
            p50_ms=statistics.median(ordered) * 1000,
            p99_ms=p99 * 1000,
            fill_s=self.fill_s,
        )


def prepare_case(state: int, root: Path, *, policy: bool = True) -> Case:
    """Build a platform holding ``state`` existing resources (``policy``: with that gate)."""
    suffix = "" if policy else "-no-policy"
    platform = _platform(root / f"state-{state}{suffix}", policy=policy)
    started = time.perf_counter()
    written = fill_state(platform, state)
    fill_s = time.perf_counter() - started
    resources, workloads = _count_rows(platform)
    if resources != state or written != state:
        raise SystemExit(f"state holds {resources} resources, wanted {state}")
    print(
        f"state {state:>6}: {resources} resources, {workloads} workloads, filled in {fill_s:.1f}s"
        + ("" if policy else " (no policy gate)")
    )
    with platform.db.transaction() as session:
        actor = identity.actor_by_name(session, BENCH_ACTOR)
    return Case(state, platform, actor, fill_s, policy)


def measure(cases: list[Case], *, iterations: int, warmup: int) -> None:
    """Warm every case up, then time ``iterations`` plans each, interleaved in small blocks."""
    for case in cases:
        case.plan(warmup, timed=False)
    done, turn = 0, 0
    while done < iterations:
        count = min(BLOCK, iterations - done)
        order = cases if turn % 2 == 0 else cases[::-1]
        for case in order:
            case.plan(count, timed=True)
        done, turn = done + count, turn + 1


def _table(*figures: Figures) -> str:
    header = f"{'state':>8} {'policy':>7} {'plans':>6} {'plans/s':>9} {'p50 ms':>9} {'p99 ms':>9}"
    rows = [
        f"{f.state:>8} {'yes' if f.policy else 'no':>7} {f.iterations:>6} "
        f"{f.plans_per_s:>9.1f} {f.p50_ms:>9.2f} {f.p99_ms:>9.2f}"
        for f in figures
    ]
    return "\n".join([header, *rows])


def main(argv: list[str] | None = None) -> dict[str, Any]:
    """Run the benchmark, print a table and, as the last line, the JSON figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--iterations", type=int, default=200, help="timed plans per state size")
    parser.add_argument("--quick", action="store_true", help="40 timed plans, 5 warm-up")
    args = parser.parse_args(argv)
    iterations = 40 if args.quick else args.iterations
    warmup = 5 if args.quick else 20
    _check_document()
    with tempfile.TemporaryDirectory(prefix="plinth-bench-") as tmp:
        cases = [prepare_case(state, Path(tmp)) for state in (SMALL_STATE, LARGE_STATE)]
        cases.append(prepare_case(SMALL_STATE, Path(tmp), policy=False))
        try:
            measure(cases, iterations=iterations, warmup=warmup)
        finally:
            for case in cases:
                case.platform.stop()
    small, large, bare = (case.figures() for case in cases)
    ratio = large.plans_per_s / small.plans_per_s
    gate_ms = small.p50_ms - bare.p50_ms
    print()
    print(f"Platform.plan of one {RESOURCES_PER_WORKLOAD}-resource workload (SQLite, one process)")
    print(_table(small, large, bare))
    print(f"throughput ratio (10,000 / 100): {ratio:.3f} (goal >= {GOAL})")
    print(f"policy gate, p50 with minus p50 without (state {SMALL_STATE}): {gate_ms:.2f} ms")
    result: dict[str, Any] = {
        "benchmark": "plan",
        "resources_per_plan": RESOURCES_PER_WORKLOAD,
        "small_state": SMALL_STATE,
        "large_state": LARGE_STATE,
        "small": small.as_dict(),
        "large": large.as_dict(),
        "small_without_policy": bare.as_dict(),
        "policy_gate_p50_ms": round(gate_ms, 3),
        "throughput_ratio": round(ratio, 3),
        "goal": GOAL,
        "goal_met": ratio >= GOAL,
    }
    print(json.dumps(result))
    return result


if __name__ == "__main__":
    main(sys.argv[1:])
