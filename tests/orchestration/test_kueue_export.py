"""The stored team quotas render to Kueue objects, with a LocalQueue per project namespace."""

from __future__ import annotations

from typing import Any

import pytest
import yaml

from plinth.core.errors import Conflict
from plinth.orchestration.kueue_export import kueue_objects
from tests.orchestration.conftest import World
from tests.orchestration.gpu_world import pool_document, submit


def _objects(world: World, **settings: Any) -> list[dict[str, Any]]:
    with world.platform.db.read() as session:
        return kueue_objects(session, settings=settings)


def test_the_stored_pool_renders_flavors_cohort_queues_and_local_queues(world: World) -> None:
    submit(world, "pat", yaml.safe_dump(pool_document()))
    objects = _objects(world)
    kinds = [(o["kind"], o["metadata"]["name"]) for o in objects if o["kind"] != "LocalQueue"]
    assert kinds == [
        ("ResourceFlavor", "l4"),
        ("Cohort", "default"),
        ("ClusterQueue", "ml-research"),
        ("ClusterQueue", "payments"),
    ]
    research = next(o for o in objects if o["metadata"]["name"] == "ml-research")
    quota = research["spec"]["resourceGroups"][0]["flavors"][0]["resources"][0]
    assert quota == {"name": "nvidia.com/gpu", "nominalQuota": "2", "borrowingLimit": "2"}
    local = [o for o in objects if o["kind"] == "LocalQueue"]
    assert local, "no LocalQueue for the teams' projects"
    targets = {o["spec"]["clusterQueue"] for o in local}
    assert targets <= {"ml-research", "payments"}
    assert all(o["metadata"]["namespace"].startswith("plinth-") for o in local)
    spaces = {o["metadata"]["namespace"] for o in local if o["spec"]["clusterQueue"] == "payments"}
    assert "plinth-checkout-dev" in spaces


def test_provider_settings_name_the_namespace_queue_and_resources(world: World) -> None:
    submit(world, "pat", yaml.safe_dump(pool_document()))
    objects = _objects(
        world,
        kubernetes_namespace_prefix="k-",
        kubernetes_local_queue="gpu",
        kubernetes_accelerator_resources={"L4": "nvidia.com/l4"},
    )
    local = {
        (o["metadata"]["namespace"], o["metadata"]["name"])
        for o in objects
        if o["kind"] == "LocalQueue"
    }
    assert ("k-checkout-dev", "gpu") in local
    assert {name for _, name in local} == {"gpu"}
    queues = [o for o in objects if o["kind"] == "ClusterQueue"]
    assert [q["spec"]["resourceGroups"][0]["coveredResources"] for q in queues] == [
        ["nvidia.com/l4"],
        ["nvidia.com/l4"],
    ]
    payments = next(q for q in queues if q["metadata"]["name"] == "payments")
    allowed = payments["spec"]["namespaceSelector"]["matchExpressions"][0]["values"]
    assert "k-checkout-dev" in allowed
    assert not any(space.startswith("k-recommender") for space in allowed)


def test_one_namespace_for_two_teams_with_quotas_is_a_conflict(world: World) -> None:
    submit(world, "pat", yaml.safe_dump(pool_document()))
    with pytest.raises(Conflict, match="both run in namespace 'ml'"):
        _objects(world, kubernetes_namespace="ml")
