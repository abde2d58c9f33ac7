"""The model-signature gate over real registry facts: signed, tampered, unsigned, untrusted."""

from __future__ import annotations

import stat
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from plinth.capabilities.identity.schemas import Actor, Grant
from plinth.capabilities.models import trust
from plinth.capabilities.models.signing import sign_artifact
from plinth.core.clock import FrozenClock
from plinth.core.ids import SequentialIds
from plinth.infrastructure.store.db import Database
from plinth.orchestration import model_registry
from plinth.orchestration.gates.base import GateContext, PlanView, VerdictKind
from plinth.orchestration.gates.model_signature import ModelSignatureGate
from tests import conftest as root_conftest
from tests.capabilities.models.pki import KeyPair, make_key, registry_store

# A fresh store per test, with only the registry's tables (no migrations needed).
database_url = root_conftest.database_url

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


def _verdict(db: Database, changes: list[dict[str, Any]]) -> Any:
    with db.read() as session:
        facts = model_registry.model_facts(session, changes)
    view = PlanView(
        environment="prod",
        environment_tier="prod",
        environment_protected=True,
        project="recommender",
        team="ml-research",
        changes=tuple(changes),
        extra={"models": facts},
    )
    return ModelSignatureGate().evaluate(view, DANA, GateContext())


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
    signature = None
    if key is not None:
        signature = sign_artifact(src, key.private_pem)
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
            store, tmp_path, clock, ids, version="1.0.0", content=b"one", key=team_key
        ),
        "2.0.0": _register(store, tmp_path, clock, ids, version="2.0.0", content=b"two", key=None),
        "3.0.0": _register(
            store, tmp_path, clock, ids, version="3.0.0", content=b"3", key=make_key()
        ),
    }


def test_a_plan_without_models_is_allowed(store: Database) -> None:
    verdict = _verdict(store, [{"kind": "Resource", "type": "postgres", "action": "create"}])
    assert verdict.verdict is VerdictKind.ALLOW


def test_deploying_a_signed_unchanged_version_is_allowed(
    store: Database, registered: dict[str, Path]
) -> None:
    verdict = _verdict(store, [_deploy("churn@1.0.0")])
    assert verdict.verdict is VerdictKind.ALLOW
    assert "churn@1.0.0: signed by ml-research" in verdict.reasons[0]


def test_deploying_a_tampered_version_is_denied_with_the_digests(
    store: Database, registered: dict[str, Path]
) -> None:
    stored = registered["1.0.0"]
    stored.chmod(stat.S_IRUSR | stat.S_IWUSR)
    stored.write_bytes(b"one, retrained in place")
    verdict = _verdict(store, [_deploy("churn@1.0.0")])
    assert verdict.verdict is VerdictKind.DENY
    assert verdict.reasons[0].startswith("churn@1.0.0: the artifact digest changed: registered")
    assert verdict.suggestions


def test_deploying_unsigned_or_untrusted_versions_is_denied(
    store: Database, registered: dict[str, Path]
) -> None:
    verdict = _verdict(store, [_deploy("churn@2.0.0"), _deploy("churn@3.0.0")])
    assert verdict.verdict is VerdictKind.DENY
    assert "churn@2.0.0: churn@2.0.0 is not signed" in verdict.reasons
    assert any("not a trusted model-signing key" in r for r in verdict.reasons)


def test_promoting_through_the_model_document_is_checked(
    store: Database, registered: dict[str, Path]
) -> None:
    allowed = _verdict(store, [_promote("churn", {"production": "1.0.0"})])
    assert allowed.verdict is VerdictKind.ALLOW
    denied = _verdict(store, [_promote("churn", {"production": "1.0.0", "staging": "2.0.0"})])
    assert denied.verdict is VerdictKind.DENY
    assert denied.reasons[0] == "churn@2.0.0: churn@2.0.0 is not signed"


def test_unknown_versions_and_missing_facts_are_denied(
    store: Database, registered: dict[str, Path]
) -> None:
    verdict = _verdict(store, [_deploy("churn@9.9.9"), _deploy("ghost@1")])
    assert verdict.verdict is VerdictKind.DENY
    assert "churn@9.9.9: model churn has no version 9.9.9" in verdict.reasons
    assert "ghost@1: no model named ghost" in verdict.reasons
    view = PlanView(
        environment="dev",
        environment_tier="dev",
        environment_protected=False,
        project="recommender",
        team="ml-research",
        changes=(_deploy("churn@1.0.0"),),
    )
    bare = ModelSignatureGate().evaluate(view, DANA, GateContext())
    assert bare.verdict is VerdictKind.DENY and "no registry facts" in bare.reasons[0]
