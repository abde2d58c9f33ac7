"""The metering loop: provider usage of running resources, as deltas, into the ledger.

A small test double (the fake provider with programmable cumulative usage)
drives most tests; one test meters a real process through the local provider.
"""

from __future__ import annotations

import sys
import time
from dataclasses import dataclass, field
from datetime import timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from plinth.capabilities.finops.metering_models import MeteringCursor
from plinth.capabilities.inventory.models import ResourceRecord
from plinth.core.clock import FrozenClock, SystemClock
from plinth.core.ids import SequentialIds
from plinth.infrastructure.providers.base import ProviderContext, Resource, Usage
from plinth.infrastructure.providers.local.provider import LocalProvider
from plinth.infrastructure.providers.local.runtime import stop_local_runtime
from plinth.infrastructure.providers.registry import ProviderRegistry
from plinth.infrastructure.store.db import Database
from plinth.orchestration.metering import CONTROL_PLANE, MeteringLoop
from tests.capabilities.finops.metering_world import (
    add_resource,
    ledger_rows,
    local_book,
    seed_org,
)
from tests.fakes.provider import FakeProvider

MIB = 1024**2


@dataclass
class MeteredFake(FakeProvider):
    """The fake provider, reporting whatever cumulative usage a test sets (or failing)."""

    usages: dict[str, Usage] = field(default_factory=dict)
    broken: set[str] = field(default_factory=set)

    def usage(self, resource: Resource, state: Any) -> Usage:
        """Return the usage set for this resource."""
        if resource.id in self.broken:
            raise RuntimeError("the meter is unplugged")
        return self.usages.get(resource.id, Usage())


@dataclass
class Meter:
    database: Database
    clock: FrozenClock
    fake: MeteredFake
    ids: dict[str, str]

    def loop(self, **kw: Any) -> MeteringLoop:
        registry = ProviderRegistry()
        registry.register(self.fake)
        kw.setdefault("meter_self", False)
        return MeteringLoop(
            self.database, registry, lambda _session: local_book(), self.clock, 10.0, **kw
        )

    def rows(self, name: str | None = None) -> dict[str, Any]:
        found = [r for r in ledger_rows(self.database) if name is None or r.resource_name == name]
        return {f"{r.resource_name}:{r.dimension}@{r.at.isoformat()}": r for r in found}

    def set_phase(self, name: str, phase: str) -> None:
        with self.database.transaction() as session:
            record = session.get(ResourceRecord, self.ids[name])
            assert record is not None
            record.phase = phase


@pytest.fixture
def meter(database: Database, clock: FrozenClock, ids: SequentialIds) -> Meter:
    with database.transaction() as session:
        seed_org(session, ids=ids, clock=clock)
        found = {
            "web": add_resource(session, name="web", ids=ids, clock=clock),
            "db": add_resource(
                session, name="db", type="postgres", cpu=None, memory=None, ids=ids, clock=clock
            ),
        }
    return Meter(database, clock, MeteredFake(), found)


def test_first_reading_is_a_baseline_then_deltas_are_charged(meter: Meter) -> None:
    loop = meter.loop()
    meter.fake.usages[meter.ids["web"]] = Usage(cpu_seconds=100.0, memory_bytes=512 * MIB)
    assert loop.tick() == 0 and ledger_rows(meter.database) == []
    meter.clock.advance(10)
    meter.fake.usages[meter.ids["web"]] = Usage(cpu_seconds=108.0, memory_bytes=512 * MIB)
    assert loop.tick() == 3  # the web service's cpu and memory, the database's instance
    rows = {r.dimension: r for r in ledger_rows(meter.database) if r.resource_name == "web"}
    cpu, memory = rows["cpu"], rows["memory"]
    assert (cpu.team, cpu.project, cpu.resource_name) == ("payments", "checkout", "web")
    # 8 CPU-seconds used over 10 s against 500m requested (5 CPU-seconds): charged as used.
    assert cpu.quantity == Decimal("0.002222222") and cpu.extra["requested"] == pytest.approx(
        5 / 3600
    )
    # 512 MiB resident against 256Mi requested, for 10 s.
    assert memory.quantity == Decimal(repr(0.5 * 10 / 3600)).quantize(Decimal("1e-9"))
    assert cpu.at == meter.clock.now() - timedelta(seconds=10) and cpu.period_s == 10


def test_a_restart_measures_from_the_last_committed_reading(meter: Meter) -> None:
    web = meter.ids["web"]
    meter.fake.usages[web] = Usage(cpu_seconds=100.0)
    first = meter.loop()
    first.tick()
    meter.clock.advance(10)
    meter.fake.usages[web] = Usage(cpu_seconds=110.0)
    first.tick()
    restarted = meter.loop()  # a new process: nothing in memory, the cursor is in the store
    meter.clock.advance(10)
    meter.fake.usages[web] = Usage(cpu_seconds=130.0)
    restarted.tick()
    used = [r.extra["used"] for r in ledger_rows(meter.database) if r.dimension == "cpu"]
    assert used == [pytest.approx(10 / 3600), pytest.approx(20 / 3600)]


def test_a_counter_that_went_back_charges_no_usage_only_the_reservation(meter: Meter) -> None:
    web = meter.ids["web"]
    loop = meter.loop()
    meter.fake.usages[web] = Usage(cpu_seconds=500.0)
    loop.tick()
    meter.clock.advance(10)
    meter.fake.usages[web] = Usage(cpu_seconds=3.0)  # the process restarted
    loop.tick()
    [cpu] = [r for r in ledger_rows(meter.database) if r.dimension == "cpu"]
    assert cpu.extra["used"] == 0 and cpu.quantity == Decimal(repr(5 / 3600)).quantize(
        Decimal("1e-9")
    )


def test_stopped_resources_are_forgotten_and_broken_meters_skipped(meter: Meter) -> None:
    web, db = meter.ids["web"], meter.ids["db"]
    loop = meter.loop()
    meter.fake.usages[web] = Usage(cpu_seconds=1.0)
    meter.fake.usages[db] = Usage(disk_bytes=2 * 1024**3)
    loop.tick()
    meter.set_phase("web", "stopped")
    meter.fake.broken.add(db)
    meter.clock.advance(10)
    assert loop.tick() == 0
    with meter.database.read() as session:
        assert list(session.scalars(select(MeteringCursor.resource_id))) == []
    meter.fake.broken.clear()
    meter.set_phase("web", "running")
    loop.tick()
    meter.clock.advance(10)
    loop.tick()
    dimensions = sorted((r.resource_name, r.dimension) for r in ledger_rows(meter.database))
    assert dimensions == [("db", "instance"), ("db", "storage"), ("web", "cpu"), ("web", "memory")]
    storage = next(r for r in ledger_rows(meter.database) if r.dimension == "storage")
    assert storage.sku == "database.storage" and storage.unit == "gib-month"


def test_a_long_gap_is_charged_for_at_most_max_gap(meter: Meter) -> None:
    web = meter.ids["web"]
    loop = meter.loop(max_gap_s=600)
    meter.fake.usages[web] = Usage(cpu_seconds=1.0)
    loop.tick()
    meter.clock.advance(7200)
    loop.tick()
    [cpu] = [r for r in ledger_rows(meter.database) if r.dimension == "cpu"]
    assert cpu.period_s == 600 and cpu.at == meter.clock.now() - timedelta(seconds=600)


def test_the_control_plane_is_metered_as_shared_cost(meter: Meter) -> None:
    loop = meter.loop(meter_self=True)
    loop.tick()
    meter.clock.advance(10)
    loop.tick()
    own = [r for r in ledger_rows(meter.database) if r.resource_type == CONTROL_PLANE]
    assert {r.dimension for r in own} == {"cpu", "memory"}
    assert {r.team for r in own} == {"shared"}
    assert next(r for r in own if r.dimension == "memory").cost > 0


def test_start_and_stop_run_ticks_in_the_background(meter: Meter) -> None:
    loop = MeteringLoop(
        meter.database, ProviderRegistry(), lambda _s: local_book(), SystemClock(), 0.05
    )
    loop.start()
    try:
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and not ledger_rows(meter.database):
            time.sleep(0.05)
    finally:
        loop.stop()
    assert {r.resource_type for r in ledger_rows(meter.database)} == {CONTROL_PLANE}


BURN = "import time\nwhile True:\n    sum(range(10000))\n"


def test_a_real_process_is_metered_through_the_local_provider(
    database: Database, tmp_path: Path, ids: SequentialIds
) -> None:
    clock = SystemClock()
    data_dir = tmp_path / "local"
    provider = LocalProvider(ProviderContext(data_dir=data_dir, secret_key=b"k" * 32))
    registry = ProviderRegistry()
    registry.register(provider)
    spec = {
        "containers": {"burn": {"image": "exec:python", "command": [sys.executable, "-c", BURN]}},
        "resources": {"cpu": "100m", "memory": "32Mi"},
    }
    with database.transaction() as session:
        seed_org(session, ids=ids, clock=clock)
        rid = add_resource(session, name="burner", ids=ids, clock=clock)
    resource = Resource(
        id=rid, type="service", name="burner", environment="dev", project="checkout", spec=spec
    )
    try:
        observed = provider.apply(resource, {})
        with database.transaction() as session:
            record = session.get(ResourceRecord, rid)
            assert record is not None
            record.desired, record.state, record.phase = spec, observed.state, observed.phase
        loop = MeteringLoop(
            database, registry, lambda _s: local_book(), clock, 1.0, meter_self=False
        )
        loop.tick()
        time.sleep(0.5)
        loop.tick()
    finally:
        provider.destroy(resource, {})
        stop_local_runtime(data_dir)
    rows = {r.dimension: r for r in ledger_rows(database)}
    assert set(rows) == {"cpu", "memory"}
    assert rows["cpu"].extra["used"] > 0 and rows["memory"].extra["used"] > 0
    assert rows["cpu"].team == "payments" and rows["cpu"].cost > 0
