"""VMs on the one path: priced at plan time, policed by the default pack (nothing is booted)."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import yaml

from plinth.capabilities.identity import service as identity
from plinth.orchestration.plans import PlanRequest
from plinth.orchestration.platform import Platform


def legacy(annotations: dict[str, str] | None) -> str:
    """Return a workload with a web container and a VM backend with a data disk."""
    metadata: dict[str, Any] = {"name": "shop"}
    if annotations:
        metadata["annotations"] = annotations
    doc = {
        "apiVersion": "score.dev/v1b1",
        "metadata": metadata,
        "containers": {"main": {"image": "py:plinth_demo.webapp"}},
        "resources": {
            "legacy": {
                "type": "vm",
                "params": {
                    "image": {"kernel": "/srv/vmlinuz", "initrd": "/srv/initrd.gz"},
                    "vcpus": 2,
                    "memory": "1Gi",
                    "disks": [{"name": "data", "size": "10Gi"}],
                },
            }
        },
    }
    return yaml.safe_dump(doc, sort_keys=False)


def _plan(platform: Platform, text: str) -> dict[str, Any]:
    with platform.db.read() as session:
        ada = identity.actor_by_name(session, "ada")
    return platform.plan(ada, PlanRequest(environment="dev", documents=text))


def test_a_dev_vm_without_owner_and_ttl_is_denied(local: Platform) -> None:
    plan = _plan(local, legacy(None))
    policy = next(v for v in plan["verdicts"] if v["gate"] == "policy")
    assert plan["outcome"] == policy["verdict"] == "deny"
    [reason] = [r for r in policy["reasons"] if "vm_ownership" in r]
    assert "vm shop-legacy in dev has no plinth.dev/owner or plinth.dev/ttl" in reason


def test_a_vm_is_priced_in_the_plan(local: Platform) -> None:
    plan = _plan(local, legacy({"plinth.dev/owner": "ada", "plinth.dev/ttl": "7d"}))
    assert plan["outcome"] == "allow", plan["verdicts"]
    [vm] = [c for c in plan["changes"] if c.get("type") == "vm"]
    lines = {line["dimension"]: line for line in vm["cost"]["breakdown"]}
    assert set(lines) == {"cpu", "memory", "storage"}
    assert Decimal(lines["cpu"]["quantity"]) == 2 * 730
    assert Decimal(lines["storage"]["quantity"]) == 10
    assert Decimal(vm["cost"]["monthly"]) > 0
    total = Decimal(plan["cost"]["monthly_after"])
    assert total >= Decimal(vm["cost"]["monthly"]).quantize(Decimal("0.01"))
