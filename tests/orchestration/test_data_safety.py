"""The data-safety verdict: plans that would destroy stored data wait for a human.

Through the real planner and gate pipeline (the policy gate runs the default pack's
``data_safety`` rule); the provider is the fake one, which plans like the local provider
(a postgres whose database name changes is a replace).
"""

from __future__ import annotations

from typing import Any

import yaml

from plinth.orchestration.plans import PlanRequest
from tests.orchestration.conftest import World
from tests.orchestration.specs import PROD_READY, converge, workload


def _policy(plan: dict[str, Any]) -> dict[str, Any]:
    return next(v for v in plan["verdicts"] if v["gate"] == "policy")


def _with_volume(name: str, *, volume: bool, database: str = "orders", **extra: Any) -> str:
    doc = yaml.safe_load(workload(name, database=database, **extra))
    if volume:
        doc["resources"]["files"] = {"type": "volume", "params": {"size": "1Gi"}}
    return yaml.safe_dump(doc, sort_keys=False)


def _apply(world: World, who: str, env: str, text: str) -> dict[str, Any]:
    actor = world.actor(who)
    plan = world.platform.plan(actor, PlanRequest(environment=env, documents=text))
    assert plan["outcome"] == "allow", plan["verdicts"]
    world.platform.apply(actor, plan["digest"])
    converge(world.platform)
    return plan


def test_a_database_rename_is_a_replace_that_needs_approval(world: World) -> None:
    _apply(world, "ada", "dev", _with_volume("shop", volume=False))
    renamed = _with_volume("shop", volume=False, database="billing")
    plan = world.platform.plan(
        world.actor("ada"), PlanRequest(environment="dev", documents=renamed)
    )
    actions = {c["name"]: c["action"] for c in plan["changes"] if c["kind"] == "Resource"}
    assert actions["shop-db"] == "replace"
    verdict = _policy(plan)
    assert plan["outcome"] == verdict["verdict"] == "needs_approval"
    [reason] = [r for r in verdict["reasons"] if "data_safety" in r]
    assert "replacing postgres shop-db drops its database (name orders becomes billing)" in reason
    assert any("plinth snapshot create shop-db" in s for s in verdict["suggestions"])


def test_a_volume_removed_from_a_workload_needs_approval(world: World) -> None:
    _apply(world, "ada", "dev", _with_volume("keep", volume=True))
    plan = world.platform.plan(
        world.actor("ada"),
        PlanRequest(environment="dev", documents=_with_volume("keep", volume=False)),
    )
    actions = {c["name"]: c["action"] for c in plan["changes"] if c["kind"] == "Resource"}
    assert actions["keep-files"] == "delete"
    assert plan["outcome"] == "needs_approval"
    assert any("deleting volume keep-files" in r for r in _policy(plan)["reasons"])


def test_unchanged_data_and_new_data_pass(world: World) -> None:
    first = _apply(world, "ada", "dev", _with_volume("calm", volume=True))
    assert _policy(first)["verdict"] == "allow"
    again = _with_volume("calm", volume=True, variables={"MODE": "quiet"})
    _apply(world, "ada", "dev", again)


def test_deleting_a_workload_asks_only_where_data_is_guarded(world: World) -> None:
    _apply(world, "ada", "dev", _with_volume("tmp", volume=True))
    gone = PlanRequest(environment="dev", delete_kind="Workload", delete_name="tmp")
    plan = world.platform.plan(world.actor("ada"), gone)
    assert _policy(plan)["verdict"] == "allow"

    text = _with_volume(
        "vault", volume=True, image=PROD_READY["image"], limits=PROD_READY["limits"]
    )
    _apply(world, "rita", "prod", text)
    gone = PlanRequest(environment="prod", delete_kind="Workload", delete_name="vault")
    plan = world.platform.plan(world.actor("rita"), gone)
    reasons = _policy(plan)["reasons"]
    assert plan["outcome"] == "needs_approval"
    assert any("deleting postgres vault-db destroys" in r for r in reasons)
    assert any("deleting volume vault-files destroys" in r for r in reasons)
