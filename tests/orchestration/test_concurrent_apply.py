"""Applying at the same time from several threads: exactly one wins, nothing is done twice."""

from __future__ import annotations

import functools
import threading
import time
from collections.abc import Callable, Sequence
from typing import Any

from sqlalchemy import Connection, text

from plinth.capabilities.inventory.models import DocumentRecord, ResourceRecord
from plinth.core.errors import Conflict
from plinth.orchestration.plans import PlanRequest
from tests.orchestration.conftest import World
from tests.orchestration.specs import count, resource, workload
from tests.support import wait_until


def race(calls: Sequence[Callable[[], Any]]) -> tuple[list[Any], list[BaseException]]:
    """Run every call at once on its own thread; return results and errors."""
    barrier = threading.Barrier(len(calls))
    results: list[Any] = []
    errors: list[BaseException] = []
    lock = threading.Lock()

    def run(call: Callable[[], Any]) -> None:
        barrier.wait(10)
        try:
            value = call()
        except BaseException as exc:  # collected for the test
            with lock:
                errors.append(exc)
        else:
            with lock:
                results.append(value)

    threads = [threading.Thread(target=run, args=(c,)) for c in calls]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    return results, errors


def test_one_plan_applied_twice_at_once_is_applied_once(world: World) -> None:
    ada = world.actor("ada")
    plan = world.platform.plan(ada, PlanRequest(environment="dev", documents=workload("web")))
    results, errors = race([lambda: world.platform.apply(ada, plan["digest"])] * 3)
    assert [r["status"] for r in results] == ["applied"]
    assert len(errors) == 2 and all(isinstance(e, Conflict) for e in errors), errors
    assert count(world.platform, ResourceRecord) == 2
    assert count(world.platform, DocumentRecord) > 0
    assert world.platform.audit_verify()["ok"] is True


def hold_audit_head(world: World) -> Connection:
    """Take the audit head's row lock (every decision waits for it) until rolled back."""
    conn = world.platform.db.engine.connect()
    conn.execute(text("UPDATE audit_head SET seq = seq WHERE id = 1"))
    return conn


def waiting_on_locks(world: World) -> int:
    """Return how many sessions of this PostgreSQL database wait for a lock."""
    with world.platform.db.engine.connect() as conn:
        found = conn.execute(
            text(
                "SELECT count(*) FROM pg_stat_activity "
                "WHERE datname = current_database() AND wait_event_type = 'Lock'"
            )
        ).scalar()
    return int(found or 0)


def test_two_plans_from_the_same_state_applied_at_once(world: World) -> None:
    """Both pass the staleness check before either decides; only one may win."""
    ada = world.actor("ada")
    plans = [
        world.platform.plan(
            ada, PlanRequest(environment="dev", documents=workload("web", image=image))
        )
        for image in ("app:a", "app:b")
    ]
    holder = hold_audit_head(world)
    outcome: dict[str, Any] = {}

    calls = [functools.partial(world.platform.apply, ada, p["digest"]) for p in plans]

    def both() -> None:
        outcome["race"] = race(calls)

    racing = threading.Thread(target=both)
    racing.start()
    if world.platform.db.is_sqlite:
        time.sleep(0.2)  # both wait at BEGIN IMMEDIATE; the outcome does not depend on this
    else:
        wait_until(lambda: waiting_on_locks(world) == 2, timeout=20, interval=0.02)
    holder.rollback()
    holder.close()
    racing.join(60)
    results, errors = outcome["race"]
    assert len(results) == 1 and len(errors) == 1, (results, errors)
    assert isinstance(errors[0], Conflict)
    winner = results[0]["plan"]["digest"]
    image = "app:a" if winner == plans[0]["digest"] else "app:b"
    assert resource(world.platform, "web").desired["containers"]["main"]["image"] == image
    assert world.platform.audit_verify()["ok"] is True
