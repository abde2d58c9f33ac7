"""The janitor stops a real local service through the one path, and undo starts it again."""

from __future__ import annotations

import json
import urllib.request
from datetime import timedelta
from typing import Any

from plinth.capabilities.identity import service as identity
from plinth.core.clock import FrozenClock
from plinth.infrastructure.providers.local import processes
from plinth.orchestration.janitor import Janitor, seed_janitor
from plinth.orchestration.plans import PlanRequest
from plinth.orchestration.platform import Platform
from tests.capabilities.finops.janitor_world import meter, price_local
from tests.orchestration.specs import converge, resource, workload

OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def live(platform: Platform, rid: str) -> list[processes.Found]:
    """Return the processes of a resource."""
    return processes.scan(str(platform.settings.data_dir.resolve()), rid)


def get_json(url: str) -> Any:
    """Return the JSON body of ``GET url``."""
    with OPENER.open(url, timeout=5) as response:
        return json.loads(response.read())


def test_stop_and_undo_a_real_service(local: Platform, clock: FrozenClock) -> None:
    p = local
    with p.db.transaction() as session:
        ada = identity.actor_by_name(session, "ada")
        pat = identity.actor_by_name(session, "pat")
        seed_janitor(session, ids=p.ids, clock=clock)
        price_local(session, ids=p.ids, clock=clock)
    text = workload("web", image="py:plinth_demo.webapp", db=None)
    plan = p.plan(ada, PlanRequest(environment="dev", documents=text))
    p.apply(ada, plan["digest"])
    converge(p)
    web = resource(p, "web")
    assert web.phase == "running" and live(p, web.id)
    url = web.outputs["url"]
    assert get_json(url)["database"] == "not configured"

    def idle(days: int) -> None:
        with p.db.transaction() as session:
            row = session.get(type(web), web.id)
            assert row is not None
            start = clock.now() - timedelta(days=days)
            meter(session, row, start=start, hours=days * 24, cpu=0.0005, requested_cpu=0.5)

    janitor = Janitor(p)
    idle(7)
    assert [s["action"] for s in janitor.run(pat)["steps"]] == ["marked", "notified"]
    clock.advance(3 * 86400)
    idle(3)
    assert [s["action"] for s in janitor.run(pat)["steps"]] == ["stopped"]
    converge(p)
    stopped = resource(p, "web")
    assert stopped.phase == "stopped" and stopped.desired["stopped"] is True
    assert live(p, web.id) == []

    assert janitor.undo(ada, "web", environment="dev")["status"] == "applied"
    converge(p)
    again = resource(p, "web")
    assert again.phase == "running" and "stopped" not in again.desired
    assert again.outputs["url"] == url and get_json(url)["database"] == "not configured"
