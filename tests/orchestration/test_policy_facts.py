"""The policy facts of a plan follow the stored documents (they are kept by digest)."""

from __future__ import annotations

from typing import Any

from plinth.capabilities.inventory import service as inventory
from plinth.orchestration.policy_facts import exception_rules, packs_in_force, policy_facts
from tests.orchestration.conftest import World


def _policy(message: str, *, version: str = "1.0.0") -> dict[str, Any]:
    rule = (
        "package acme.names\n\nimport rego.v1\n\n"
        f'deny contains "{message}" if {{\n\tsome r in input.resources\n}}\n'
    )
    return {
        "apiVersion": "plinth.dev/v1",
        "kind": "Policy",
        "metadata": {"name": "acme"},
        "spec": {"version": version, "modules": {"names": rule}},
    }


def _exception(owner: str) -> dict[str, Any]:
    spec = {
        "rule": "acme/names",
        "resources": ["*"],
        "owner": owner,
        "justification": "a migration",
        "expires": "2026-12-20T00:00:00Z",
    }
    return {
        "apiVersion": "plinth.dev/v1",
        "kind": "PolicyException",
        "metadata": {"name": "tmp"},
        "spec": spec,
    }


def _put(world: World, kind: str, body: dict[str, Any], *, label: str = "") -> None:
    with world.platform.db.transaction() as session:
        inventory.put_document(
            session,
            kind=kind,
            name=str(body["metadata"]["name"]),
            body=body,
            actor="test",
            plan_digest="",
            ids=world.platform.ids,
            clock=world.platform.clock,
            label=label,
        )


def _modules(world: World) -> dict[str, str]:
    with world.platform.db.read() as session:
        packs = policy_facts(session, environment="dev", project="checkout")["packs"]
    return {p.ref: p.modules.get("names", "") for p in packs if p.name == "acme"}


def test_a_changed_policy_or_exception_is_read_again(world: World) -> None:
    _put(world, "Policy", _policy("first"), label="1.0.0")
    assert "first" in _modules(world)["acme@1.0.0"]
    assert "first" in _modules(world)["acme@1.0.0"]  # the second time from what was kept
    # A body rewritten in place has a new digest, so it is parsed again.
    _put(world, "Policy", _policy("second"), label="1.0.0")
    assert "second" in _modules(world)["acme@1.0.0"]
    _put(world, "Policy", _policy("third", version="1.1.0"), label="1.1.0")
    assert list(_modules(world)) == ["acme@1.1.0"]
    _put(world, "PolicyException", _exception("pat"))
    with world.platform.db.read() as session:
        assert [e.owner for e in exception_rules(session)] == ["pat"]
        assert [p.ref for p in packs_in_force(session)] == ["default@1.0.0", "acme@1.1.0"]
    _put(world, "PolicyException", _exception("sam"))
    with world.platform.db.read() as session:
        assert [e.owner for e in exception_rules(session)] == ["sam"]
        facts = policy_facts(session, environment="dev", project="checkout")
    assert [e.owner for e in facts["exceptions"]] == ["sam"]
