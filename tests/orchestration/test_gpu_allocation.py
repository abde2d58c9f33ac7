"""The reconciler allocates accelerators before apply: queue, admit, preempt, release."""

from __future__ import annotations

from typing import Any

import yaml
from sqlalchemy import select

from plinth.capabilities.accelerators import allocations
from plinth.capabilities.accelerators.tables import AllocationRow, RequestRow
from plinth.capabilities.inventory.models import ResourceEvent
from plinth.core.errors import TemporaryError
from plinth.orchestration.gpu_allocation import STATE_KEY, bare_digest
from plinth.orchestration.plans import PlanRequest
from tests.orchestration.conftest import World
from tests.orchestration.specs import count, resource

TEAMS = {"ml-research": "recommender", "payments": "checkout"}
AUTHORS = {"ml-research": "dana", "payments": "ada"}


def pool(
    *, gpus: int = 2, nominal: dict[str, int] | None = None, grace: int = 60
) -> dict[str, Any]:
    """Return an AcceleratorPool document: one node with ``gpus`` L4."""
    quotas = nominal or {"ml-research": gpus, "payments": 0}
    return {
        "apiVersion": "plinth.dev/v1",
        "kind": "AcceleratorPool",
        "metadata": {"name": "lab"},
        "spec": {
            "nodes": [{"name": "gpu-1", "accelerators": {"type": "L4", "count": gpus}}],
            "queues": [{"team": t, "nominal": {"L4": n}} for t, n in quotas.items()],
            "preemption": {"grace_seconds": grace},
        },
    }


def gpu_workload(name: str, *, count: int = 1, kind: str = "service", accel: str = "L4") -> str:
    """Return a Score workload asking for ``count`` accelerators."""
    annotations = {
        "plinth.dev/type": kind,
        "plinth.dev/accelerator": accel,
        "plinth.dev/accelerator-count": str(count),
    }
    doc = {
        "apiVersion": "score.dev/v1b1",
        "metadata": {"name": name, "annotations": annotations},
        "containers": {"main": {"image": "py:train"}},
    }
    return yaml.safe_dump(doc, sort_keys=False)


def submit(world: World, user: str, documents: str, project: str | None = None) -> None:
    """Plan and apply documents as ``user``."""
    actor = world.actor(user)
    plan = world.platform.plan(
        actor, PlanRequest(environment="dev", project=project, documents=documents)
    )
    world.platform.apply(actor, plan["digest"])


def delete(world: World, user: str, name: str, project: str) -> None:
    """Plan and apply the deletion of a workload."""
    actor = world.actor(user)
    request = PlanRequest(
        environment="dev", project=project, delete_kind="Workload", delete_name=name
    )
    plan = world.platform.plan(actor, request)
    world.platform.apply(actor, plan["digest"])


def run(world: World, name: str, team: str = "ml-research", **kw: Any) -> str:
    """Submit a GPU workload for ``team``; return its resource id."""
    submit(world, AUTHORS[team], gpu_workload(name, **kw), TEAMS[team])
    return resource(world.platform, name).id


def reconcile(world: World, name: str) -> None:
    """Reconcile one resource by name."""
    world.platform.reconciler.reconcile(resource(world.platform, name).id)


def events(world: World, name: str) -> list[tuple[str, str]]:
    """Return (reason, message) of every event of a resource."""
    with world.platform.db.read() as session:
        rows = session.scalars(
            select(ResourceEvent).where(ResourceEvent.resource == name).order_by(ResourceEvent.id)
        )
        return [(e.reason, e.message) for e in rows]


def devices(world: World, name: str) -> list[Any]:
    """Return the devices the provider was handed for ``name``."""
    spec = world.fake.by_name(name).spec
    return list(spec["accelerators"]["allocation"]["devices"])


def woken(world: World) -> list[str]:
    """Record what the reconciler asks the work queue to reconcile."""
    seen: list[str] = []
    world.platform.reconciler.enqueue = seen.append
    return seen


def test_allocates_before_apply_and_stays_converged(world: World) -> None:
    submit(world, "pat", yaml.safe_dump(pool()))
    run(world, "train", count=2)
    reconcile(world, "train")
    assert devices(world, "train") == [0, 1]
    record = resource(world.platform, "train")
    assert record.phase == "running" and record.observed_generation == record.generation
    assert record.desired["accelerators"].get("allocation") is None  # never stored as desired
    assert record.state[STATE_KEY]["digest"] == bare_digest(record.desired)
    assert ("Allocated", "allocated node gpu-1 devices 0,1") in events(world, "train")
    version = record.version
    for _ in range(3):  # the allocation does not make the spec look changed
        reconcile(world, "train")
    assert world.fake.ops("apply", "train") == ["train"]
    assert resource(world.platform, "train").version == version


def test_full_pool_queues_and_deletion_admits_the_next(world: World) -> None:
    submit(world, "pat", yaml.safe_dump(pool()))
    seen = woken(world)
    run(world, "first", count=2)
    reconcile(world, "first")
    second = run(world, "second", count=1)
    third = run(world, "third", count=1)
    reconcile(world, "second")
    reconcile(world, "third")
    for name, position in (("second", 1), ("third", 2)):
        record = resource(world.platform, name)
        assert record.phase == "queued"
        assert record.message.startswith(f"queued (position {position}, expected start ")
        assert "Queued" in [reason for reason, _ in events(world, name)]
        assert name not in world.fake.names()
    delete(world, "dana", "first", "recommender")
    reconcile(world, "first")
    assert "first" not in world.fake.names()
    assert set(seen) >= {second, third}
    for name in ("second", "third"):  # admitted: no back-off stands in the way
        assert resource(world.platform, name).next_attempt_at is None
        reconcile(world, name)
    assert sorted(devices(world, "second") + devices(world, "third")) == [0, 1]
    assert resource(world.platform, "third").phase == "running"


def test_a_queued_request_is_withdrawn_when_the_spec_stops_asking(world: World) -> None:
    submit(world, "pat", yaml.safe_dump(pool(gpus=1)))
    run(world, "first")
    reconcile(world, "first")
    second = run(world, "second")
    reconcile(world, "second")
    assert resource(world.platform, "second").phase == "queued"
    plain = yaml.safe_load(gpu_workload("second"))
    plain["metadata"]["annotations"] = {"plinth.dev/type": "service"}
    submit(world, "dana", yaml.safe_dump(plain), "recommender")
    reconcile(world, "second")
    with world.platform.db.read() as session:
        assert session.get(RequestRow, second) is None
    record = resource(world.platform, "second")
    assert record.phase == "running" and STATE_KEY not in record.state
    assert "accelerators" not in world.fake.by_name("second").spec


def test_asking_for_more_devices_reallocates(world: World) -> None:
    submit(world, "pat", yaml.safe_dump(pool()))
    run(world, "train", count=1)
    reconcile(world, "train")
    assert devices(world, "train") == [0]
    run(world, "train", count=2)
    reconcile(world, "train")
    assert devices(world, "train") == [0, 1]
    assert count(world.platform, RequestRow) == 1 and count(world.platform, AllocationRow) == 2


def test_a_crash_between_allocation_and_apply_leaks_nothing(world: World) -> None:
    submit(world, "pat", yaml.safe_dump(pool()))
    rid = run(world, "train", count=1)
    world.fake.fail("train", TemporaryError("provider down"))
    reconcile(world, "train")
    assert resource(world.platform, "train").phase == "retrying"
    with world.platform.db.read() as session:
        held = allocations.held(session, rid)
    assert held is not None
    world.clock.advance(300)
    reconcile(world, "train")
    assert devices(world, "train") == list(held.placements[0].devices)
    assert count(world.platform, AllocationRow) == 1
    assert count(world.platform, RequestRow) == 1


def test_preempted_work_stops_at_its_deadline_and_is_queued_again(world: World) -> None:
    submit(world, "pat", yaml.safe_dump(pool(nominal={"ml-research": 1, "payments": 1})))
    seen = woken(world)
    borrower = run(world, "greedy", team="payments", count=2)  # borrows ml-research's device
    reconcile(world, "greedy")
    assert devices(world, "greedy") == [0, 1]
    mine = run(world, "mine", count=1)
    reconcile(world, "mine")
    assert resource(world.platform, "mine").phase == "queued"
    assert borrower in seen
    notice = [m for r, m in events(world, "greedy") if r == "Preempting"]
    assert notice and "make room for" in notice[0]
    reconcile(world, "greedy")  # still within its grace: keeps running
    assert "greedy" in world.fake.names()
    world.clock.advance(61)
    reconcile(world, "greedy")
    assert "greedy" not in world.fake.names()
    record = resource(world.platform, "greedy")
    assert record.phase == "queued" and record.message.startswith("queued (position")
    with world.platform.db.read() as session:
        row = session.get(RequestRow, borrower)
        assert row is not None and row.status == "pending"  # requeued, not lost
    assert mine in seen
    reconcile(world, "mine")
    assert len(devices(world, "mine")) == 1


def test_a_finished_job_gives_its_devices_back_without_running_again(world: World) -> None:
    submit(world, "pat", yaml.safe_dump(pool(gpus=1)))
    run(world, "once", kind="training-job")
    reconcile(world, "once")  # the fake job succeeds at once
    reconcile(world, "once")  # seen ended once: could be a passing glimpse
    assert count(world.platform, RequestRow) == 1
    reconcile(world, "once")
    assert count(world.platform, RequestRow) == 0
    assert "Released" in [reason for reason, _ in events(world, "once")]
    for _ in range(2):
        reconcile(world, "once")
    assert world.fake.ops("apply", "once") == ["once"]
    assert count(world.platform, RequestRow) == 0
    run(world, "next", kind="training-job")
    reconcile(world, "next")
    assert devices(world, "next") == [0]


def test_a_request_no_pool_can_serve_any_more_fails_and_allocates_nothing(world: World) -> None:
    both = pool()
    both["spec"]["nodes"].append({"name": "gpu-2", "accelerators": {"type": "H100", "count": 1}})
    submit(world, "pat", yaml.safe_dump(both))
    run(world, "big", accel="H100")  # the capacity gate lets it through: a pool has H100
    submit(world, "pat", yaml.safe_dump(pool()))  # ... until the H100 node goes
    reconcile(world, "big")
    record = resource(world.platform, "big")
    assert record.phase == "failed"
    assert "can never be allocated" in record.message and "H100" in record.message
    assert count(world.platform, RequestRow) == 0
    assert "big" not in world.fake.names()
