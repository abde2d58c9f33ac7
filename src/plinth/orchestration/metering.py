"""The metering loop: every interval, what each running resource used, into the ledger.

Each tick reads the running resources from the store, asks each one's provider
for its cumulative usage (outside any transaction), and ingests the difference
since the last reading as usage samples: ``cpu`` (CPU seconds used),
``memory`` (resident bytes, held over the period), ``storage`` (bytes on
disk) and ``instance`` (a database server held over the period). The control
plane's own process is metered too, as the shared team's cost (see
docs/finops-metering.md).

No double counting across restarts: the last cumulative reading of every
resource (a :class:`MeteringCursor`) is committed in the same transaction as
the ledger rows computed from it, and loaded again on start. A crash before the
commit loses nothing (the next tick measures from the last committed reading);
a crash after it repeats nothing. A counter that went backwards (the process
restarted) starts a new baseline and charges nothing for that tick; a resource
seen for the first time only records its baseline. A gap longer than
``max_gap_s`` (the control plane was down) is charged for ``max_gap_s`` only.

Every ``anomaly_interval`` seconds the loop also looks for spend anomalies.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import psutil
from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from plinth.capabilities.finops import anomalies, metering
from plinth.capabilities.finops.metering import SHARED_TEAM, UsageSample
from plinth.capabilities.finops.metering_models import MeteringCursor
from plinth.capabilities.finops.pricebook import PriceBook
from plinth.capabilities.inventory.models import ResourceRecord
from plinth.core.clock import Clock
from plinth.infrastructure.providers.base import Resource, Usage
from plinth.infrastructure.providers.registry import ProviderRegistry
from plinth.infrastructure.store.db import Database

__all__ = ["CONTROL_PLANE", "RUNNING_PHASES", "MeteringLoop", "Reading"]

log = logging.getLogger(__name__)
RUNNING_PHASES = ("running", "ready")
CONTROL_PLANE = "control-plane"
WORKLOAD_TYPES = ("service", "job", "vm")  # always metered for CPU and memory
INSTANCE_TYPES = ("postgres",)  # priced per instance-hour while running, as estimates are


@dataclass(frozen=True)
class Reading:
    """A cumulative usage reading of one resource at one time."""

    cpu_seconds: float
    at: datetime


@dataclass(frozen=True)
class _Running:
    resource: Resource
    state: dict[str, Any]


class MeteringLoop:
    """Samples provider usage of running resources every ``interval`` seconds."""

    def __init__(
        self,
        db: Database,
        registry: ProviderRegistry,
        book_provider: Callable[[Session], PriceBook],
        clock: Clock,
        interval: float = 10.0,
        *,
        max_gap_s: float = 3600.0,
        anomaly_interval: float = 300.0,
        meter_self: bool = True,
    ) -> None:
        self.db, self.registry, self.book_provider, self.clock = db, registry, book_provider, clock
        self.interval, self.max_gap_s = interval, max_gap_s
        self.anomaly_interval, self.meter_self = anomaly_interval, meter_self
        self._cursors: dict[str, Reading] | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._last_scan: datetime | None = None

    # -- lifecycle --------------------------------------------------------------------

    def start(self) -> None:
        """Start sampling in a background thread (the first tick records baselines)."""
        if self._thread is not None and self._thread.is_alive():
            return
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name="plinth-metering", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop sampling and wait for the tick in progress to finish."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=max(30.0, self.interval * 2))
            self._thread = None

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self.tick()
                self._maybe_scan()
            except Exception:
                log.exception("metering tick failed; trying again next interval")
            self._stop.wait(self.interval)

    def _maybe_scan(self) -> None:
        now = self.clock.now()
        due = self._last_scan is None or (
            now - self._last_scan >= timedelta(seconds=self.anomaly_interval)
        )
        if not due:
            return
        self._last_scan = now
        with self.db.transaction() as session:
            found = anomalies.detect(session, now=now)
            for anomaly in anomalies.record(session, found, clock=self.clock):
                log.warning("cost anomaly: %s", anomaly.message)

    # -- one tick ---------------------------------------------------------------------

    def tick(self) -> int:
        """Read every running resource's usage once and ingest it; return the samples written."""
        cursors = self._load_cursors()
        running = self._running()
        readings: dict[str, Reading] = {}
        samples: list[UsageSample] = []
        for item in running:
            usage = self._usage(item)
            if usage is None:
                continue
            now = self.clock.now()
            readings[item.resource.id] = Reading(usage.cpu_seconds, now)
            samples.extend(self._samples(item.resource, usage, cursors.get(item.resource.id), now))
        if self.meter_self:
            own = _own_usage()
            now = self.clock.now()
            readings[CONTROL_PLANE] = Reading(own.cpu_seconds, now)
            samples.extend(self._own_samples(own, cursors.get(CONTROL_PLANE), now))
        gone = set(cursors) - set(readings)
        with self.db.transaction() as session:
            metering.ingest(
                session,
                samples,
                book=self.book_provider(session),
                clock=self.clock,
                on_unpriced="zero",
            )
            _save_cursors(session, readings, gone)
        cursors.update(readings)
        for resource_id in gone:
            cursors.pop(resource_id, None)
        return len(samples)

    def _load_cursors(self) -> dict[str, Reading]:
        if self._cursors is None:
            with self.db.read() as session:
                rows = session.scalars(select(MeteringCursor))
                self._cursors = {r.resource_id: Reading(r.cpu_seconds, r.read_at) for r in rows}
        return self._cursors

    def _running(self) -> list[_Running]:
        with self.db.read() as session:
            rows = session.scalars(
                select(ResourceRecord).where(
                    ResourceRecord.phase.in_(RUNNING_PHASES), ResourceRecord.deleting.is_(False)
                )
            )
            return [
                _Running(
                    Resource(
                        id=r.id,
                        type=r.type,
                        name=r.name,
                        environment=r.environment,
                        project=r.project,
                        spec=dict(r.desired or {}),
                    ),
                    dict(r.state or {}),
                )
                for r in rows
            ]

    def _usage(self, item: _Running) -> Usage | None:
        try:
            provider = self.registry.for_type(item.resource.type)
            return provider.usage(item.resource, item.state)
        except Exception as exc:
            log.warning("cannot meter %s: %s", item.resource.name, exc)
            return None

    def _period(self, last: Reading | None, now: datetime) -> tuple[datetime, float] | None:
        """Return the start and length of the period to charge, or None for a first reading."""
        if last is None:
            return None
        seconds = (now - last.at).total_seconds()
        if seconds <= 0:
            return None
        if seconds > self.max_gap_s:
            return now - timedelta(seconds=self.max_gap_s), self.max_gap_s
        return last.at, seconds

    def _samples(
        self, resource: Resource, usage: Usage, last: Reading | None, now: datetime
    ) -> list[UsageSample]:
        period = self._period(last, now)
        if period is None or last is None:
            return []
        at, seconds = period

        def sample(dimension: str, quantity: float, unit: str) -> UsageSample:
            return UsageSample(
                resource_id=resource.id,
                resource_name=resource.name,
                resource_type=resource.type,
                at=at,
                period_s=seconds,
                dimension=dimension,
                quantity=quantity,
                unit=unit,
            )

        found: list[UsageSample] = []
        if resource.type in WORKLOAD_TYPES or usage.cpu_seconds or usage.memory_bytes:
            found.append(
                sample("cpu", max(0.0, usage.cpu_seconds - last.cpu_seconds), "vcpu-second")
            )
            found.append(sample("memory", usage.memory_bytes, "byte"))
        if usage.disk_bytes:
            found.append(sample("storage", usage.disk_bytes, "byte"))
        if resource.type in INSTANCE_TYPES:
            found.append(sample("instance", 1, "instance"))
        return found

    def _own_samples(self, own: Usage, last: Reading | None, now: datetime) -> list[UsageSample]:
        period = self._period(last, now)
        if period is None or last is None:
            return []
        at, seconds = period

        def sample(dimension: str, quantity: float, unit: str) -> UsageSample:
            return UsageSample(
                resource_name="plinth",
                resource_type=CONTROL_PLANE,
                provider="local",
                region="local",
                team=SHARED_TEAM,
                at=at,
                period_s=seconds,
                dimension=dimension,
                quantity=quantity,
                unit=unit,
            )

        cpu = max(0.0, own.cpu_seconds - last.cpu_seconds)
        return [sample("cpu", cpu, "vcpu-second"), sample("memory", own.memory_bytes, "byte")]


def _own_usage() -> Usage:
    """Return the control plane process's own CPU seconds and resident memory."""
    process = psutil.Process(os.getpid())
    times = process.cpu_times()
    return Usage(cpu_seconds=times.user + times.system, memory_bytes=process.memory_info().rss)


def _save_cursors(session: Session, readings: dict[str, Reading], gone: set[str]) -> None:
    """Upsert the readings and forget resources that stopped running."""
    existing = {c.resource_id: c for c in session.scalars(select(MeteringCursor))}
    for resource_id, reading in readings.items():
        row = existing.get(resource_id)
        if row is None:
            session.add(
                MeteringCursor(
                    resource_id=resource_id, cpu_seconds=reading.cpu_seconds, read_at=reading.at
                )
            )
        else:
            row.cpu_seconds, row.read_at = reading.cpu_seconds, reading.at
    ordered = sorted(gone)
    for start in range(0, len(ordered), 500):
        chunk = ordered[start : start + 500]
        session.execute(delete(MeteringCursor).where(MeteringCursor.resource_id.in_(chunk)))
