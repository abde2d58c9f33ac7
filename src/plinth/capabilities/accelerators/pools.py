"""``AcceleratorPool`` documents → the scheduler's pools and queues.

A team that has a queue in several pools gets one queue: nominal quotas and
limits are added up, the largest weight and the first cohort win. The platform's
preemption grace is the smallest ``preemption.grace_seconds`` of all pools.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any

from plinth.capabilities.accelerators.discovery import Discovery, discover
from plinth.capabilities.accelerators.model import Node, Pool, Queue

__all__ = ["DEFAULT_GRACE_S", "PoolSet", "pool_document_issues", "pool_from_document", "pool_set"]

DEFAULT_GRACE_S = 300.0


@dataclass(frozen=True)
class PoolSet:
    """Everything the scheduler needs from the stored pools."""

    pools: tuple[Pool, ...] = ()
    queues: tuple[Queue, ...] = ()
    grace_s: float = DEFAULT_GRACE_S
    priority_classes: Mapping[str, int] = field(default_factory=dict)
    cost_per_hour: Mapping[str, Decimal] = field(default_factory=dict)
    physical: Mapping[str, tuple[int, ...]] = field(default_factory=dict)
    notes: tuple[str, ...] = ()

    def types(self) -> set[str]:
        """Return every accelerator type any pool has."""
        return {n.accelerator for p in self.pools for n in p.nodes}


def _nodes(spec: Mapping[str, Any]) -> tuple[Node, ...]:
    out = []
    for item in spec.get("nodes") or []:
        acc = item["accelerators"]
        parts = tuple((str(p["profile"]), int(p["count"])) for p in acc.get("partitions") or [])
        out.append(
            Node(
                str(item["name"]),
                str(acc["type"]),
                int(acc["count"]),
                float(acc.get("memory_gib") or 0.0),
                parts,
            )
        )
    return tuple(out)


def pool_from_document(
    body: Mapping[str, Any], *, discovery: Discovery | None = None
) -> tuple[Pool, dict[str, tuple[int, ...]], str]:
    """Return the pool a document declares (or discovers), device index maps and a note."""
    name = str(body["metadata"]["name"])
    spec = body.get("spec") or {}
    if spec.get("discovery") == "nvml":
        found = discovery if discovery is not None else discover()
        if found.available:
            return Pool(name, found.nodes), dict(found.physical), f"pool {name}: {found.reason}"
        note = f"pool {name}: {found.reason}; using the declared nodes"
        return Pool(name, _nodes(spec)), {}, note
    return Pool(name, _nodes(spec)), {}, ""


def _queues(spec: Mapping[str, Any]) -> list[Queue]:
    cohort = str(spec.get("cohort") or "default")
    return [
        Queue(
            team=str(q["team"]),
            nominal={str(k): float(v) for k, v in (q.get("nominal") or {}).items()},
            borrowing_limit={str(k): float(v) for k, v in (q.get("borrowing_limit") or {}).items()},
            lending_limit={str(k): float(v) for k, v in (q.get("lending_limit") or {}).items()},
            weight=float(q.get("weight", 1.0)),
            cohort=cohort,
        )
        for q in spec.get("queues") or []
    ]


def _merge(queues: Iterable[Queue]) -> tuple[Queue, ...]:
    merged: dict[str, Queue] = {}
    for q in queues:
        old = merged.get(q.team)
        if old is None:
            merged[q.team] = q
            continue

        def add(a: Mapping[str, float], b: Mapping[str, float]) -> dict[str, float]:
            return {k: a.get(k, 0.0) + b.get(k, 0.0) for k in {*a, *b}}

        merged[q.team] = Queue(
            q.team,
            add(old.nominal, q.nominal),
            add(old.borrowing_limit, q.borrowing_limit),
            add(old.lending_limit, q.lending_limit),
            max(old.weight, q.weight),
            old.cohort,
        )
    return tuple(merged[t] for t in sorted(merged))


def pool_set(bodies: Iterable[Mapping[str, Any]], *, discovery: Discovery | None = None) -> PoolSet:
    """Return the scheduler's view of every stored ``AcceleratorPool`` document."""
    pools: list[Pool] = []
    queues: list[Queue] = []
    physical: dict[str, tuple[int, ...]] = {}
    classes: dict[str, int] = {}
    costs: dict[str, Decimal] = {}
    notes: list[str] = []
    graces: list[float] = []
    for body in sorted(bodies, key=lambda b: str(b["metadata"]["name"])):
        pool, indices, note = pool_from_document(body, discovery=discovery)
        pools.append(pool)
        physical.update(indices)
        notes += [note] if note else []
        spec = body.get("spec") or {}
        queues.extend(_queues(spec))
        classes.update({str(k): int(v) for k, v in (spec.get("priority_classes") or {}).items()})
        for key, value in (spec.get("cost_per_hour") or {}).items():
            if key not in ("price_book", "currency"):
                costs.setdefault(str(key), Decimal(str(value)))
        grace = (spec.get("preemption") or {}).get("grace_seconds")
        if grace is not None:
            graces.append(float(grace))
    return PoolSet(
        tuple(pools),
        _merge(queues),
        min(graces, default=DEFAULT_GRACE_S),
        classes,
        costs,
        physical,
        tuple(notes),
    )


def pool_document_issues(body: Mapping[str, Any]) -> list[tuple[str, str]]:
    """Return (JSON path, message) for what the schema cannot check in a pool document."""
    spec = body.get("spec") or {}
    problems: list[tuple[str, str]] = []
    seen: set[str] = set()
    for i, node in enumerate(spec.get("nodes") or []):
        if node.get("name") in seen:
            problems.append((f"$.spec.nodes[{i}].name", f"node {node['name']!r} is listed twice"))
        seen.add(str(node.get("name")))
    if not spec.get("nodes") and spec.get("discovery", "declared") == "declared":
        problems.append(("$.spec.nodes", "a declared pool needs at least one node"))
    teams: set[str] = set()
    for i, queue in enumerate(spec.get("queues") or []):
        if queue.get("team") in teams:
            problems.append((f"$.spec.queues[{i}].team", f"team {queue['team']!r} has two queues"))
        teams.add(str(queue.get("team")))
    for key, value in (spec.get("cost_per_hour") or {}).items():
        if key in ("price_book", "currency"):
            continue
        try:
            if Decimal(str(value)) < 0:
                raise InvalidOperation
        except InvalidOperation:
            problems.append((f"$.spec.cost_per_hour.{key}", f"{value!r} is not a price >= 0"))
    return problems
