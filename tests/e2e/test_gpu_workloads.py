"""GPU workloads end to end: a real platform and the local provider, a declared L4 pool.

Pat declares a pool (one node, two L4) with queues for ml-research and payments;
Dana (ml-research) runs training jobs that print ``$CUDA_VISIBLE_DEVICES``. The
plan says whether each can run now, must queue (with the expected start) or can
never run; queued jobs start when the first is deleted.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest
import yaml

from plinth.capabilities.accelerators.tables import AllocationRow, RequestRow
from plinth.capabilities.identity import service as identity
from plinth.core.config import Settings
from plinth.core.errors import GateDenied
from plinth.infrastructure.providers.local.runtime import stop_local_runtime
from plinth.orchestration.plans import PlanRequest
from plinth.orchestration.platform import Platform
from tests.e2e.helpers import all_marked_resource_ids
from tests.orchestration.specs import count, resources
from tests.support import wait_until

POOL = {
    "apiVersion": "plinth.dev/v1",
    "kind": "AcceleratorPool",
    "metadata": {"name": "lab"},
    "spec": {
        "nodes": [{"name": "gpu-node-1", "accelerators": {"type": "L4", "count": 2}}],
        "queues": [
            {"team": "ml-research", "nominal": {"L4": 2}},
            {"team": "payments", "nominal": {"L4": 0}},
        ],
        "preemption": {"grace_seconds": 30},
    },
}


def job(name: str, *, gpus: int = 1, accelerator: str = "L4") -> str:
    """Return a Score training job that prints its devices and sleeps."""
    doc = {
        "apiVersion": "score.dev/v1b1",
        "metadata": {
            "name": name,
            "annotations": {
                "plinth.dev/type": "training-job",
                "plinth.dev/accelerator": accelerator,
                "plinth.dev/accelerator-count": str(gpus),
            },
        },
        "containers": {
            "main": {
                "image": "exec:sh",
                "command": ["sh", "-c", 'echo "devices=$CUDA_VISIBLE_DEVICES"; sleep 120'],
            }
        },
    }
    return yaml.safe_dump(doc, sort_keys=False)


@pytest.fixture
def platform(settings: Settings) -> Iterator[Platform]:
    """A prepared, started platform on the local provider; every process is stopped after."""
    platform = Platform(settings)
    platform.prepare()
    platform.start()
    try:
        yield platform
    finally:
        platform.stop()
        stop_local_runtime(settings.data_dir)


def plan(platform: Platform, user: str, documents: str | None = None, **kw: Any) -> dict[str, Any]:
    """Plan documents (or a deletion) as ``user`` in dev."""
    with platform.db.read() as session:
        actor = identity.actor_by_name(session, user)
    project = None if user == "pat" else "recommender"
    request = PlanRequest(environment="dev", project=project, documents=documents, **kw)
    return platform.plan(actor, request)


def apply(platform: Platform, user: str, digest: str) -> dict[str, Any]:
    """Apply a plan as ``user``."""
    with platform.db.read() as session:
        actor = identity.actor_by_name(session, user)
    return platform.apply(actor, digest)


def capacity(planned: dict[str, Any]) -> dict[str, Any]:
    """Return the capacity gate's verdict of a plan."""
    return next(v for v in planned["verdicts"] if v["gate"] == "capacity")


def logs(platform: Platform, name: str) -> list[str]:
    """Return a job's log lines."""
    return platform.logs(name, environment="dev", project="recommender", tail=20)


def devices(platform: Platform, name: str) -> str:
    """Wait until the job printed its devices; return them."""
    line = wait_until(
        lambda: next((x for x in logs(platform, name) if "devices=" in x), None),
        timeout=30,
        what=f"{name} to print its devices",
    )
    return str(line).split("devices=", 1)[1].strip()


def events(platform: Platform, name: str) -> list[tuple[str, str]]:
    """Return (reason, message) of every event of a job."""
    detail = platform.workload(name, environment="dev", project="recommender", describe=True)
    return [(e["reason"], e["message"]) for e in detail["events"]]


def phase(platform: Platform, name: str) -> tuple[str, str]:
    """Return (phase, message) of the job's resource."""
    record = resources(platform)[name]
    return record.phase, record.message


def test_jobs_get_devices_queue_when_full_and_start_when_capacity_frees(
    platform: Platform,
) -> None:
    pooled = plan(platform, "pat", yaml.safe_dump(POOL))
    assert apply(platform, "pat", pooled["digest"])["status"] == "applied"

    first = plan(platform, "dana", job("train-1", gpus=2))
    verdict = capacity(first)
    assert verdict["verdict"] == "allow" and "can start now" in verdict["reasons"][0]
    apply(platform, "dana", first["digest"])
    assert devices(platform, "train-1") == "0,1"
    wait_until(lambda: phase(platform, "train-1")[0] == "running", timeout=30, what="train-1")

    for name in ("train-2", "train-3"):
        queued = plan(platform, "dana", job(name))
        verdict = capacity(queued)
        assert verdict["verdict"] == "warn"
        assert "must queue; expected to start at" in verdict["reasons"][0]
        apply(platform, "dana", queued["digest"])
    positions = []
    for name in ("train-2", "train-3"):
        wait_until(lambda n=name: phase(platform, n)[0] == "queued", timeout=30, what=name)
        message = phase(platform, name)[1]
        found = re.fullmatch(r"queued \(position (\d), expected start (.+)\)", message)
        assert found is not None, message
        positions.append(int(found.group(1)))
        assert not [line for line in logs(platform, name) if "devices=" in line]
        assert ("Queued", message) in events(platform, name)
    assert sorted(positions) == [1, 2]  # whichever of the two reached the queue first

    gone = plan(platform, "dana", delete_kind="Workload", delete_name="train-1")
    apply(platform, "dana", gone["digest"])
    started = sorted(devices(platform, name) for name in ("train-2", "train-3"))
    assert started == ["0", "1"]
    for name in ("train-2", "train-3"):
        assert "Allocated" in [reason for reason, _ in events(platform, name)]
    ids = {r.id for name, r in resources(platform).items() if name in ("train-2", "train-3")}
    wait_until(lambda: all_marked_resource_ids(platform.settings.data_dir) >= ids, timeout=30)
    assert "train-1" not in resources(platform)
    assert count(platform, AllocationRow) == 2


def test_a_type_no_pool_has_is_denied_and_allocates_nothing(platform: Platform) -> None:
    apply(platform, "pat", plan(platform, "pat", yaml.safe_dump(POOL))["digest"])
    impossible = plan(platform, "dana", job("train-h100", accelerator="H100"))
    verdict = capacity(impossible)
    assert verdict["verdict"] == "deny"
    assert "can never run" in verdict["reasons"][0] and "H100" in verdict["reasons"][0]
    with pytest.raises(GateDenied):
        apply(platform, "dana", impossible["digest"])
    assert "train-h100" not in resources(platform)
    assert count(platform, RequestRow) == 0
