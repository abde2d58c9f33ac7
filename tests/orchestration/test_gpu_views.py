"""What people see of accelerators: pools with devices and quotas, and the queue in order."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import yaml

from plinth.orchestration.gpu_views import pools_view, queue_view
from tests.orchestration.conftest import World
from tests.orchestration.gpu_world import GRACE_S, busy_pool, pool_document, run, submit


def views(world: World, team: str | None = None) -> tuple[list[dict[str, Any]], list[Any]]:
    """Return (pools, queue) as a user would see them now."""
    now = world.clock.now()
    with world.platform.db.read() as session:
        return pools_view(session, now), queue_view(session, now, team=team)


def by_name(items: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Index queue entries by workload name."""
    return {item["workload"]: item for item in items}


def test_the_seeded_pool_is_shown_free(world: World) -> None:
    pools, queue = views(world)
    assert queue == []
    (lab,) = pools
    assert lab["name"] == "lab" and lab["capacity"] == {"L4": 8} and lab["free"] == {"L4": 8}
    assert [(n["name"], n["devices"], n["used"], n["memory_gib"]) for n in lab["nodes"]] == [
        ("gpu-node-1", 4, 0, 24.0),
        ("gpu-node-2", 4, 0, 24.0),
    ]
    queues = {q["team"]: q for q in lab["queues"]}
    assert queues["ml-research"]["nominal"] == {"L4": 6}
    assert queues["ml-research"]["borrowing_limit"] == {"L4": 2}
    assert queues["payments"]["lending_limit"] == {"L4": 2}
    assert queues["payments"]["used"] == {"L4": 0} and queues["payments"]["borrowed"] == {"L4": 0}


def test_pools_show_who_holds_which_device_and_team_use(world: World) -> None:
    ids = busy_pool(world)
    (lab,) = views(world)[0]
    assert lab["used"] == {"L4": 4} and lab["free"] == {"L4": 0}
    holders = {
        (node["name"], device["index"]): [h["resource"] for h in device["holders"]]
        for node in lab["nodes"]
        for device in node["device_use"]
    }
    assert holders[("gpu-a", 0)] == holders[("gpu-a", 1)] == ["train"]
    assert sorted(holders[("gpu-b", 0)] + holders[("gpu-b", 1)]) == ["extra", "infer"]
    device = lab["nodes"][0]["device_use"][0]
    assert device["holders"][0] == {
        "resource_id": ids["train"],
        "resource": "train",
        "environment": "dev",
        "project": "recommender",
        "workload": "train",
        "share": 1,
    }
    queues = {q["team"]: q for q in lab["queues"]}
    assert queues["ml-research"]["used"] == {"L4": 3}
    assert queues["ml-research"]["borrowed"] == {"L4": 1}
    assert queues["payments"]["used"] == {"L4": 1} and queues["payments"]["borrowed"] == {"L4": 0}
    assert lab["grace_seconds"] == GRACE_S


def test_queue_lists_waiting_work_in_start_order_then_running_work(world: World) -> None:
    ids = busy_pool(world)
    now = world.clock.now()
    queue = views(world)[1]
    assert [(e["position"], e["workload"], e["state"]) for e in queue[:2]] == [
        (1, "small", "queued"),
        (2, "big", "queued"),
    ]
    small, big = queue[0], queue[1]
    assert small["team"] == "payments" and small["type"] == "L4" and small["count"] == 1
    assert small["expected_start"] == (now + timedelta(seconds=GRACE_S)).isoformat()
    assert small["expected_wait_s"] == GRACE_S
    assert big["expected_start"] > small["expected_start"]
    assert big["estimate_basis"] == "assumed"  # no run-time estimates: an hour is assumed
    running = by_name(queue[2:])
    assert set(running) == {"train", "extra", "infer"}
    assert all(e["position"] is None for e in running.values())
    extra = running["extra"]
    assert extra["state"] == "stopping" and extra["borrowed"] is True
    assert extra["preempted_by"] == ids["small"]
    assert extra["stop_deadline"] == small["expected_start"]
    assert running["infer"]["state"] == "running" and running["infer"]["borrowed"] is False
    assert running["train"]["placement"] == [{"node": "gpu-a", "devices": [0, 1]}]
    assert running["train"]["started_at"] < running["extra"]["started_at"]


def test_team_filter_keeps_global_positions(world: World) -> None:
    busy_pool(world)
    mine = views(world, team="ml-research")[1]
    assert [(e["position"], e["workload"]) for e in mine if e["state"] == "queued"] == [(2, "big")]
    assert {e["team"] for e in mine} == {"ml-research"}
    assert views(world, team="platform")[1] == []


def test_a_reclaim_in_progress_is_not_repeated(world: World) -> None:
    busy_pool(world)
    queue = views(world)[1]
    assert queue[0]["workload"] == "small" and queue[0]["preempts"] == []
    world.clock.advance(1)
    run(world, "later", "payments", 1)  # any later allocation pass
    running = by_name(views(world)[1])
    assert running["train"]["state"] == "running"


def test_fractions_and_partitions_are_shown_per_device_and_profile(world: World) -> None:
    doc = pool_document()
    doc["spec"]["nodes"].append(
        {
            "name": "mig-1",
            "accelerators": {
                "type": "A100",
                "count": 1,
                "partitions": [{"profile": "1g.10gb", "count": 7}],
            },
        }
    )
    doc["spec"]["queues"][0]["nominal"] = {"L4": 2, "A100:1g.10gb": 7}
    submit(world, "pat", yaml.safe_dump(doc))
    run(world, "nb", "ml-research", 0.5, kind="notebook")
    run(
        world,
        "slices",
        "ml-research",
        2,
        kind="training-job",
        accel="A100",
        accelerator_partition="1g.10gb",
    )
    (lab,) = views(world)[0]
    nodes = {n["name"]: n for n in lab["nodes"]}
    shared = [d for n in lab["nodes"] for d in n["device_use"] if d["holders"]]
    assert len(shared) == 1 and shared[0]["used"] == 0.5
    assert shared[0]["holders"][0]["resource"] == "nb"
    (part,) = nodes["mig-1"]["partitions"]
    assert (part["profile"], part["slots"], part["used"], part["free"]) == ("1g.10gb", 7, 2, 5)
    assert part["holders"][0]["resource"] == "slices"
    ml = {q["team"]: q for q in lab["queues"]}["ml-research"]
    assert ml["used"] == {"A100:1g.10gb": 2, "L4": 0.5}
    queue = by_name(views(world)[1])
    assert queue["nb"]["count"] == 0.5 and queue["slices"]["partition"] == "1g.10gb"
