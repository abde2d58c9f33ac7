"""DORA telemetry from a real platform's records, on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import timedelta

import pytest

from plinth.core.errors import Conflict, Forbidden, InvalidInput, PermanentError
from plinth.orchestration.plans import PlanRequest
from tests.orchestration.conftest import World
from tests.orchestration.specs import converge, workload


def deploy(world: World, image: str, *, commit_age_s: float | None = 600.0) -> str:
    """Plan and apply ``web`` with ``image`` as ada, naming a commit made ``commit_age_s`` ago."""
    ada = world.actor("ada")
    plan = world.platform.plan(
        ada, PlanRequest(environment="dev", documents=workload("web", image=image, db=None))
    )
    if commit_age_s is not None:
        at = world.clock.now() - timedelta(seconds=commit_age_s)
        world.platform.dora.record_commit(
            ada, plan["digest"], sha=f"{abs(hash(image)):012x}"[:12], time=at.isoformat()
        )
    world.platform.apply(ada, plan["digest"])
    return str(plan["digest"])


def test_no_deployments_gives_zeroes_and_no_bands(world: World) -> None:
    metrics = world.platform.dora.metrics(team="payments", window_days=7)
    assert metrics["deployment_frequency"]["deployments"] == 0
    assert metrics["deployment_frequency"]["band"] == "low"
    assert metrics["lead_time"]["median_s"] is None
    assert metrics["change_failure_rate"]["rate"] is None
    assert metrics["time_to_restore"]["band"] is None
    series = world.platform.dora.series(team="payments", weeks=4)
    assert len(series) == 4 and all(p["deployments"] == 0 for p in series)


def test_lead_time_runs_from_commit_to_running(world: World) -> None:
    deploy(world, "app:1")
    world.clock.advance(120)
    converge(world.platform)  # the reconciler realises it: "Created" at commit + 720 s
    metrics = world.platform.dora.metrics(team="payments", window_days=1)
    assert metrics["deployment_frequency"]["deployments"] == 1
    assert metrics["lead_time"]["median_s"] == pytest.approx(720.0)
    assert metrics["lead_time"]["band"] == "elite"
    assert metrics["change_failure_rate"]["rate"] == 0.0
    assert (
        world.platform.dora.metrics(team="ml-research")["deployment_frequency"]["deployments"] == 0
    )
    assert (
        world.platform.dora.metrics(environment="prod")["deployment_frequency"]["deployments"] == 0
    )


def test_failure_then_restore_and_rollback(world: World) -> None:
    deploy(world, "app:1")
    converge(world.platform)
    world.clock.advance(3600)
    world.fake.fail("web", PermanentError("crash on start"), op="apply")
    deploy(world, "app:2")
    world.clock.advance(60)
    converge(world.platform)  # "Failed" event
    world.clock.advance(600)
    world.fake.heal("web")
    deploy(world, "app:1")  # a rollback: the earlier version again
    converge(world.platform)
    metrics = world.platform.dora.metrics(team="payments", window_days=1)
    cfr = metrics["change_failure_rate"]
    assert metrics["deployment_frequency"]["deployments"] == 3
    assert metrics["deployment_frequency"]["rollbacks"] == 1
    assert cfr["failures"] == 1 and cfr["rate"] == pytest.approx(1 / 3)
    assert metrics["time_to_restore"]["median_s"] == pytest.approx(600.0)
    assert metrics["time_to_restore"]["open_failures"] == 0
    assert world.platform.audit_verify()["ok"] is True


def test_commit_annotation_is_checked(world: World) -> None:
    ada, dana = world.actor("ada"), world.actor("dana")
    plan = world.platform.plan(
        ada, PlanRequest(environment="dev", documents=workload("web", db=None))
    )
    now = world.clock.now().isoformat()
    with pytest.raises(InvalidInput, match="hex"):
        world.platform.dora.record_commit(ada, plan["digest"], sha="nothex!", time=now)
    with pytest.raises(InvalidInput, match="future"):
        future = (world.clock.now() + timedelta(days=1)).isoformat()
        world.platform.dora.record_commit(ada, plan["digest"], sha="abcdef1", time=future)
    with pytest.raises(InvalidInput, match="zone"):
        world.platform.dora.record_commit(
            ada, plan["digest"], sha="abcdef1", time="2026-11-01T10:00"
        )
    with pytest.raises(Forbidden):
        world.platform.dora.record_commit(dana, plan["digest"], sha="abcdef1", time=now)
    first = world.platform.dora.record_commit(ada, plan["digest"], sha="ABCDEF1", time=now)
    assert first["sha"] == "abcdef1"
    assert world.platform.dora.record_commit(ada, plan["digest"], sha="abcdef1", time=now) == first
    with pytest.raises(Conflict):
        world.platform.dora.record_commit(ada, plan["digest"], sha="abcdef2", time=now)
    with pytest.raises(InvalidInput):
        world.platform.dora.metrics(window_days=0)
