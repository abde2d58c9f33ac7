"""What people see of accelerators: pools with their devices and quotas, and the queue.

Both views only read. ``pools_view`` lists every ``AcceleratorPool`` with its nodes
(each device and partition with the resources that hold it) and the team queues it
declares (quotas, limits, weight, and what the team uses of this pool now).
``queue_view`` lists the requests that wait, in the order the scheduler is expected
to start them, with the start the capacity gate's forward play predicts
(``capacity.play_forward`` on a copy of the stored state), then the running work.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from plinth.capabilities.accelerators import allocations
from plinth.capabilities.accelerators.model import MILLI, Node, Pool, Queue, quota_key
from plinth.capabilities.accelerators.pools import pool_set
from plinth.capabilities.accelerators.tables import AllocationRow, RequestRow
from plinth.capabilities.inventory import service as inventory
from plinth.capabilities.inventory.models import ResourceRecord
from plinth.core.clock import Clock
from plinth.infrastructure.store.db import Database
from plinth.orchestration import capacity

__all__ = ["GpuViews", "pools_view", "queue_view"]

_POOL_LIMIT = 500


def _number(value: float) -> float | int:
    """Return whole numbers as ints (2, not 2.0) and round shares to the milli-device."""
    rounded = round(value, 3)
    return int(rounded) if float(rounded).is_integer() else rounded


def _iso(when: datetime | None) -> str | None:
    return None if when is None else when.isoformat()


def _names(session: Session, ids: Iterable[str]) -> dict[str, dict[str, str]]:
    """Return where each resource lives: name, environment, project, workload."""
    wanted = sorted(set(ids))
    found: dict[str, dict[str, str]] = {}
    if wanted:
        stmt = select(ResourceRecord).where(ResourceRecord.id.in_(wanted))
        for record in session.scalars(stmt):
            found[record.id] = {
                "resource": record.name,
                "environment": record.environment,
                "project": record.project,
                "workload": record.workload or record.name,
            }
    gone = {"resource": "", "environment": "", "project": "", "workload": ""}
    return {rid: found.get(rid, gone | {"resource": rid}) for rid in wanted}


# -- pools ------------------------------------------------------------------------------


def _device_entries(
    node: Node, parts: list[AllocationRow], names: Mapping[str, Mapping[str, str]]
) -> list[dict[str, Any]]:
    holders: dict[int, list[dict[str, Any]]] = {i: [] for i in range(node.count)}
    for part in parts:
        if part.device is not None:
            holders.setdefault(part.device, []).append(
                {
                    "resource_id": part.resource_id,
                    **names[part.resource_id],
                    "share": _number(part.milli / MILLI),
                }
            )
    return [
        {
            "index": index,
            "used": _number(sum(h["share"] for h in held)),
            "holders": held,
        }
        for index, held in sorted(holders.items())
    ]


def _partition_entries(
    node: Node, parts: list[AllocationRow], names: Mapping[str, Mapping[str, str]]
) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for profile, slots in node.partitions:
        mine = [p for p in parts if p.device is None and p.profile == profile]
        held: list[dict[str, Any]] = [
            {"resource_id": p.resource_id, **names[p.resource_id], "slots": p.slots} for p in mine
        ]
        used = sum(p.slots for p in mine)
        out.append(
            {
                "profile": profile,
                "slots": slots,
                "used": used,
                "free": slots - used,
                "holders": held,
            }
        )
    return out


def _node_entry(
    node: Node,
    parts: list[AllocationRow],
    names: Mapping[str, Mapping[str, str]],
    physical: Mapping[str, tuple[int, ...]],
) -> dict[str, Any]:
    devices = _device_entries(node, parts, names)
    mapping = physical.get(node.name)
    for entry in devices:
        index = entry["index"]
        entry["physical"] = mapping[index] if mapping and index < len(mapping) else index
    used = sum(entry["used"] for entry in devices)
    return {
        "name": node.name,
        "type": node.accelerator,
        "devices": node.count,
        "memory_gib": node.memory_gib,
        "used": _number(used),
        "free": _number(node.count - used),
        "whole_free": sum(1 for entry in devices if not entry["holders"]),
        "device_use": devices,
        "partitions": _partition_entries(node, parts, names),
    }


def _queue_entry(queue: Queue, used: Mapping[str, float]) -> dict[str, Any]:
    keys = sorted({*queue.nominal, *used})
    return {
        "team": queue.team,
        "cohort": queue.cohort,
        "weight": _number(queue.weight),
        "nominal": {k: _number(v) for k, v in sorted(queue.nominal.items())},
        "borrowing_limit": {k: _number(v) for k, v in sorted(queue.borrowing_limit.items())},
        "lending_limit": {k: _number(v) for k, v in sorted(queue.lending_limit.items())},
        "used": {k: _number(used.get(k, 0.0)) for k in keys},
        "borrowed": {
            k: _number(max(0.0, used.get(k, 0.0) - queue.nominal.get(k, 0.0))) for k in keys
        },
    }


def _team_use(
    pool: Pool, parts: Iterable[AllocationRow], rows: Mapping[str, RequestRow]
) -> dict[str, dict[str, float]]:
    """Return devices (or partition slices) each team holds on this pool, per quota key."""
    mine = {node.name for node in pool.nodes}
    use: dict[str, dict[str, float]] = {}
    for part in parts:
        row = rows.get(part.resource_id)
        if row is None or part.node not in mine:
            continue
        key = quota_key(allocations.as_request(row))
        amount = part.milli / MILLI if part.device is not None else float(part.slots)
        team = use.setdefault(row.team, {})
        team[key] = team.get(key, 0.0) + amount
    return use


def pools_view(session: Session, now: datetime) -> list[dict[str, Any]]:
    """Return every pool with its nodes, who holds which device, and its team queues."""
    rows = {row.resource_id: row for row in allocations.requests(session)}
    parts = list(session.scalars(select(AllocationRow).order_by(AllocationRow.id)))
    names = _names(session, (p.resource_id for p in parts))
    documents = inventory.list_documents(session, kind="AcceleratorPool", limit=_POOL_LIMIT)
    out = []
    for record in sorted(documents.items, key=lambda r: r.name):
        one = pool_set([record.body])  # this pool alone: its nodes and its own queues
        for pool in one.pools:
            nodes = [
                _node_entry(node, [p for p in parts if p.node == node.name], names, one.physical)
                for node in pool.nodes
            ]
            use = _team_use(pool, parts, rows)
            out.append(
                {
                    "name": pool.name,
                    "capacity": pool.capacity(),
                    "used": _by_type(nodes, "used"),
                    "free": _by_type(nodes, "free"),
                    "nodes": nodes,
                    "queues": [_queue_entry(q, use.get(q.team, {})) for q in one.queues],
                    "grace_seconds": _number(one.grace_s),
                    "notes": list(one.notes),
                    "as_of": now.isoformat(),
                }
            )
    return out


def _by_type(nodes: Iterable[Mapping[str, Any]], field: str) -> dict[str, float | int]:
    totals: dict[str, float] = {}
    for node in nodes:
        totals[node["type"]] = totals.get(node["type"], 0.0) + float(node[field])
    return {k: _number(v) for k, v in sorted(totals.items())}


# -- queue ------------------------------------------------------------------------------


def _ask(row: RequestRow) -> dict[str, Any]:
    return {
        "resource_id": row.resource_id,
        "team": row.team,
        "type": row.accelerator,
        "count": _number(row.milli / MILLI),
        "kind": row.kind,
        "nodes": row.nodes,
        "partition": row.partition,
        "priority": row.priority,
        "submitted_at": _iso(row.submitted_at),
    }


def _forecast(session: Session, pending: list[RequestRow], now: datetime) -> dict[str, Any]:
    """Play the stored state forward (on a copy) until every pending request has started."""
    pools = capacity.stored_pools(session)
    engine, notes = allocations.load_engine(session, pools)
    borrowed = {r.resource_id: r.borrowed for r in allocations.requests(session)}
    waiting = [allocations.as_request(r) for r in pending if r.resource_id in engine.waiting]
    facts: dict[str, dict[str, Any]] = {r.id: {} for r in waiting}
    capacity.play_forward(engine, waiting, facts, borrowed, now)
    for row in pending:
        if row.resource_id not in facts:
            why = [n for n in notes if n.startswith(f"{row.resource_id}:")]
            facts[row.resource_id] = {
                "verdict": "impossible",
                "expected_start": None,
                "reason": why[0] if why else "the pools can no longer serve this request",
            }
    return facts


def _waiting_entry(row: RequestRow, fact: Mapping[str, Any], now: datetime) -> dict[str, Any]:
    verdict = fact.get("verdict")
    start = now.isoformat() if verdict == "now" else fact.get("expected_start")
    return {
        "state": "queued",
        **_ask(row),
        "expected_start": start,
        "expected_wait_s": fact.get("expected_wait_s"),
        "estimate_basis": fact.get("estimate_basis"),
        "preempts": list(fact.get("preempts") or []),
        "reason": fact.get("reason"),
    }


def _running_entry(row: RequestRow, parts: list[AllocationRow]) -> dict[str, Any]:
    where: dict[str, list[int]] = {}
    for part in parts:
        devices = where.setdefault(part.node, [])
        if part.device is not None:
            devices.append(part.device)
    return {
        "state": "stopping" if row.status == "stopping" else "running",
        **_ask(row),
        "started_at": _iso(row.started_at),
        "borrowed": row.borrowed,
        "stop_deadline": _iso(row.stop_deadline),
        "preempted_by": row.preempted_by,
        "placement": [{"node": n, "devices": sorted(d)} for n, d in sorted(where.items())],
    }


def queue_view(session: Session, now: datetime, *, team: str | None = None) -> list[dict[str, Any]]:
    """Return queued requests in expected start order (``position`` from 1), then running work.

    Positions count every team's queued requests, also when ``team`` filters the list.
    """
    rows = allocations.requests(session)
    pending = [r for r in rows if r.status == "pending"]
    facts = _forecast(session, pending, now) if pending else {}

    def order(row: RequestRow) -> tuple[float, int, float, str]:
        wait = facts[row.resource_id].get("expected_wait_s")
        return (
            math.inf if wait is None else float(wait),
            -row.priority,
            row.submitted_at.timestamp(),
            row.resource_id,
        )

    ranked = sorted(pending, key=order)
    held = [r for r in rows if r.status != "pending"]
    held.sort(key=lambda r: (_iso(r.started_at) or "", r.resource_id))
    parts: dict[str, list[AllocationRow]] = {}
    for part in session.scalars(select(AllocationRow).order_by(AllocationRow.id)):
        parts.setdefault(part.resource_id, []).append(part)
    names = _names(session, (r.resource_id for r in rows))
    out: list[dict[str, Any]] = []
    for position, row in enumerate(ranked, start=1):
        entry = _waiting_entry(row, facts[row.resource_id], now)
        out.append({"position": position, **names[row.resource_id], **entry})
    for row in held:
        entry = _running_entry(row, parts.get(row.resource_id, []))
        out.append({"position": None, **names[row.resource_id], **entry})
    return [e for e in out if team is None or e["team"] == team]


class GpuViews:
    """The accelerator views of the platform, each in its own read transaction."""

    def __init__(self, db: Database, clock: Clock) -> None:
        self.db, self.clock = db, clock

    def pools(self) -> list[dict[str, Any]]:
        """Return every pool with its devices, holders and team queues."""
        with self.db.read() as session:
            return pools_view(session, self.clock.now())

    def queue(self, *, team: str | None = None) -> list[dict[str, Any]]:
        """Return waiting requests (with expected starts), then running work."""
        with self.db.read() as session:
            return queue_view(session, self.clock.now(), team=team)
