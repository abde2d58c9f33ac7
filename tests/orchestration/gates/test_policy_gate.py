"""The policy gate over real registry facts and real exceptions (the model-signature intent)."""

from __future__ import annotations

import stat
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from plinth.capabilities.identity.schemas import Actor, Grant
from plinth.capabilities.models import trust
from plinth.capabilities.models.signing import sign_artifact
from plinth.capabilities.policy import PolicyExceptionRule, builtin_packs
from plinth.core.clock import FrozenClock
from plinth.core.ids import SequentialIds
from plinth.infrastructure.store.db import Database
from plinth.orchestration import model_registry
from plinth.orchestration.gates.base import GateContext, PlanView, Verdict, VerdictKind
from plinth.orchestration.gates.policy import PolicyGate
from tests import conftest as root_conftest
from tests.capabilities.models.pki import KeyPair, make_key, registry_store

database_url = root_conftest.database_url
NOW = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)
DANA = Actor(
    id="u5",
    name="dana",
    kind="human",
    persona="ml-engineer",
    grants=(Grant("ml-engineer", "ml-research"),),
)


@pytest.fixture(scope="module")
def team_key() -> KeyPair:
    """The ml-research team's signing key."""
    return make_key()


@pytest.fixture
def store(database_url: str) -> Iterator[Database]:
    """The registry's store."""
    db = registry_store(database_url)
    yield db
    db.dispose()


def _deploy(ref: str) -> dict[str, Any]:
    return {
        "kind": "Resource",
        "type": "model-deployment",
        "name": "churn-api",
        "action": "create",
        "before": None,
        "after": {"model": ref, "replicas": 1},
    }


def _promote(name: str, stages: dict[str, str]) -> dict[str, Any]:
    return {
        "kind": "Model",
        "name": name,
        "action": "update",
        "before": {"spec": {"team": "ml-research", "stages": {}}},
        "after": {
            "apiVersion": "plinth.dev/v1",
            "kind": "Model",
            "metadata": {"name": name},
            "spec": {"team": "ml-research", "stages": stages},
        },
    }


def _view(
    changes: list[dict[str, Any]],
    *,
    models: dict[str, Any] | None = None,
    exceptions: tuple[PolicyExceptionRule, ...] = (),
    tier: str = "prod",
) -> PlanView:
    extra: dict[str, Any] = {"policy": {"packs": builtin_packs(), "exceptions": exceptions}}
    if models is not None:
        extra["models"] = models
    return PlanView(
        environment=tier,
        environment_tier=tier,
        environment_protected=tier == "prod",
        project="recommender",
        team="ml-research",
        changes=tuple(changes),
        extra=extra,
    )


def _gate(view: PlanView, now: datetime = NOW) -> Verdict:
    return PolicyGate().evaluate(view, DANA, GateContext(settings={"now": now}))


def _verdict(db: Database, changes: list[dict[str, Any]]) -> Verdict:
    with db.read() as session:
        facts = model_registry.model_facts(session, changes)
    return _gate(_view(changes, models=facts))


def _register(
    db: Database,
    tmp_path: Path,
    clock: FrozenClock,
    ids: SequentialIds,
    *,
    version: str,
    content: bytes,
    key: KeyPair | None,
) -> Path:
    src = tmp_path / f"model-{version}.pkl"
    src.write_bytes(content)
    signature = sign_artifact(src, key.private_pem) if key is not None else None
    data = model_registry.register(
        db,
        clock=clock,
        ids=ids,
        data_dir=tmp_path / "data",
        actor=DANA,
        name="churn",
        version=version,
        artifact=src,
        team="ml-research",
        signature=signature,
    )
    return Path(data["artifact_uri"])


@pytest.fixture
def registered(
    store: Database, tmp_path: Path, clock: FrozenClock, ids: SequentialIds, team_key: KeyPair
) -> dict[str, Path]:
    """churn@1.0.0 signed and trusted, 2.0.0 unsigned, 3.0.0 signed by a stranger."""
    with store.transaction() as session:
        trust.add_trust(
            session, name="ml-research", pem=team_key.public_pem, actor="pat", clock=clock
        )
    return {
        "1.0.0": _register(
            store, tmp_path, clock, ids, version="1.0.0", content=b"1", key=team_key
        ),
        "2.0.0": _register(store, tmp_path, clock, ids, version="2.0.0", content=b"2", key=None),
        "3.0.0": _register(
            store, tmp_path, clock, ids, version="3.0.0", content=b"3", key=make_key()
        ),
    }


def test_a_plan_without_models_is_allowed(store: Database) -> None:
    verdict = _verdict(
        store,
        [{"kind": "Resource", "type": "postgres", "name": "db", "action": "create", "after": {}}],
    )
    assert verdict.verdict is VerdictKind.ALLOW
    assert verdict.reasons[0].startswith("no policy rule fired (packs default@")


def test_deploying_a_signed_unchanged_version_is_allowed(
    store: Database, registered: dict[str, Path]
) -> None:
    assert _verdict(store, [_deploy("churn@1.0.0")]).verdict is VerdictKind.ALLOW


def test_deploying_a_tampered_version_is_denied_with_the_digests(
    store: Database, registered: dict[str, Path]
) -> None:
    stored = registered["1.0.0"]
    stored.chmod(stat.S_IRUSR | stat.S_IWUSR)
    stored.write_bytes(b"one, retrained in place")
    verdict = _verdict(store, [_deploy("churn@1.0.0")])
    assert verdict.verdict is VerdictKind.DENY
    assert verdict.reasons[0].startswith(
        "deny: default/signed_models [churn@1.0.0]: churn@1.0.0: the artifact digest changed"
    )
    assert any("plinth models register" in s for s in verdict.suggestions)


def test_deploying_unsigned_or_untrusted_versions_is_denied(
    store: Database, registered: dict[str, Path]
) -> None:
    verdict = _verdict(store, [_deploy("churn@2.0.0"), _deploy("churn@3.0.0")])
    assert verdict.verdict is VerdictKind.DENY
    assert any("churn@2.0.0: churn@2.0.0 is not signed" in r for r in verdict.reasons)
    assert any("not a trusted model-signing key" in r for r in verdict.reasons)


def test_promoting_through_the_model_document_is_checked(
    store: Database, registered: dict[str, Path]
) -> None:
    assert _verdict(store, [_promote("churn", {"production": "1.0.0"})]).verdict is (
        VerdictKind.ALLOW
    )
    denied = _verdict(store, [_promote("churn", {"production": "1.0.0", "staging": "2.0.0"})])
    assert denied.verdict is VerdictKind.DENY
    assert "churn@2.0.0 is not signed" in denied.reasons[0]


def test_unknown_versions_and_missing_facts_are_denied(
    store: Database, registered: dict[str, Path]
) -> None:
    verdict = _verdict(store, [_deploy("churn@9.9.9"), _deploy("ghost@1")])
    assert verdict.verdict is VerdictKind.DENY
    assert any("model churn has no version 9.9.9" in r for r in verdict.reasons)
    assert any("no model named ghost" in r for r in verdict.reasons)
    bare = _gate(_view([_deploy("churn@1.0.0")], tier="dev"))
    assert bare.verdict is VerdictKind.DENY and "no registry facts" in bare.reasons[0]


def _tagged_service() -> dict[str, Any]:
    spec = {
        "containers": {"main": {"image": "ghcr.io/acme/web:1"}},
        "resources": {"cpu": "1", "memory": "1Gi"},
    }
    return {"kind": "Resource", "type": "service", "name": "web", "action": "create", "after": spec}


def _exception(expires: datetime, resources: tuple[str, ...] = ("web*",)) -> PolicyExceptionRule:
    return PolicyExceptionRule(
        name="web-tag",
        rule="default/image_digests",
        resources=resources,
        environments=("prod",),
        owner="pat",
        justification="digest pinning lands next sprint",
        expires=expires,
    )


def test_each_rule_is_a_reason_with_its_fix() -> None:
    verdict = _gate(_view([_tagged_service()]))
    assert verdict.verdict is VerdictKind.NEEDS_APPROVAL
    assert verdict.reasons[0] == (
        "needs_approval: default/image_digests [web]: container main of web uses image "
        "ghcr.io/acme/web:1 by tag in prod"
    )
    assert verdict.reasons[-1].startswith("decided by packs default@")
    assert verdict.suggestions[0].startswith("default/image_digests: pin the image by digest")


def test_an_exception_covers_a_result_and_says_so() -> None:
    verdict = _gate(_view([_tagged_service()], exceptions=(_exception(NOW + timedelta(days=7)),)))
    assert verdict.verdict is VerdictKind.ALLOW
    assert verdict.reasons[1].startswith(
        "excepted: default/image_digests [web]: container main of web uses image"
    )
    assert "exception web-tag, owner pat, expires 2026-12-05" in verdict.reasons[1]


def test_an_expired_exception_no_longer_applies() -> None:
    expired = _exception(NOW - timedelta(seconds=1))
    verdict = _gate(_view([_tagged_service()], exceptions=(expired,)))
    assert verdict.verdict is VerdictKind.NEEDS_APPROVAL
    other = _exception(NOW + timedelta(days=1), resources=("api",))
    assert _gate(_view([_tagged_service()], exceptions=(other,))).verdict is (
        VerdictKind.NEEDS_APPROVAL
    )
