"""The reconciler: drives one resource's actual state to its desired state.

``reconcile(resource_id)`` is level based: it reads desired and observed state,
returns early when they agree, and otherwise applies, repairs drift, or destroys.
Temporary failures back off; permanent ones mark the resource failed until its
spec changes. Provider calls happen outside any database transaction.

A resource that asks for accelerators is applied only with an allocation (see
``gpu_allocation``); until it gets one it stays ``queued`` and is looked at again
when capacity frees up (``enqueue``, when given, reconciles such resources at once).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from plinth.capabilities.audit import service as audit
from plinth.capabilities.inventory import service as inventory
from plinth.capabilities.inventory.models import ResourceRecord
from plinth.core.clock import Clock
from plinth.core.errors import InvalidInput, PermanentError, TemporaryError
from plinth.core.placeholders import substitute
from plinth.core.secrets import SecretBox
from plinth.infrastructure.providers.base import ChangeAction, Observation, Provider, Resource
from plinth.infrastructure.providers.registry import ProviderRegistry
from plinth.infrastructure.store.db import Database
from plinth.orchestration.gpu_allocation import STATE_KEY, GpuAllocator, Grant, asks

__all__ = ["Reconciler", "Result"]

log = logging.getLogger(__name__)
MAX_RETRY_AFTER = 600.0
CONVERGED_PHASES = ("running", "ready", "succeeded", "scheduled")


@dataclass(frozen=True)
class Result:
    """What the work queue should do next with this resource."""

    requeue_after: float | None
    outputs_changed: bool = False


@dataclass(frozen=True)
class _Snapshot:
    id: str
    resource: Resource
    desired: dict[str, Any]
    generation: int
    observed_generation: int
    deleting: bool
    state: dict[str, Any]
    phase: str
    failures: int
    depends_on: list[str]


class _Waiting(Exception):
    """A dependency is not ready yet."""


class _Later(Exception):
    """The resource is backing off after a failure: look again after ``delay`` seconds."""

    def __init__(self, delay: float) -> None:
        super().__init__(f"backing off for {delay:.1f}s")
        self.delay = delay


class Reconciler:
    """Reconciles resources one id at a time."""

    def __init__(
        self,
        *,
        db: Database,
        registry: ProviderRegistry,
        box: SecretBox,
        clock: Clock,
        interval: float = 5.0,
        enqueue: Callable[[str], None] | None = None,
    ) -> None:
        self.db, self.registry, self.box, self.clock = db, registry, box, clock
        self.interval = interval
        self.enqueue = enqueue
        self.gpus = GpuAllocator(db=db, clock=clock)

    def reconcile(self, resource_id: str) -> Result:
        """Bring one resource to its desired state; return when to look again."""
        try:
            snap, resolved = self._load(resource_id)
        except _Later as later:
            return Result(later.delay)
        if snap is None:
            return Result(None)
        provider = self.registry.for_type(snap.resource.type)
        if snap.deleting:
            try:
                provider.destroy(snap.resource, snap.state)
                self._wake(self.gpus.release(snap.id))
            except Exception as exc:
                return self._failed(snap, exc)
            self._forget(snap)
            return Result(None, outputs_changed=True)
        if resolved is None:
            return Result(1.0)
        gpu = self._grant(snap, provider, resolved)
        if isinstance(gpu, Result):
            return gpu
        if gpu is not None:
            resolved = gpu.spec
        resource = Resource(
            id=snap.id,
            type=snap.resource.type,
            name=snap.resource.name,
            environment=snap.resource.environment,
            project=snap.resource.project,
            spec=resolved,
        )
        try:
            observed = provider.observe(resource, snap.state)
            change = provider.plan(resource, observed)
            if change.action == ChangeAction.NOOP:
                observed = self._settle(resource, gpu, observed, converged=True)
                return self._save(snap, observed, reason=None, message="")
            drift = snap.observed_generation == snap.generation and snap.phase in CONVERGED_PHASES
            if change.action == ChangeAction.REPLACE:
                provider.destroy(resource, observed.state)
            after = provider.apply(resource, observed.state or snap.state)
            after = self._settle(resource, gpu, after, converged=False)
        except Exception as exc:
            return self._failed(snap, exc)
        reasons = "; ".join(change.reasons) or change.action.value
        if drift:
            return self._save(snap, after, reason="Repaired", message=f"drift repaired: {reasons}")
        reason = "Created" if snap.observed_generation == 0 else "Updated"
        return self._save(snap, after, reason=reason, message=reasons)

    # -- reading --------------------------------------------------------------------

    def _load(self, resource_id: str) -> tuple[_Snapshot | None, dict[str, Any] | None]:
        with self.db.transaction() as session:
            record = session.get(ResourceRecord, resource_id)
            if record is None:
                return None, None
            now = self.clock.now()
            if record.next_attempt_at is not None and record.next_attempt_at > now:
                raise _Later((record.next_attempt_at - now).total_seconds())
            if record.phase == "failed" and record.observed_generation == record.generation:
                return None, None
            snap = _Snapshot(
                id=record.id,
                resource=Resource(
                    id=record.id,
                    type=record.type,
                    name=record.name,
                    environment=record.environment,
                    project=record.project,
                    spec=record.desired,
                ),
                desired=dict(record.desired),
                generation=record.generation,
                observed_generation=record.observed_generation,
                deleting=record.deleting,
                state=dict(record.state or {}),
                phase=record.phase,
                failures=record.failures,
                depends_on=list(record.depends_on or []),
            )
            if record.deleting:
                return snap, None
            try:
                resolved = self._resolve(session, record)
            except _Waiting as exc:
                if record.phase != "waiting" or record.message != str(exc):
                    record.phase, record.message = "waiting", str(exc)
                return snap, None
            return snap, resolved

    def _resolve(self, session: Any, record: ResourceRecord) -> dict[str, Any]:
        deps = inventory.resources_by_name(
            session,
            environment=record.environment,
            project=record.project,
            names=list(record.depends_on or []),
        )
        outputs: dict[str, dict[str, Any]] = {}
        for name in record.depends_on or []:
            dep = deps.get(name)
            if dep is None or dep.deleting:
                raise _Waiting(f"waiting for {name}: it does not exist")
            if dep.observed_generation < dep.generation or not (dep.outputs or dep.sealed_outputs):
                raise _Waiting(f"waiting for {name} to be ready")
            values = dict(dep.outputs or {})
            if dep.sealed_outputs:
                values.update(json.loads(self.box.open(dep.sealed_outputs)))
            outputs[name] = values

        def lookup(ref: str) -> Any:
            parts = ref.split(".")
            if parts[0] != "resources" or len(parts) < 3 or parts[1] not in outputs:
                raise KeyError(ref)
            value: Any = outputs[parts[1]]
            for part in parts[2:]:
                value = value[part]
            return value

        try:
            resolved: dict[str, Any] = substitute(record.desired, lookup)
        except InvalidInput as exc:
            raise _Waiting(f"waiting: {exc.detail}") from exc
        return resolved

    # -- writing --------------------------------------------------------------------

    def _save(
        self, snap: _Snapshot, observed: Observation, *, reason: str | None, message: str
    ) -> Result:
        secret = {k: v for k, v in observed.outputs.items() if k in observed.secret_outputs}
        public = {k: v for k, v in observed.outputs.items() if k not in observed.secret_outputs}
        with self.db.transaction() as session:
            if reason == "Repaired":
                audit.lock_chain(session)  # same lock order as the applier: chain, then rows
            record = session.get(ResourceRecord, snap.id)
            if record is None:
                return Result(None)
            changed = public != (record.outputs or {}) or bool(secret) != bool(
                record.sealed_outputs
            )
            if secret:
                old = (
                    json.loads(self.box.open(record.sealed_outputs))
                    if record.sealed_outputs
                    else {}
                )
                changed = changed or old != secret
                if old != secret:
                    record.sealed_outputs = self.box.seal(json.dumps(secret, sort_keys=True))
            fields: dict[str, Any] = {
                "outputs": public,
                "state": observed.state,
                "applied_digest": observed.applied_digest or "",
                "phase": observed.phase,
                "healthy": observed.healthy,
                "message": observed.message,
                "failures": 0,
                "next_attempt_at": None,
            }
            if record.generation == snap.generation:
                fields["observed_generation"] = snap.generation
            # A converged sweep writes nothing, so it never bumps the row's version under
            # an apply that is reading it.
            moved = {k: v for k, v in fields.items() if getattr(record, k) != v}
            for key, value in moved.items():
                setattr(record, key, value)
            if moved:
                record.updated_at = self.clock.now()
            if reason is not None:
                inventory.add_event(
                    session, record, reason=reason, message=message, at=self.clock.now()
                )
                if reason == "Repaired":
                    audit.append(
                        session,
                        actor="reconciler",
                        action="resource.repaired",
                        subject=f"resource/{record.environment}/{record.project}/{record.name}",
                        data={"message": message},
                        clock=self.clock,
                    )
            again = record.generation != snap.generation
        return Result(0.0 if again else self.interval, outputs_changed=changed)

    def _failed(self, snap: _Snapshot, exc: Exception) -> Result:
        """Record a provider failure: permanent ones stop, others back off."""
        log.warning("reconcile %s failed: %s", snap.resource.name, exc)
        message = str(exc) or type(exc).__name__
        if isinstance(exc, PermanentError):
            return self._fail(snap, message, permanent=True)
        retry_after = exc.retry_after if isinstance(exc, TemporaryError) else None
        return self._fail(snap, message, permanent=False, retry_after=retry_after)

    def _fail(
        self, snap: _Snapshot, message: str, *, permanent: bool, retry_after: float | None = None
    ) -> Result:
        with self.db.transaction() as session:
            record = session.get(ResourceRecord, snap.id)
            if record is None:
                return Result(None)
            record.failures += 1
            record.message = message
            first = record.failures == 1
            if permanent:
                record.phase = "failed"
                if record.generation == snap.generation:
                    record.observed_generation = snap.generation
                delay = None
            else:
                record.phase = "retrying"
                backoff = float(min(60, 2 ** min(record.failures, 6)))
                delay = min(MAX_RETRY_AFTER, max(retry_after or 0.0, backoff))
                record.next_attempt_at = self.clock.now() + timedelta(seconds=delay)
            if first or permanent:
                inventory.add_event(
                    session,
                    record,
                    reason="Failed" if permanent else "Retrying",
                    message=message,
                    at=self.clock.now(),
                )
        return Result(delay)

    # -- accelerators -------------------------------------------------------------------

    def _grant(
        self, snap: _Snapshot, provider: Provider, resolved: dict[str, Any]
    ) -> Grant | Result | None:
        """Return the accelerators to apply with, or the result when the resource must wait."""
        if not asks(resolved) and STATE_KEY not in snap.state:
            return None
        try:
            gpu = self.gpus.grant(snap.resource, resolved, snap.state)
            self._wake(gpu.wake)
            if gpu.stop:  # preempted and out of grace: stop it, queue it again
                provider.destroy(snap.resource, snap.state)
                gpu = self.gpus.stopped(snap.id)
                self._wake(gpu.wake)
        except Exception as exc:
            return self._failed(snap, exc)
        return self._queued(snap, gpu) if gpu.queued is not None else gpu

    def _settle(
        self, resource: Resource, gpu: Grant | None, observed: Observation, *, converged: bool
    ) -> Observation:
        if gpu is None:
            return observed
        observed, wake = self.gpus.settle(resource, gpu, observed, converged=converged)
        self._wake(wake)
        return observed

    def _wake(self, ids: Iterable[str]) -> None:
        for resource_id in ids:
            if self.enqueue is not None:
                self.enqueue(resource_id)

    def _queued(self, snap: _Snapshot, gpu: Grant) -> Result:
        """Record that the resource waits for accelerators; look again later."""
        message = gpu.queued or "queued"
        with self.db.transaction() as session:
            record = session.get(ResourceRecord, snap.id)
            if record is None:
                return Result(None)
            if record.phase != "queued" or record.message.split(",")[0] != message.split(",")[0]:
                inventory.add_event(
                    session, record, reason="Queued", message=message, at=self.clock.now()
                )
            record.phase, record.message, record.failures = "queued", message, 0
            if STATE_KEY not in (record.state or {}):  # so a spec that stops asking releases
                record.state = {**(record.state or {}), STATE_KEY: {"queued": True}}
            delay = gpu.retry_after
            record.next_attempt_at = self.clock.now() + timedelta(seconds=delay) if delay else None
        return Result(delay)

    def _forget(self, snap: _Snapshot) -> None:
        with self.db.transaction() as session:
            audit.lock_chain(session)
            record = session.get(ResourceRecord, snap.id)
            if record is None or not record.deleting:
                return
            inventory.add_event(
                session, record, reason="Deleted", message="destroyed", at=self.clock.now()
            )
            audit.append(
                session,
                actor="reconciler",
                action="resource.destroyed",
                subject=f"resource/{record.environment}/{record.project}/{record.name}",
                data={"type": record.type},
                clock=self.clock,
            )
            session.delete(record)
