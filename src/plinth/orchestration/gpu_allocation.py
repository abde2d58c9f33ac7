"""Accelerators for the reconciler: allocate before apply, queue, preempt, release.

A resource whose resolved spec asks for ``accelerators`` is handed to its
provider only with an allocation (``accelerators.allocation``, see
``capabilities.accelerators.requests``). ``GpuAllocator.grant`` returns either
the spec with the allocation the resource holds (found again after a crash
between allocation and apply, so devices never leak), or why it must wait (its
position in the queue and the expected start), or that it was preempted and
its grace period is over (the reconciler stops it, then calls ``stopped`` so it
is queued again, not lost). ``release`` frees the devices of a deleted resource.

Every change runs in one transaction with the allocation store; resources that
a change admits or asks to stop get an event, lose any back-off, and are
returned in ``wake`` so the caller reconciles them at once.

The reconciler keeps a marker in the resource's state (``gpu``): the allocation
fragment it applied, the digest of the spec *without* the allocation, and
whether a one-off job's run finished. A finished job gives its devices back;
it keeps its last fragment so the provider sees the same spec (no rerun) until
the spec itself changes.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from plinth.capabilities.accelerators import allocations
from plinth.capabilities.accelerators.model import MILLI
from plinth.capabilities.accelerators.pools import PoolSet
from plinth.capabilities.accelerators.requests import (
    ACCELERATOR_KEY,
    allocation_fragment,
    request_from_spec,
    with_allocation,
)
from plinth.capabilities.accelerators.tables import RequestRow
from plinth.capabilities.identity import service as identity
from plinth.capabilities.inventory import service as inventory
from plinth.capabilities.inventory.models import ResourceRecord
from plinth.core.clock import Clock
from plinth.core.digest import digest
from plinth.core.errors import Conflict, InvalidInput, NotFound, PermanentError
from plinth.infrastructure.providers.base import Observation, Resource
from plinth.infrastructure.store.db import Database
from plinth.orchestration import capacity

__all__ = ["QUEUED_RETRY_S", "STATE_KEY", "GpuAllocator", "Grant", "asks", "bare_digest"]

STATE_KEY = "gpu"
QUEUED_RETRY_S = 30.0
_DONE_PHASES = ("succeeded", "failed")


def asks(spec: Mapping[str, Any]) -> bool:
    """Return whether a resolved spec asks for accelerators."""
    return isinstance(spec.get(ACCELERATOR_KEY), Mapping)


def bare_digest(spec: Mapping[str, Any]) -> str:
    """Return the digest of ``spec`` without ``accelerators.allocation`` (what the user asked)."""
    asked = spec.get(ACCELERATOR_KEY)
    if isinstance(asked, Mapping):
        spec = {**spec, ACCELERATOR_KEY: {k: v for k, v in asked.items() if k != "allocation"}}
    return digest(spec)


@dataclass(frozen=True)
class Grant:
    """What the reconciler does with a resource that asks for accelerators."""

    spec: dict[str, Any]
    marker: dict[str, Any] | None = None
    queued: str | None = None
    retry_after: float = QUEUED_RETRY_S
    stop: bool = False
    wake: tuple[str, ...] = field(default=())


def _marker(state: Mapping[str, Any]) -> dict[str, Any]:
    value = state.get(STATE_KEY)
    return dict(value) if isinstance(value, Mapping) else {}


def _iso(when: datetime | None) -> str | None:
    return None if when is None else when.isoformat()


def _matches(row: RequestRow, spec: Mapping[str, Any]) -> bool:
    """Return whether the stored request still asks for what the spec asks for."""
    asked = spec[ACCELERATOR_KEY]
    try:
        milli = round(float(asked.get("count", 1)) * MILLI)
    except (TypeError, ValueError):
        return False
    nodes = asked.get("nodes")
    return (row.accelerator, row.milli, row.kind, row.nodes, row.partition) == (
        str(asked.get("type") or ""),
        milli,
        str(asked.get("kind") or "training-job"),
        None if nodes is None else int(nodes),
        asked.get("partition") or None,
    )


def _what(spec: Mapping[str, Any]) -> str:
    asked = spec[ACCELERATOR_KEY]
    return f"{asked.get('count', 1)} {asked.get('type')} accelerator(s)"


class GpuAllocator:
    """Allocates accelerators to resources as the reconciler applies them."""

    def __init__(self, *, db: Database, clock: Clock) -> None:
        self.db, self.clock = db, clock

    # -- before apply ---------------------------------------------------------------

    def grant(self, resource: Resource, spec: dict[str, Any], state: Mapping[str, Any]) -> Grant:
        """Return the spec to apply (with its allocation), or why the resource must wait."""
        marker = _marker(state)
        if not asks(spec):
            return Grant(spec, wake=self.release(resource.id) if marker else ())
        wanted = bare_digest(spec)
        if marker.get("finished") and marker.get("digest") == wanted:
            return Grant(with_allocation(spec, marker.get("allocation") or {}), marker)
        now = self.clock.now()
        with self.db.read() as session:
            row = session.get(RequestRow, resource.id)
            if row is not None and row.status != "pending" and _matches(row, spec):
                if row.status == "stopping" and row.stop_deadline and row.stop_deadline <= now:
                    return Grant(spec, marker, stop=True)
                if marker.get("since") == _iso(row.started_at) and "allocation" in marker:
                    return Grant(with_allocation(spec, marker["allocation"]), marker)
        return self._request(resource, spec, wanted)

    def _request(self, resource: Resource, spec: dict[str, Any], wanted: str) -> Grant:
        try:
            with self.db.transaction() as session:
                allocations.lock(session)  # first, so submit times follow the queue's order
                return self._allocate(session, resource, spec, wanted, self.clock.now())
        except (NotFound, InvalidInput) as exc:
            self.release(resource.id, why="it can never run")  # nothing left half-allocated
            raise PermanentError(f"{_what(spec)} can never be allocated: {exc.detail}") from exc

    def _allocate(
        self, session: Session, resource: Resource, spec: dict[str, Any], wanted: str, now: datetime
    ) -> Grant:
        pools = capacity.stored_pools(session)
        team = identity.project_team(session, identity.get_project(session, resource.project))
        request = request_from_spec(
            resource.id,
            team,
            spec,
            submit_s=now.timestamp(),
            priority_classes=pools.priority_classes,
        )
        if request is None:  # pragma: no cover - grant only calls for specs that ask
            raise InvalidInput("the resource asks for no accelerators")
        before = allocations.held(session, resource.id)
        wake: list[str] = []
        try:
            out = allocations.request_allocation(session, request, pools, now=now)
        except Conflict:  # the spec asks for something else now: start over
            freed = allocations.release(session, resource.id, pools, now=now)
            wake += self._notify(session, freed, pools, now)
            before = None
            out = allocations.request_allocation(session, request, pools, now=now)
        wake += self._notify(session, out, pools, now)
        if out.allocation is None:
            text = self._queued_text(session, pools, resource.id, out.position, now)
            return Grant(spec, queued=text, wake=tuple(wake))
        fragment = allocation_fragment(out.allocation, physical=pools.physical)
        record = session.get(ResourceRecord, resource.id)
        if before is None and record is not None:
            inventory.add_event(
                session, record, reason="Allocated", message=_placed(fragment), at=now
            )
        row = session.get(RequestRow, resource.id)
        since = _iso(row.started_at) if row is not None else None
        marker = {"allocation": fragment, "digest": wanted, "since": since, "finished": False}
        return Grant(with_allocation(spec, fragment), marker, wake=tuple(wake))

    def _queued_text(
        self,
        session: Session,
        pools: PoolSet,
        resource_id: str,
        position: int | None,
        now: datetime,
    ) -> str:
        start = self._expected_start(session, pools, resource_id, now)
        return f"queued (position {position or '?'}, expected start {start})"

    @staticmethod
    def _expected_start(session: Session, pools: PoolSet, resource_id: str, now: datetime) -> str:
        """Play the stored queue forward (a what-if on a copy) to estimate the start."""
        row = session.get(RequestRow, resource_id)
        if row is None:
            return "unknown"
        engine, _ = allocations.load_engine(session, pools)
        borrowed = {r.resource_id: r.borrowed for r in allocations.requests(session)}
        facts: dict[str, dict[str, Any]] = {resource_id: {}}
        # The capacity gate's forward play, on the stored request itself (not a plan copy).
        capacity.play_forward(engine, [allocations.as_request(row)], facts, borrowed, now)
        fact = facts[resource_id]
        if fact.get("verdict") == "now":
            return "now"
        when = fact.get("expected_start")
        if when is None:
            return "unknown"
        return f"{when} (assumed run times)" if fact.get("estimate_basis") == "assumed" else when

    # -- changes that concern other resources -----------------------------------------

    def _notify(
        self, session: Session, out: allocations.Outcome, pools: PoolSet, now: datetime
    ) -> list[str]:
        """Tell the resources a change admitted or preempted; return their ids to reconcile."""
        wake: list[str] = []
        for rid in out.admitted:
            record = session.get(ResourceRecord, rid)
            held = allocations.held(session, rid)
            if record is None or held is None:
                continue
            fragment = allocation_fragment(held, physical=pools.physical)
            inventory.add_event(
                session, record, reason="Allocated", message=_placed(fragment), at=now
            )
            record.next_attempt_at = None
            wake.append(rid)
        for notice in out.preempt:
            record = session.get(ResourceRecord, notice.resource_id)
            if record is None:
                continue
            message = (
                f"preempted to make room for {notice.by}: checkpoint and stop by "
                f"{notice.deadline.isoformat()}; it is queued again after it stops"
            )
            inventory.add_event(session, record, reason="Preempting", message=message, at=now)
            record.next_attempt_at = None
            wake.append(notice.resource_id)
        return wake

    # -- after apply, stop, delete -----------------------------------------------------

    def settle(
        self, resource: Resource, grant: Grant, observed: Observation, *, converged: bool
    ) -> tuple[Observation, tuple[str, ...]]:
        """Return the observation to save (with the marker) and resources to reconcile.

        A one-off job whose run for this spec has ended (seen on two passes in a row)
        gives its devices back.
        """
        marker = grant.marker
        if marker is None:
            return observed, ()
        wake: tuple[str, ...] = ()
        ended = (
            converged
            and not marker.get("finished")
            and resource.type == "job"
            and not resource.spec.get("schedule")
            and observed.phase in _DONE_PHASES
        )
        if ended and marker.get("ended"):  # seen on two passes: not a passing glimpse
            wake = self.release(resource.id, why=f"the run {observed.phase}")
            marker = {**marker, "finished": True}
        elif ended != bool(marker.get("ended")):
            marker = {**marker, "ended": ended}
        return replace(observed, state={**observed.state, STATE_KEY: marker}), wake

    def stopped(self, resource_id: str) -> Grant:
        """A preempted resource was stopped: free its devices and queue it again."""
        now = self.clock.now()
        with self.db.transaction() as session:
            pools = capacity.stored_pools(session)
            try:
                out = allocations.stopped(session, resource_id, pools, now=now)
            except NotFound:
                out = allocations.Outcome()
            wake = self._notify(session, out, pools, now)
            record = session.get(ResourceRecord, resource_id)
            if record is not None:
                inventory.add_event(
                    session, record, reason="Preempted", message="stopped; queued again", at=now
                )
            if out.allocation is not None:  # admitted again at once: apply on the next pass
                return Grant(
                    {}, queued="queued (admitted again)", retry_after=0.0, wake=tuple(wake)
                )
            text = self._queued_text(session, pools, resource_id, out.position, now)
            return Grant({}, queued=text, wake=tuple(wake))

    def release(self, resource_id: str, *, why: str = "deleted") -> tuple[str, ...]:
        """Free whatever a resource holds or waits for; return the resources it admits."""
        with self.db.read() as session:
            if session.get(RequestRow, resource_id) is None:
                return ()
        now = self.clock.now()
        with self.db.transaction() as session:
            pools = capacity.stored_pools(session)
            had = allocations.held(session, resource_id)
            out = allocations.release(session, resource_id, pools, now=now)
            record = session.get(ResourceRecord, resource_id)
            if record is not None and had is not None:
                message = f"{why}: its accelerators are free again"
                inventory.add_event(session, record, reason="Released", message=message, at=now)
            return tuple(self._notify(session, out, pools, now))


def _placed(fragment: Mapping[str, Any]) -> str:
    nodes = fragment.get("nodes") or []
    where = "; ".join(
        f"node {n['node']} devices {','.join(str(d) for d in n['devices']) or '-'}" for n in nodes
    )
    extra = []
    if fragment.get("fraction") is not None:
        extra.append(f"{fragment['fraction']:g} of a device")
    if fragment.get("partition"):
        extra.append(f"{fragment.get('slots')} {fragment['partition']} slice(s)")
    if fragment.get("borrowed"):
        extra.append("borrowed from the cohort")
    return "allocated " + (where or "nothing") + (f" ({', '.join(extra)})" if extra else "")
