"""``/api/v1/policy/*`` and ``plinth policy list|test|eval|exceptions``, in process."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
import typer
from fastapi.testclient import TestClient
from tests.experience.api.janitor_support import forwarding
from tests.fakes.provider import registry_with_fake
from tests.infrastructure.store import reuse
from tests.orchestration.specs import workload
from typer.testing import CliRunner

from plinth.capabilities.identity import service as identity
from plinth.capabilities.identity.schemas import Actor
from plinth.core.clock import FrozenClock
from plinth.core.config import Settings
from plinth.core.ids import SequentialIds
from plinth.experience.api.app import create_app
from plinth.experience.cli.context import CliState
from plinth.experience.cli.policy import policy_app
from plinth.orchestration.plans import PlanRequest
from plinth.orchestration.platform import Platform

shared_database_url = reuse.shared_database_url
database_url = reuse.emptied_database_url

EXCEPTION = """
apiVersion: plinth.dev/v1
kind: PolicyException
metadata: {name: quay-web}
spec:
  rule: default/registries
  resources: [web]
  environments: [dev]
  owner: sam
  justification: the vendor image moves to ghcr.io next week
  expires: "2026-12-10T00:00:00Z"
"""


@pytest.fixture
def api(
    settings: Settings, clock: FrozenClock, ids: SequentialIds
) -> Iterator[tuple[TestClient, dict[str, str], Platform]]:
    """An in-process API on a seeded platform with a fake provider."""
    registry, _ = registry_with_fake()
    platform = Platform(settings, clock=clock, ids=ids, registry=registry)
    platform.prepare()
    tokens: dict[str, str] = {}
    with platform.db.transaction() as session:
        for user in ("ada", "sam"):
            actor = identity.actor_by_name(session, user)
            tokens[user] = identity.issue_token(session, user_id=actor.id, ids=ids, clock=clock)
    try:
        yield TestClient(create_app(platform)), tokens, platform
    finally:
        platform.stop()


def _as(tokens: dict[str, str], user: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {tokens[user]}"}


def test_packs_tests_eval_and_exceptions_over_http(
    api: tuple[TestClient, dict[str, str], Platform],
) -> None:
    http, tokens, platform = api
    assert http.get("/api/v1/policy/packs").status_code == 401
    [pack] = http.get("/api/v1/policy/packs", headers=_as(tokens, "ada")).json()["items"]
    assert (pack["name"], pack["source"]) == ("default", "builtin")
    assert "registries" in pack["modules"] and "registries_test" in pack["tests"]

    tested = http.post("/api/v1/policy/test", json={}, headers=_as(tokens, "ada")).json()
    assert tested["failed"] == 0 and tested["passed"] == len(tested["tests"]) >= 13
    missing = http.post("/api/v1/policy/test", json={"pack": "nope"}, headers=_as(tokens, "ada"))
    assert missing.status_code == 404

    body = {"environment": "dev", "documents": workload("web", image="quay.io/v/web:1", db=None)}
    explained = http.post("/api/v1/policy/eval", json=body, headers=_as(tokens, "ada")).json()
    assert explained["verdict"]["verdict"] == "deny"
    [result] = explained["results"]
    assert (result["rule"], result["resource"]) == ("registries", "web") and result["fix"]
    bad = http.post("/api/v1/policy/eval", json={"environment": "dev"}, headers=_as(tokens, "ada"))
    assert bad.status_code == 422

    sam = identity_actor(platform, "sam")
    plan = platform.plan(sam, PlanRequest(environment="dev", documents=EXCEPTION))
    assert platform.apply(sam, plan["digest"])["status"] == "applied"
    [listed] = http.get("/api/v1/policy/exceptions", headers=_as(tokens, "ada")).json()["items"]
    assert (listed["name"], listed["owner"], listed["expired"]) == ("quay-web", "sam", False)
    again = http.post("/api/v1/policy/eval", json=body, headers=_as(tokens, "ada")).json()
    assert again["verdict"]["verdict"] == "allow" and again["results"] == []
    assert again["excepted"][0]["exception"]["name"] == "quay-web"


def identity_actor(platform: Platform, name: str) -> Actor:
    """Return a seeded user as an actor."""
    with platform.db.transaction() as session:
        return identity.actor_by_name(session, name)


def test_the_cli_lists_tests_and_explains(
    api: tuple[TestClient, dict[str, str], Platform],
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    http, tokens, _ = api
    monkeypatch.setenv("COLUMNS", "250")
    for name in ("PLINTH_URL", "PLINTH_TOKEN", "PLINTH_CLI_CONFIG"):
        monkeypatch.delenv(name, raising=False)
    root = typer.Typer()
    root.add_typer(policy_app, name="policy")
    state = CliState(url="http://testserver", token=tokens["ada"], transport=forwarding(http))

    def run(*args: str) -> tuple[int, str]:
        result = CliRunner().invoke(root, ["policy", *args], obj=state)
        return result.exit_code, result.stdout

    code, out = run("list")
    assert code == 0 and "default" in out and "1.0.0" in out
    code, out = run("list", "-o", "json")
    assert json.loads(out)["items"][0]["name"] == "default"
    code, out = run("test")
    assert code == 0 and "PASS default@1.0.0 plinth.default.registries_test" in out
    spec = tmp_path / "web.yaml"
    spec.write_text(workload("web", image="quay.io/v/web:1", db=None))
    code, out = run("eval", "-f", str(spec), "--env", "dev")
    assert code == 0, out
    assert "deny" in out and "default/registries [web]" in out and "fix: push the image" in out
    code, out = run("exceptions", "-o", "json")
    assert code == 0 and json.loads(out) == {"items": []}
