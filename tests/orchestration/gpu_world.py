"""A busy accelerator pool for the views, API and CLI tests: running, borrowed, stopping, queued.

``busy_pool`` declares pool ``lab`` (nodes gpu-a and gpu-b, two L4 each; ml-research has a
nominal quota of 2 and may borrow 2, payments has 2 and lends 2, grace 60 s) and, through
real plans and reconciler passes:

- ``train`` (ml-research, 2 L4) runs within quota;
- ``extra`` (ml-research, 1 L4) runs on borrowed capacity;
- ``infer`` (payments, 1 L4) runs within quota;
- ``big`` (ml-research, 2 L4) would borrow beyond its limit: it waits for ``train`` to end
  (run times are unknown, so the default estimate of an hour is assumed);
- ``small`` (payments, 1 L4), submitted last, fits payments' quota but not the free
  devices: it reclaims ``extra`` (now stopping, deadline 60 s later) and waits for it.

One second passes between submissions; the clock stands at ``small``'s submission.
"""

from __future__ import annotations

from typing import Any

import yaml

from plinth.orchestration.plans import PlanRequest
from tests.orchestration.conftest import World
from tests.orchestration.specs import resource

__all__ = [
    "GRACE_S",
    "PROJECTS",
    "busy_pool",
    "gpu_workload",
    "pool_document",
    "run",
    "submit",
]

GRACE_S = 60
PROJECTS = {"ml-research": ("recommender", "dana"), "payments": ("checkout", "ada")}


def pool_document() -> dict[str, Any]:
    """Return the ``lab`` pool: two nodes of two L4 and the queues of two teams."""
    return {
        "apiVersion": "plinth.dev/v1",
        "kind": "AcceleratorPool",
        "metadata": {"name": "lab"},
        "spec": {
            "nodes": [
                {"name": "gpu-a", "accelerators": {"type": "L4", "count": 2, "memory_gib": 24}},
                {"name": "gpu-b", "accelerators": {"type": "L4", "count": 2, "memory_gib": 24}},
            ],
            "queues": [
                {"team": "ml-research", "nominal": {"L4": 2}, "borrowing_limit": {"L4": 2}},
                {"team": "payments", "nominal": {"L4": 2}, "lending_limit": {"L4": 2}},
            ],
            "preemption": {"grace_seconds": GRACE_S},
        },
    }


def gpu_workload(
    name: str, *, count: float, kind: str = "service", accel: str = "L4", **extra: str
) -> str:
    """Return a Score workload asking for ``count`` accelerators (``extra``: more annotations)."""
    annotations = {
        "plinth.dev/type": kind,
        "plinth.dev/accelerator": accel,
        "plinth.dev/accelerator-count": f"{count:g}",
        **{f"plinth.dev/{k.replace('_', '-')}": v for k, v in extra.items()},
    }
    doc = {
        "apiVersion": "score.dev/v1b1",
        "metadata": {"name": name, "annotations": annotations},
        "containers": {"main": {"image": "py:train"}},
    }
    return yaml.safe_dump(doc, sort_keys=False)


def submit(world: World, user: str, documents: str, project: str | None = None) -> None:
    """Plan and apply documents in dev as ``user``."""
    actor = world.actor(user)
    plan = world.platform.plan(
        actor, PlanRequest(environment="dev", project=project, documents=documents)
    )
    world.platform.apply(actor, plan["digest"])


def run(world: World, name: str, team: str, count: float, **kw: str) -> str:
    """Submit a GPU workload for ``team``, reconcile it once; return its resource id."""
    project, user = PROJECTS[team]
    submit(world, user, gpu_workload(name, count=count, **kw), project)
    rid = resource(world.platform, name).id
    world.platform.reconciler.reconcile(rid)
    return rid


def busy_pool(world: World) -> dict[str, str]:
    """Build the busy pool described above; return resource ids by workload name."""
    submit(world, "pat", yaml.safe_dump(pool_document()))
    ids: dict[str, str] = {}
    for name, team, count in (
        ("train", "ml-research", 2),
        ("extra", "ml-research", 1),
        ("infer", "payments", 1),
        ("big", "ml-research", 2),
    ):
        ids[name] = run(world, name, team, count)
        world.clock.advance(1)
    ids["small"] = run(world, "small", "payments", 1)  # last: it starts a reclaim
    return ids
