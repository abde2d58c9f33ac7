"""Team quotas render to Kueue objects that Kueue 0.19's CRD schemas accept."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from plinth.capabilities.accelerators.model import Node, Pool, Queue
from plinth.core.errors import Conflict
from plinth.infrastructure.providers.kubernetes import render_kueue
from plinth.infrastructure.providers.kubernetes.names import dns_label

from .schema_check import crd_errors, validate_everywhere

POOLS = [
    Pool("train", (Node("n1", "H100", 8), Node("n2", "H100", 8), Node("n3", "A100", 4))),
    Pool("infer", (Node("n4", "L4", 2),)),
]
QUEUES = [
    Queue(
        "research",
        {"H100": 8, "A100": 2},
        borrowing_limit={"H100": 4},
        lending_limit={"A100": 1},
        weight=2.0,
        cohort="ml",
    ),
    Queue("Product Team", {"H100": 4, "L4": 0.5, "A100:1g.5gb": 7}, cohort="ml"),
    Queue("batch", {"L4": 2}, cohort="nightly"),
]


def _by(objects: list[dict[str, Any]], kind: str) -> dict[str, dict[str, Any]]:
    return {o["metadata"]["name"]: o for o in objects if o["kind"] == kind}


def _rendered() -> list[dict[str, Any]]:
    return render_kueue(
        QUEUES,
        POOLS,
        namespaces={"research": ["plinth-lab-dev", "plinth-lab-prod"], "batch": ["jobs"]},
    )


def test_every_kueue_object_is_valid_for_its_crd() -> None:
    objects = _rendered()
    assert {o["kind"] for o in objects} == {
        "ResourceFlavor",
        "Cohort",
        "ClusterQueue",
        "LocalQueue",
    }
    for obj in objects:
        validate_everywhere(obj)


def test_each_accelerator_type_is_a_flavor_selecting_its_nodes() -> None:
    flavors = _by(_rendered(), "ResourceFlavor")
    assert sorted(flavors) == ["a100", "a100-mig", "h100", "l4"]
    assert flavors["h100"]["spec"]["nodeLabels"] == {"plinth.dev/accelerator": "H100"}
    assert flavors["a100-mig"]["spec"]["nodeLabels"] == {"plinth.dev/accelerator": "A100"}


def test_team_queues_keep_quotas_limits_weights_and_cohorts() -> None:
    objects = _rendered()
    assert sorted(_by(objects, "Cohort")) == ["ml", "nightly"]
    queues = _by(objects, "ClusterQueue")
    assert sorted(queues) == ["batch", dns_label("Product Team"), "research"]
    assert dns_label("Product Team").startswith("product-team-")
    research = queues["research"]["spec"]
    assert research["cohortName"] == "ml"
    assert research["fairSharing"] == {"weight": "2"}
    quota = {
        (flavor["name"], r["name"]): r
        for group in research["resourceGroups"]
        for flavor in group["flavors"]
        for r in flavor["resources"]
    }
    assert quota[("h100", "nvidia.com/gpu")] == {
        "name": "nvidia.com/gpu",
        "nominalQuota": "8",
        "borrowingLimit": "4",
    }
    assert quota[("a100", "nvidia.com/gpu")]["lendingLimit"] == "1"
    assert quota[("l4", "nvidia.com/gpu")]["nominalQuota"] == "0"
    product = queues[dns_label("Product Team")]["spec"]
    fractions = {
        r["name"]: r["nominalQuota"]
        for g in product["resourceGroups"]
        for f in g["flavors"]
        if f["name"] in ("l4", "a100-mig")
        for r in f["resources"]
    }
    assert fractions == {"nvidia.com/gpu": "500m", "nvidia.com/mig-1g.5gb": "7"}


def test_every_flavor_sits_in_exactly_one_resource_group() -> None:
    for queue in _by(_rendered(), "ClusterQueue").values():
        names = [f["name"] for g in queue["spec"]["resourceGroups"] for f in g["flavors"]]
        assert len(names) == len(set(names))
        for group in queue["spec"]["resourceGroups"]:
            for flavor in group["flavors"]:
                assert [r["name"] for r in flavor["resources"]] == group["coveredResources"]


def test_local_queues_point_each_namespace_at_its_team() -> None:
    local = [o for o in _rendered() if o["kind"] == "LocalQueue"]
    pairs = sorted((o["metadata"]["namespace"], o["spec"]["clusterQueue"]) for o in local)
    assert pairs == [
        ("jobs", "batch"),
        ("plinth-lab-dev", "research"),
        ("plinth-lab-prod", "research"),
    ]
    assert {o["metadata"]["name"] for o in local} == {"default"}


def test_the_stored_schemas_reject_what_kueue_and_kubevirt_would() -> None:
    queue = copy.deepcopy(_by(_rendered(), "ClusterQueue")["research"])
    queue["spec"]["cohort"] = "ml"  # the v1beta1 field name, gone in v1beta2
    assert crd_errors(queue)
    queue["spec"].pop("cohort")
    queue["spec"]["resourceGroups"][0]["flavors"][0]["resources"][0]["nominalQuota"] = "lots"
    assert crd_errors(queue)
    vm = {
        "apiVersion": "kubevirt.io/v1",
        "kind": "VirtualMachine",
        "metadata": {"name": "x"},
        "spec": {"running": True, "template": {"spec": {"domain": {"devices": {}, "cpus": 2}}}},
    }
    assert any("cpus" in e for e in crd_errors(vm))


def test_only_a_teams_namespaces_may_use_its_cluster_queue() -> None:
    queues = _by(_rendered(), "ClusterQueue")
    assert queues["research"]["spec"]["namespaceSelector"] == {
        "matchExpressions": [
            {
                "key": "kubernetes.io/metadata.name",
                "operator": "In",
                "values": ["plinth-lab-dev", "plinth-lab-prod"],
            }
        ]
    }
    nobody = queues[dns_label("Product Team")]["spec"]["namespaceSelector"]
    assert nobody == {
        "matchExpressions": [{"key": "kubernetes.io/metadata.name", "operator": "DoesNotExist"}]
    }
    open_to_all = _by(render_kueue(QUEUES, POOLS), "ClusterQueue")["batch"]
    assert open_to_all["spec"]["namespaceSelector"] == {}


def test_two_teams_in_one_namespace_is_a_conflict_naming_both() -> None:
    shared = {"research": ["plinth"], "batch": ["plinth"]}
    with pytest.raises(Conflict, match=r"teams 'batch' and 'research' both run in namespace"):
        render_kueue(QUEUES, POOLS, namespaces=shared)
