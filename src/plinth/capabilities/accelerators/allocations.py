"""The allocation store: which devices of which node each resource holds, and the queue.

Every change runs inside the caller's transaction after locking the one
``accelerator_lock`` row: the stored requests are loaded into a fresh scheduler
(``PlinthScheduler`` unless another policy is given), the scheduler decides, and
its decisions are written back. An error anywhere rolls the transaction back, so
nothing is ever left half-allocated. The caller reconciles the resources named in
``Outcome.admitted`` (they may start now) and ``Outcome.preempt`` (they must
checkpoint and stop by their deadline, then call ``stopped``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import cast

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from plinth.capabilities.accelerators.engine import Admit, Decision, Policy, Preempt, QueueingEngine
from plinth.capabilities.accelerators.model import (
    MILLI,
    Allocation,
    Placement,
    Pool,
    Queue,
    Request,
)
from plinth.capabilities.accelerators.pools import PoolSet
from plinth.capabilities.accelerators.scheduler import PlinthScheduler
from plinth.capabilities.accelerators.tables import AcceleratorLock, AllocationRow, RequestRow
from plinth.core.errors import Conflict, InvalidInput, NotFound

__all__ = [
    "EngineFactory",
    "Outcome",
    "PreemptNotice",
    "as_request",
    "decide",
    "held",
    "load_engine",
    "lock",
    "release",
    "request_allocation",
    "requests",
    "stopped",
]

EngineFactory = Callable[[Iterable[Pool], Iterable[Queue], float], QueueingEngine]


def _plinth(pools: Iterable[Pool], queues: Iterable[Queue], grace_s: float) -> QueueingEngine:
    return PlinthScheduler(pools, queues, grace_s=grace_s)


@dataclass(frozen=True)
class PreemptNotice:
    """A running resource must checkpoint and stop by ``deadline`` to make room for ``by``."""

    resource_id: str
    by: str
    deadline: datetime


@dataclass(frozen=True)
class Outcome:
    """What one allocation change decided."""

    allocation: Allocation | None = None
    status: str = "absent"
    admitted: tuple[str, ...] = ()
    preempt: tuple[PreemptNotice, ...] = ()
    position: int | None = None


def _epoch(when: datetime | None) -> float:
    return 0.0 if when is None else when.timestamp()


def _at(seconds: float) -> datetime:
    return datetime.fromtimestamp(seconds, tz=UTC)


def decide(engine: QueueingEngine, now: float) -> list[Decision]:
    """Run one scheduling pass of ``engine`` (every engine the factory makes is a Policy)."""
    return cast(Policy, engine).schedule(now)


def lock(session: Session) -> None:
    """Take the accelerator lock for the rest of the transaction."""
    row = session.execute(
        select(AcceleratorLock).where(AcceleratorLock.id == 1).with_for_update()
    ).scalar_one_or_none()
    if row is None:
        row = AcceleratorLock(id=1, version=0)
        session.add(row)
    row.version += 1
    session.flush()


def as_request(row: RequestRow) -> Request:
    """Return the scheduler request a stored row describes."""
    return Request(
        id=row.resource_id,
        team=row.team,
        accelerator=row.accelerator,
        count=row.milli / MILLI,
        kind=row.kind,  # type: ignore[arg-type]  # only valid kinds are stored
        nodes=row.nodes,
        priority=row.priority,
        submit_s=_epoch(row.submitted_at),
        estimate_s=row.estimate_s,
        partition=row.partition,
    )


def _allocation(row: RequestRow, parts: list[AllocationRow]) -> Allocation:
    by_node: dict[tuple[str, int, str | None], list[AllocationRow]] = {}
    for part in parts:
        by_node.setdefault((part.node, part.milli, part.profile), []).append(part)
    placements = []
    for (node, milli, profile), rows in by_node.items():
        devices = tuple(sorted(r.device for r in rows if r.device is not None))
        slots = sum(r.slots for r in rows)
        placements.append(Placement(node, devices, milli if devices else 0, slots, profile))
    return Allocation(row.resource_id, tuple(placements), row.borrowed)


def requests(session: Session) -> list[RequestRow]:
    """Return every stored request, oldest first."""
    stmt = select(RequestRow).order_by(RequestRow.submitted_at, RequestRow.resource_id)
    return list(session.scalars(stmt))


def held(session: Session, resource_id: str) -> Allocation | None:
    """Return the allocation a resource holds now, or None."""
    row = session.get(RequestRow, resource_id)
    if row is None or row.status == "pending":
        return None
    parts = list(
        session.scalars(select(AllocationRow).where(AllocationRow.resource_id == row.resource_id))
    )
    return _allocation(row, parts)


def load_engine(
    session: Session, pools: PoolSet, *, factory: EngineFactory = _plinth
) -> tuple[QueueingEngine, list[str]]:
    """Return a scheduler holding the stored state, and notes on rows it could not restore."""
    engine = factory(pools.pools, pools.queues, pools.grace_s)
    rows = requests(session)
    parts: dict[str, list[AllocationRow]] = {}
    for part in session.scalars(select(AllocationRow)):
        parts.setdefault(part.resource_id, []).append(part)
    notes: list[str] = []
    for row in rows:
        if row.status == "pending":
            continue
        request = as_request(row)
        try:
            engine.submit(request, _epoch(row.started_at))
            engine.admit(
                request, _allocation(row, parts.get(row.resource_id, [])), _epoch(row.started_at)
            )
        except (InvalidInput, NotFound, Conflict, KeyError) as exc:
            if request.id in engine.waiting:
                engine.cancel(request.id)
            notes.append(f"{row.resource_id}: its allocation no longer fits the pools ({exc})")
            continue
        engine.running[request.id].stopping = (
            None if row.stop_deadline is None else _epoch(row.stop_deadline)
        )
        engine.attained[request.id] = row.attained_s
    for row in rows:
        if row.status == "pending":
            try:
                engine.submit(as_request(row), _epoch(row.submitted_at))
            except (InvalidInput, NotFound, Conflict) as exc:
                notes.append(f"{row.resource_id}: can no longer be queued ({exc})")
            else:
                engine.attained[row.resource_id] = row.attained_s
    _restore_reclaims(engine, rows)
    return engine, notes


def _restore_reclaims(engine: QueueingEngine, rows: list[RequestRow]) -> None:
    """Remember which victims each waiting request already waits for (never reclaim twice)."""
    index = {state.name: state.index for state in engine.cluster.nodes}
    victims: dict[str, list[str]] = {}
    for row in rows:
        if row.status == "stopping" and row.preempted_by and row.resource_id in engine.running:
            victims.setdefault(row.preempted_by, []).append(row.resource_id)
    for owner, held in victims.items():
        if owner not in engine.waiting:
            continue
        nodes = {
            index[placement.node]
            for victim in held
            for placement in engine.running[victim].allocation.placements
            if placement.node in index
        }
        engine.awaiting[owner] = tuple(sorted(held))
        engine.reserved[owner] = tuple(sorted(nodes))


def _write(session: Session, decisions: list[Admit | Preempt], now: datetime) -> Outcome:
    admitted: list[str] = []
    notices: list[PreemptNotice] = []
    for decision in decisions:
        if isinstance(decision, Admit):
            row = session.get(RequestRow, decision.request.id)
            if row is None:
                raise NotFound(f"request {decision.request.id!r} vanished during scheduling")
            row.status, row.started_at = "running", now
            row.borrowed = decision.allocation.borrowed
            row.stop_deadline, row.preempted_by = None, None
            for p in decision.allocation.placements:
                for device in p.devices:
                    session.add(
                        AllocationRow(
                            resource_id=row.resource_id,
                            node=p.node,
                            device=device,
                            milli=p.milli_each,
                            slots=0,
                        )
                    )
                if p.slots:
                    session.add(
                        AllocationRow(
                            resource_id=row.resource_id,
                            node=p.node,
                            device=None,
                            milli=0,
                            profile=p.profile,
                            slots=p.slots,
                        )
                    )
            admitted.append(row.resource_id)
        else:
            victim = session.get(RequestRow, decision.request_id)
            if victim is None:
                continue
            victim.status, victim.preempted_by = "stopping", decision.by
            victim.stop_deadline = _at(decision.deadline)
            notices.append(PreemptNotice(victim.resource_id, decision.by, victim.stop_deadline))
    session.flush()
    return Outcome(admitted=tuple(admitted), preempt=tuple(notices))


def _outcome(session: Session, resource_id: str, base: Outcome) -> Outcome:
    row = session.get(RequestRow, resource_id)
    if row is None:
        return base
    position = None
    if row.status == "pending":
        pending = [r.resource_id for r in requests(session) if r.status == "pending"]
        position = pending.index(resource_id) + 1
    others = tuple(r for r in base.admitted if r != resource_id)
    return Outcome(held(session, resource_id), row.status, others, base.preempt, position)


def request_allocation(
    session: Session,
    request: Request,
    pools: PoolSet,
    *,
    now: datetime,
    factory: EngineFactory = _plinth,
) -> Outcome:
    """Queue the request (once) and run the scheduler; return where the resource stands.

    Raises:
        NotFound / InvalidInput: the request can never run on these pools (nothing is stored).
    """
    lock(session)
    row = session.get(RequestRow, request.id)
    if row is not None and _same(row, request):
        if row.status != "pending":
            return _outcome(session, request.id, Outcome())
    elif row is not None:
        raise Conflict(
            f"{request.id!r} already holds or waits for a different accelerator request: "
            "release it first"
        )
    engine, _ = load_engine(session, pools, factory=factory)
    if row is None:
        engine.submit(request, now.timestamp())  # raises before anything is stored
        session.add(_row(request, now))
        session.flush()
    return _outcome(session, request.id, _write(session, decide(engine, now.timestamp()), now))


def _same(row: RequestRow, request: Request) -> bool:
    return (row.team, row.accelerator, row.milli, row.kind, row.nodes, row.partition) == (
        request.team,
        request.accelerator,
        request.milli,
        request.kind,
        request.nodes,
        request.partition,
    )


def _row(request: Request, now: datetime) -> RequestRow:
    return RequestRow(
        resource_id=request.id,
        team=request.team,
        accelerator=request.accelerator,
        milli=request.milli,
        kind=request.kind,
        nodes=request.nodes,
        partition=request.partition,
        priority=request.priority,
        estimate_s=request.estimate_s,
        status="pending",
        submitted_at=now,
        attained_s=0.0,
        borrowed=False,
    )


def release(
    session: Session,
    resource_id: str,
    pools: PoolSet,
    *,
    now: datetime,
    factory: EngineFactory = _plinth,
) -> Outcome:
    """Forget a deleted resource's request and devices; admit whatever now fits."""
    lock(session)
    session.execute(delete(AllocationRow).where(AllocationRow.resource_id == resource_id))
    session.execute(delete(RequestRow).where(RequestRow.resource_id == resource_id))
    session.flush()
    engine, _ = load_engine(session, pools, factory=factory)
    return _write(session, decide(engine, now.timestamp()), now)


def stopped(
    session: Session,
    resource_id: str,
    pools: PoolSet,
    *,
    now: datetime,
    factory: EngineFactory = _plinth,
) -> Outcome:
    """A preempted resource has stopped: free its devices and queue it again (work kept)."""
    lock(session)
    row = session.get(RequestRow, resource_id)
    if row is None or row.status == "pending":
        raise NotFound(f"{resource_id!r} holds no accelerators")
    notice = now if row.stop_deadline is None else min(now, row.stop_deadline)
    started = row.started_at or now
    row.attained_s += max(0.0, (notice - started).total_seconds()) * row.milli / MILLI
    session.execute(delete(AllocationRow).where(AllocationRow.resource_id == resource_id))
    row.status, row.started_at, row.stop_deadline, row.preempted_by = "pending", None, None, None
    session.flush()
    engine, _ = load_engine(session, pools, factory=factory)
    return _outcome(session, resource_id, _write(session, decide(engine, now.timestamp()), now))
