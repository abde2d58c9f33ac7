"""The Rego engine: OPA-style modules run unchanged, errors and overruns fail closed."""

from __future__ import annotations

import pytest

from plinth.capabilities.policy import Pack, PolicyEngine, WorkerPool
from plinth.core.errors import SpecError

OPA_V0 = """package acme.images

deny[msg] {
	some i
	c := input.resources[i].spec.containers[_]
	not startswith(c.image, "ghcr.io/")
	msg := sprintf("image %v is not from ghcr.io", [c.image])
}

warn[{"msg": msg, "resource": r.name, "fix": "add a team label"}] {
	r := input.resources[_]
	not object.get(r, "labels", {})["team"]
	msg := sprintf("%s has no team label", [r.name])
}
"""

OPA_FUTURE = """package acme.names

import future.keywords

needs_approval contains {"msg": msg, "rule": "names"} if {
	some r in input.resources
	regex.match(`^tmp-`, r.name)
	count(input.resources) > 0
	msg := sprintf("%s looks temporary", [r.name])
}
"""

V1 = """package acme.v1

import rego.v1

deny contains {"msg": "too many", "severity": "critical"} if count(input.resources) > 2
"""


def _pack(modules: dict[str, str], **extra: object) -> Pack:
    return Pack(name="acme", version="1.0.0", modules=modules, **extra)  # type: ignore[arg-type]


def _input(*names: str, image: str = "docker.io/x:1") -> dict[str, object]:
    return {
        "resources": [
            {"name": n, "spec": {"containers": {"main": {"image": image}}}} for n in names
        ]
    }


def test_opa_style_modules_run_unchanged(pool: WorkerPool) -> None:
    engine = PolicyEngine([_pack({"v0": OPA_V0, "future": OPA_FUTURE, "v1": V1})], pool=pool)
    evaluation = engine.evaluate(_input("tmp-web", "db", "cache"))
    found = {(r.level, r.rule, r.message, r.resource) for r in evaluation.results}
    assert ("deny", "images", "image docker.io/x:1 is not from ghcr.io", None) in found
    assert ("warn", "images", "db has no team label", "db") in found
    assert ("needs_approval", "names", "tmp-web looks temporary", None) in found
    assert ("deny", "v1", "too many", None) in found
    assert evaluation.errors == () and evaluation.packs == ("acme@1.0.0",)
    quiet = engine.evaluate(_input("web", image="ghcr.io/acme/web:1"))
    assert [r.level for r in quiet.results] == ["warn"]


def test_a_warn_pack_only_warns(pool: WorkerPool) -> None:
    engine = PolicyEngine([_pack({"v1": V1}, enforcement="warn")], pool=pool)
    [result] = engine.evaluate(_input("a", "b", "c")).results
    assert (result.level, result.severity) == ("warn", "critical")


def test_malformed_rego_names_the_module_and_line(pool: WorkerPool) -> None:
    broken = "package acme.bad\n\nimport rego.v1\n\ndeny contains x if {\n  x := \n}\n"
    engine = PolicyEngine([_pack({"good": V1, "bad": broken})], pool=pool)
    with pytest.raises(SpecError) as caught:
        engine.check()
    [issue] = caught.value.issues
    assert issue.path == "$.spec.modules.bad"
    assert "module bad (line 6)" in issue.message
    evaluation = engine.evaluate(_input("a"))
    [failed] = evaluation.results
    assert (failed.level, failed.rule) == ("deny", "evaluation")
    assert "could not be evaluated" in failed.message and evaluation.errors


def test_a_slow_policy_hits_the_bound_and_fails_closed(pool: WorkerPool) -> None:
    slow = (
        "package acme.slow\n\nimport rego.v1\n\n"
        'deny contains sprintf("%d", [n]) if {\n'
        "  n := count([x | some x in numbers.range(1, 200000000)])\n}\n"
    )
    engine = PolicyEngine([_pack({"slow": slow})], timeout_s=0.5, pool=pool)
    evaluation = engine.evaluate({"resources": []})
    [failed] = evaluation.results
    assert failed.level == "deny" and "took longer than 0.5s" in failed.message
    fast = PolicyEngine([_pack({"v1": V1})], timeout_s=5, pool=pool)
    assert [r.message for r in fast.evaluate(_input("a", "b", "c")).results] == ["too many"]


def test_pack_tests_report_each_test(pool: WorkerPool) -> None:
    tests = {
        "v1_test": "package acme.v1_test\n\nimport rego.v1\n\n"
        "test_passes if count(data.acme.v1.deny) == 0\n\n"
        "test_fails if count(data.acme.v1.deny) == 1\n"
    }
    engine = PolicyEngine([_pack({"v1": V1}, tests=tests)], pool=pool)
    outcomes = {o.name: o.passed for o in engine.test()}
    assert outcomes == {"test_passes": True, "test_fails": False}
