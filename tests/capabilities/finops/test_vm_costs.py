"""VMs in the price book: estimates by vCPU, memory, disks and GPUs; reservations for metering;
the janitor finds idle VMs (both stores)."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

from sqlalchemy.orm import Session
from tests.capabilities.finops.janitor_world import meter, organisation, price_local, workload
from tests.capabilities.finops.metering_world import CPU_HOUR, GIB_HOUR, ledger_rows, local_book
from tests.infrastructure.store import reuse

from plinth.capabilities.finops.estimate import HOURS_PER_MONTH, Pricing, estimate_resource
from plinth.capabilities.finops.janitor import find_candidates
from plinth.capabilities.finops.metering import ingest, parse_samples
from plinth.capabilities.finops.pricebook import PriceBook, Rate
from plinth.capabilities.finops.rating import requested_of
from plinth.capabilities.inventory import service as inventory
from plinth.capabilities.inventory.models import ResourceRecord
from plinth.core.clock import FrozenClock
from plinth.core.ids import SequentialIds
from plinth.infrastructure.store.db import Database

shared_database_url = reuse.shared_database_url
database_url = reuse.emptied_database_url

HERE = Pricing("test", "r1", "on_demand")
RATES = {
    "compute.vcpu": ("vcpu-hour", "0.04"),
    "compute.memory": ("gib-hour", "0.005"),
    "accelerator.l4": ("gpu-hour", "0.8"),
    "storage.block": ("gib-month", "0.1"),
}
WEEK = timedelta(days=7)


def book() -> PriceBook:
    """Return a small book with round prices at provider ``test``, region ``r1``."""
    rates = [
        Rate(sku, "test", "r1", "on_demand", unit, Decimal(amount), "USD", "test")
        for sku, (unit, amount) in RATES.items()
    ]
    return PriceBook.of(version="t", effective=date(2026, 1, 1), currency="USD", rates=rates)


def test_a_vm_is_priced_by_vcpu_memory_disks_and_gpu() -> None:
    spec = {
        "image": {"disk": "/img/legacy.qcow2"},
        "vcpus": 2,
        "memory": "2Gi",
        "disks": [{"name": "data", "size": "10Gi"}, {"name": "logs", "size": "2Gi"}],
        "gpu": {"count": 1, "type": "L4"},
    }
    found = estimate_resource(book(), type="vm", spec=spec, pricing=HERE)
    lines = {line.dimension: line.monthly for line in found.lines}
    assert lines == {
        "cpu": 2 * HOURS_PER_MONTH * Decimal("0.04"),
        "memory": 2 * HOURS_PER_MONTH * Decimal("0.005"),
        "gpu.l4": HOURS_PER_MONTH * Decimal("0.8"),
        "storage": 12 * Decimal("0.1"),
    }
    assert found.monthly == sum(lines.values())
    assert found.quantities["storage"] == 12 * 1024**3 and not found.notes


def test_vm_defaults_and_unpriceable_values_are_noted() -> None:
    bare = estimate_resource(book(), type="vm", spec={"image": {"disk": "/x"}}, pricing=HERE)
    assert {line.dimension for line in bare.lines} == {"cpu", "memory"}
    assert bare.quantities["cpu"] == 1 and bare.quantities["memory"] == 256 * 1024**2
    assert "no memory declared: assumed 256Mi" in bare.notes
    odd = {"vcpus": "two", "memory": "${resources.x.mem}", "gpu": {"count": 1, "type": "h100"}}
    noted = estimate_resource(book(), type="vm", spec=odd, pricing=HERE)
    assert noted.lines == ()
    assert any("vcpus 'two'" in n for n in noted.notes)
    assert any("not known until apply" in n for n in noted.notes)
    assert any("gpu.h100 not priced" in n for n in noted.notes)


def test_a_running_vm_reserves_its_vcpus_and_memory() -> None:
    assert requested_of({"image": {"disk": "/x"}, "vcpus": 4, "memory": "1Gi"}) == (
        4.0,
        float(1024**3),
    )
    assert requested_of({"image": {"kernel": "/k", "initrd": "/i"}}) == (1.0, 256.0 * 1024**2)
    assert requested_of({"resources": {"cpu": "500m"}}) == (0.5, None)


def _vm(session: Session, name: str, *, ids: SequentialIds, clock: FrozenClock) -> ResourceRecord:
    """Store a VM resource owned by workload ``name``."""
    return inventory.put_desired(
        session,
        environment="dev",
        project="checkout",
        name=f"{name}-legacy",
        type="vm",
        provider="local",
        workload=name,
        spec={"image": {"disk": "/x"}, "vcpus": 2, "memory": "512Mi"},
        depends_on=[],
        refs=[name],
        ids=ids,
        clock=clock,
    )


def test_the_janitor_finds_idle_vms(
    database: Database, ids: SequentialIds, clock: FrozenClock
) -> None:
    start = clock.now() - WEEK
    with database.transaction() as session:
        organisation(session, ids=ids, clock=clock)
        price_local(session, ids=ids, clock=clock)
        for name in ("quiet", "mixed"):
            web = workload(session, name, ids=ids, clock=clock)
            meter(session, web, start=start, hours=168, cpu=0.002)
            vm = _vm(session, name, ids=ids, clock=clock)
            used = 0.01 if name == "quiet" else 1.5
            meter(session, vm, start=start, hours=168, cpu=used, requested_cpu=2.0)
        busy_web = workload(session, "vmbusy", ids=ids, clock=clock)
        meter(session, busy_web, start=start, hours=168, cpu=0.4)
        idle_vm = _vm(session, "vmbusy", ids=ids, clock=clock)
        meter(session, idle_vm, start=start, hours=168, cpu=0.0, requested_cpu=2.0)
    with database.read() as session:
        found = find_candidates(session, now=clock.now())
    assert [c.workload for c in found] == ["quiet"]
    (finding,) = found[0].findings
    assert finding.kind == "idle"
    assert finding.detail == (
        "CPU used 0.4% of its request over the last 7d; "
        "vm quiet-legacy CPU used 0.5% of its request over the last 7d"
    )
    assert found[0].monthly_cost is not None and found[0].monthly_cost > 0


def test_a_running_vm_is_charged_what_it_holds(
    database: Database, ids: SequentialIds, clock: FrozenClock
) -> None:
    start = clock.now() - timedelta(hours=1)
    with database.transaction() as session:
        organisation(session, ids=ids, clock=clock)
        vm = _vm(session, "box", ids=ids, clock=clock)  # 2 vCPUs, 512Mi
        base = {"at": start, "period_s": 3600, "resource_id": vm.id}
        samples = parse_samples(
            [
                base | {"dimension": "cpu", "quantity": 36, "unit": "vcpu-second"},
                base | {"dimension": "memory", "quantity": 100 * 1024**2, "unit": "byte"},
            ]
        )
        assert ingest(session, samples, book=local_book(), clock=clock) == 2
    rows = {r.dimension: r for r in ledger_rows(database)}
    assert rows["cpu"].resource_type == "vm"
    assert rows["cpu"].quantity == 2 and rows["cpu"].cost == 2 * CPU_HOUR
    assert rows["cpu"].extra["used"] == 0.01 and rows["cpu"].extra["requested"] == 2.0
    assert rows["memory"].quantity == Decimal("0.5") and rows["memory"].cost == GIB_HOUR / 2
