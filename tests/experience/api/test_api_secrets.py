"""``/api/v1/secrets`` and ``plinth secrets list|rotate``: metadata only, rotation audited."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
import typer
from fastapi.testclient import TestClient
from sqlalchemy import select
from tests.experience.api.janitor_support import forwarding
from tests.infrastructure.store import reuse
from tests.orchestration.specs import converge
from typer.testing import CliRunner

from plinth.capabilities.identity import service as identity
from plinth.capabilities.inventory.models import ResourceRecord
from plinth.core.clock import FrozenClock
from plinth.core.config import Settings
from plinth.core.ids import SequentialIds
from plinth.experience.api.app import create_app
from plinth.experience.cli.context import CliState
from plinth.experience.cli.secrets import secrets_app
from plinth.infrastructure.providers.base import ProviderContext
from plinth.infrastructure.providers.local.provider import LocalProvider
from plinth.infrastructure.providers.local.runtime import stop_local_runtime
from plinth.infrastructure.providers.registry import ProviderRegistry
from plinth.orchestration.plans import PlanRequest
from plinth.orchestration.platform import Platform

shared_database_url = reuse.shared_database_url
database_url = reuse.emptied_database_url

PROBLEM = "https://plinth.dev/problems/"
SCORE = """
apiVersion: score.dev/v1b1
metadata: {name: api}
containers:
  main:
    image: exec:sleep
    args: ["60"]
    variables: {TOKEN: "${resources.token.value}"}
resources:
  token: {type: secret, params: {rotation: 7d}}
"""


@pytest.fixture
def client(
    settings: Settings, clock: FrozenClock, ids: SequentialIds
) -> Iterator[tuple[TestClient, dict[str, str], Platform]]:
    """An in-process API on a platform with the real local provider and one secret."""
    context = ProviderContext(data_dir=settings.data_dir.resolve(), secret_key=b"k" * 32)
    registry = ProviderRegistry()
    registry.register(LocalProvider(context))
    platform = Platform(settings, clock=clock, ids=ids, registry=registry)
    platform.prepare()
    tokens: dict[str, str] = {}
    with platform.db.transaction() as session:
        for user in ("ada", "lee", "pat"):
            actor = identity.actor_by_name(session, user)
            tokens[user] = identity.issue_token(session, user_id=actor.id, ids=ids, clock=clock)
        ada = identity.actor_by_name(session, "ada")
    plan = platform.plan(ada, PlanRequest(environment="dev", documents=SCORE))
    platform.apply(ada, plan["digest"])
    converge(platform)
    try:
        yield TestClient(create_app(platform)), tokens, platform
    finally:
        platform.stop()
        stop_local_runtime(settings.data_dir)


def _as(tokens: dict[str, str], user: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {tokens[user]}"}


def test_list_and_rotate_over_http_and_the_cli(
    client: tuple[TestClient, dict[str, str], Platform], monkeypatch: pytest.MonkeyPatch
) -> None:
    http, tokens, platform = client
    listed = http.get("/api/v1/secrets", headers=_as(tokens, "ada"))
    assert listed.status_code == 200, listed.text
    [item] = listed.json()["items"]
    assert item["name"] == "api-token" and item["version"] == 1 and item["rotation"] == "7d"
    assert "value" not in item
    assert http.get("/api/v1/secrets", headers=_as(tokens, "lee")).json()["items"] == []
    assert http.get("/api/v1/secrets").status_code == 401

    body = {"environment": "dev", "project": "checkout"}
    denied = http.post("/api/v1/secrets/api-token/rotate", json=body, headers=_as(tokens, "lee"))
    assert denied.status_code == 403 and denied.json()["type"] == PROBLEM + "forbidden"
    missing = http.post("/api/v1/secrets/nope/rotate", json=body, headers=_as(tokens, "pat"))
    assert missing.status_code == 404
    bad = http.post("/api/v1/secrets/api-token/rotate", json={}, headers=_as(tokens, "pat"))
    assert bad.status_code == 422
    done = http.post("/api/v1/secrets/api-token/rotate", json=body, headers=_as(tokens, "pat"))
    assert done.status_code == 200 and done.json()["version"] == 2

    monkeypatch.setenv("COLUMNS", "250")
    for name in ("PLINTH_URL", "PLINTH_TOKEN", "PLINTH_CLI_CONFIG"):
        monkeypatch.delenv(name, raising=False)
    root = typer.Typer()
    root.add_typer(secrets_app, name="secrets")
    state = CliState(url="http://testserver", token=tokens["ada"], transport=forwarding(http))
    shown = CliRunner().invoke(root, ["secrets", "list", "--env", "dev"], obj=state)
    assert shown.exit_code == 0, shown.output
    assert "api-token" in shown.stdout and "7d" in shown.stdout
    args = ["secrets", "rotate", "api-token", "--env", "dev", "--project", "checkout", "-o", "json"]
    rotated = CliRunner().invoke(root, args, obj=state)
    assert rotated.exit_code == 0, rotated.output
    assert json.loads(rotated.stdout)["version"] == 3
    with platform.db.read() as session:
        names = select(ResourceRecord.sealed_outputs).where(ResourceRecord.name == "api-token")
        value = json.loads(platform.box.open(session.scalars(names).one()))["value"]
    listing = platform.list_resources(
        environment="dev", project="checkout", limit=50, page_token=None
    )
    assert value not in json.dumps(listing.items, default=str)
    assert value not in shown.stdout + rotated.stdout + done.text
