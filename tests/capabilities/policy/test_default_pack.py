"""The default pack: each rule fires where it should, stays quiet elsewhere; its tests pass."""

from __future__ import annotations

from typing import Any

import pytest

from plinth.capabilities.policy import PolicyEngine, WorkerPool, builtin_packs

LIMITS = {"cpu": "500m", "memory": "256Mi"}
DIGEST = "@sha256:" + "a" * 64


def _service(name: str, image: str, **extra: Any) -> dict[str, Any]:
    spec = {"containers": {"main": {"image": image}}, "resources": LIMITS} | extra.pop("spec", {})
    return {"name": name, "type": "service", "action": "create", "spec": spec, "agent": ""} | extra


def _plan(tier: str, *resources: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {
        "kind": "plan",
        "environment": {
            "name": tier,
            "tier": tier,
            "protected": tier == "prod",
            "region": "eu-west-1",
        },
        "project": {"name": "shop", "team": "payments", "labels": {}, "classification": ""},
        "resources": list(resources),
        "documents": [],
        "models": {},
    } | extra


@pytest.fixture(scope="module")
def engine(pool: WorkerPool) -> PolicyEngine:
    """The built-in packs."""
    return PolicyEngine(builtin_packs(), pool=pool)


def _fired(engine: PolicyEngine, data: dict[str, Any]) -> set[tuple[str, str]]:
    evaluation = engine.evaluate(data)
    assert not evaluation.errors
    return {(r.level, r.rule) for r in evaluation.results}


def test_a_clean_prod_plan_passes(engine: PolicyEngine) -> None:
    assert _fired(engine, _plan("prod", _service("web", "ghcr.io/acme/web" + DIGEST))) == set()


def test_public_ingress_in_prod_needs_approval(engine: PolicyEngine) -> None:
    route = {"name": "web-route", "type": "route", "action": "create", "spec": {"host": "a"}}
    assert ("needs_approval", "public_ingress") in _fired(engine, _plan("prod", route))
    assert _fired(engine, _plan("dev", route)) == set()
    rita = {"name": "rita", "type": "human", "roles": ["release-manager"], "team": "payments"}
    assert _fired(engine, _plan("prod", route, actor=rita)) == set()


def test_limits_are_required_in_staging_and_prod(engine: PolicyEngine) -> None:
    bare = _service("web", "ghcr.io/acme/web" + DIGEST, spec={"resources": {}})
    evaluation = engine.evaluate(_plan("staging", bare))
    [result] = evaluation.results
    assert (result.level, result.rule, result.resource) == ("deny", "resource_limits", "web")
    assert "limits" in (result.fix or "")
    assert _fired(engine, _plan("dev", bare)) == set()


def test_images_come_from_allowed_registries(engine: PolicyEngine) -> None:
    fired = _fired(engine, _plan("dev", _service("web", "quay.io/acme/web:1")))
    assert fired == {("deny", "registries")}
    for image in ("nginx:1.27", "ghcr.io/acme/web:1", "py:plinth_demo.webapp"):
        assert _fired(engine, _plan("dev", _service("web", image))) == set()


def test_prod_images_are_pinned_by_digest(engine: PolicyEngine) -> None:
    fired = _fired(engine, _plan("prod", _service("web", "ghcr.io/acme/web:1")))
    assert fired == {("needs_approval", "image_digests")}


def test_classified_projects_stay_in_allowed_regions(engine: PolicyEngine) -> None:
    project = {"name": "vault", "team": "sec", "labels": {}, "classification": "classified"}
    data = _plan("dev", _service("web", "nginx"), project=project)
    assert _fired(engine, data) == set()
    data["environment"]["region"] = "us-east-1"
    evaluation = engine.evaluate(data)
    [result] = evaluation.results
    assert (result.rule, result.severity) == ("data_residency", "critical")
    assert "us-east-1" in result.message and "eu-west-1" in (result.fix or "")


def test_models_must_be_signed(engine: PolicyEngine) -> None:
    models = {"churn@2.0.0": {"ok": False, "reason": "churn@2.0.0 is not signed"}}
    evaluation = engine.evaluate(_plan("dev", models=models))
    [result] = evaluation.results
    assert result.message == "churn@2.0.0: churn@2.0.0 is not signed"
    assert "plinth models register" in (result.fix or "")
    assert _fired(engine, _plan("dev", models={"churn@1.0.0": {"ok": True}})) == set()


def test_agent_workloads_declare_egress(engine: PolicyEngine) -> None:
    bot = _service("triage", "ghcr.io/acme/bot:1", agent="triage-bot")
    assert _fired(engine, _plan("dev", bot)) == {("deny", "agent_egress")}
    declared = _service("triage", "ghcr.io/acme/bot:1", agent="triage-bot")
    declared["spec"]["egress"] = {"allow": ["api.example.com"]}
    assert _fired(engine, _plan("dev", declared)) == set()


def test_the_packs_own_tests_pass(engine: PolicyEngine) -> None:
    outcomes = engine.test()
    assert len(outcomes) >= 13
    assert [o.name for o in outcomes if not o.passed] == []
