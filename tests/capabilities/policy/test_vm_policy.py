"""VMs under the default pack: owner and TTL in dev, read from the declaring workload."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import pytest

from plinth.capabilities.policy import PolicyEngine, WorkerPool, builtin_packs
from plinth.capabilities.policy.inputs import policy_input_for_plan


@dataclass
class Plan:
    """The plan fields the input reads."""

    environment: str
    environment_tier: str
    changes: tuple[Mapping[str, Any], ...]
    environment_protected: bool = False
    project: str = "checkout"
    team: str = "payments"
    extra: Mapping[str, Any] = field(default_factory=dict)


def _changes(annotations: dict[str, str] | None) -> tuple[dict[str, Any], ...]:
    metadata: dict[str, Any] = {"name": "shop"}
    if annotations is not None:
        metadata["annotations"] = annotations
    body = {
        "apiVersion": "score.dev/v1b1",
        "metadata": metadata,
        "containers": {"main": {"image": "py:app"}},
        "resources": {
            "legacy": {"type": "vm", "params": {"vcpus": 1}},
            "shared": {"type": "volume", "id": "common"},
        },
    }
    vm = {"vcpus": 1, "image": {"disk": "/img.qcow2"}}
    return (
        {"kind": "Workload", "name": "shop", "action": "create", "after": body},
        {"kind": "Resource", "type": "vm", "name": "shop-legacy", "action": "create", "after": vm},
        {"kind": "Resource", "type": "volume", "name": "volume-common", "action": "create"},
    )


@pytest.fixture(scope="module")
def engine(pool: WorkerPool) -> PolicyEngine:
    """The built-in packs."""
    return PolicyEngine(builtin_packs(), pool=pool)


def _vm_results(engine: PolicyEngine, tier: str, notes: dict[str, str] | None) -> list[Any]:
    data = policy_input_for_plan(Plan(tier, tier, _changes(notes)), None)
    evaluation = engine.evaluate(data)
    assert not evaluation.errors
    return [r for r in evaluation.results if r.rule == "vm_ownership"]


def test_the_input_carries_the_declaring_workloads_annotations() -> None:
    notes = {"plinth.dev/owner": "ada", "plinth.dev/ttl": "7d"}
    data = policy_input_for_plan(Plan("dev", "dev", _changes(notes)), None)
    by_name = {r["name"]: r for r in data["resources"]}
    assert by_name["shop-legacy"]["annotations"] == notes
    assert by_name["volume-common"]["annotations"] == {}  # shared: no single workload
    assert by_name["shop-legacy"]["realised"] is False  # no facts: nothing realised yet


def test_a_dev_vm_needs_an_owner_and_a_ttl(engine: PolicyEngine) -> None:
    [result] = _vm_results(engine, "dev", None)
    assert result.level == "deny" and result.resource == "shop-legacy"
    assert "has no plinth.dev/owner or plinth.dev/ttl annotation" in result.message
    assert "plinth.dev/ttl: <duration" in result.fix
    [only_ttl] = _vm_results(engine, "dev", {"plinth.dev/owner": "ada"})
    assert "no plinth.dev/ttl annotation" in only_ttl.message
    assert _vm_results(engine, "dev", {"plinth.dev/owner": "ada", "plinth.dev/ttl": "3d"}) == []
    assert _vm_results(engine, "prod", None) == []
