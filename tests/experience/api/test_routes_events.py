"""``/api/v1/webhooks`` and ``plinth webhooks``: subscriptions, live deliveries, redelivery."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
import typer
from fastapi.testclient import TestClient
from tests.experience.api.janitor_support import forwarding
from tests.fakes.provider import registry_with_fake
from tests.infrastructure.store import reuse
from tests.integration.events.webhook_receiver import receiver, verify_signature
from tests.orchestration.specs import workload
from tests.support import wait_until
from typer.testing import CliRunner

from plinth.capabilities.identity import service as identity
from plinth.core.clock import FrozenClock
from plinth.core.config import Settings
from plinth.core.ids import SequentialIds
from plinth.experience.api.app import create_app
from plinth.experience.cli.context import CliState
from plinth.experience.cli.webhooks import webhooks_app
from plinth.integration.events import repository
from plinth.orchestration.platform import Platform

shared_database_url = reuse.shared_database_url
database_url = reuse.emptied_database_url

PROBLEM = "https://plinth.dev/problems/"


@pytest.fixture
def api(
    settings: Settings, clock: FrozenClock, ids: SequentialIds
) -> Iterator[tuple[TestClient, dict[str, dict[str, str]], Platform]]:
    """An in-process API on a seeded platform (fake provider) and bearer headers per user."""
    registry, _ = registry_with_fake()
    platform = Platform(settings, clock=clock, ids=ids, registry=registry)
    platform.prepare()
    headers: dict[str, dict[str, str]] = {}
    with platform.db.transaction() as session:
        for user in ("ada", "pat"):
            actor = identity.actor_by_name(session, user)
            token = identity.issue_token(session, user_id=actor.id, ids=ids, clock=clock)
            headers[user] = {"Authorization": f"Bearer {token}"}
    try:
        with TestClient(create_app(platform)) as client:
            yield client, headers, platform
    finally:
        platform.stop()


def test_subscriptions_are_managed_by_platform_engineers_only(
    api: tuple[TestClient, dict[str, dict[str, str]], Platform],
) -> None:
    http, auth, _ = api
    body = {"url": "https://hooks.example.test/plinth", "types": ["dev.plinth.plan.*"]}
    denied = http.post("/api/v1/webhooks", json=body, headers=auth["ada"])
    assert denied.status_code == 403 and denied.json()["type"] == PROBLEM + "forbidden"
    assert http.get("/api/v1/webhooks", headers=auth["ada"]).status_code == 403
    bad = http.post("/api/v1/webhooks", json={"url": "gopher://x"}, headers=auth["pat"])
    assert bad.status_code == 422 and "scheme must be http or https" in bad.json()["detail"]
    assert bad.headers["content-type"].startswith("application/problem+json")
    made = [http.post("/api/v1/webhooks", json=body, headers=auth["pat"]) for _ in range(3)]
    assert [m.status_code for m in made] == [201, 201, 201]
    assert all(m.json()["secret"].startswith("whsec_") for m in made)
    first = http.get("/api/v1/webhooks", params={"limit": 2}, headers=auth["pat"]).json()
    rest = http.get(
        "/api/v1/webhooks",
        params={"limit": 2, "page_token": first["next_page_token"]},
        headers=auth["pat"],
    ).json()
    listed = first["items"] + rest["items"]
    assert [w["id"] for w in listed] == [m.json()["id"] for m in made]
    assert rest["next_page_token"] is None and all("secret" not in w for w in listed)
    gone = http.delete(f"/api/v1/webhooks/{listed[0]['id']}", headers=auth["pat"])
    assert gone.status_code == 200 and gone.json()["url"] == body["url"]
    again = http.delete(f"/api/v1/webhooks/{listed[0]['id']}", headers=auth["pat"])
    assert again.status_code == 404


def test_a_plan_reaches_the_webhook_from_the_leaders_dispatcher(
    api: tuple[TestClient, dict[str, dict[str, str]], Platform],
) -> None:
    http, auth, platform = api
    with receiver(fail_first=1) as hook:
        body = {"url": hook.url, "types": ["dev.plinth.plan.created"], "max_attempts": 1}
        secret = http.post("/api/v1/webhooks", json=body, headers=auth["pat"]).json()["secret"]
        platform.start()  # leader election, then the background work with the dispatcher
        plan = {"environment": "dev", "documents": workload("web")}
        assert http.post("/api/v1/plans", json=plan, headers=auth["ada"]).status_code == 201
        (refused,) = hook.wait_for(1)  # fails once; with max_attempts 1 it is a dead letter
        assert verify_signature(secret, refused.headers, refused.body)
        assert json.loads(refused.body)["type"] == "dev.plinth.plan.created"
        dead = _wait_for_status(http, auth["pat"], "failed")
        redone = http.post(
            f"/api/v1/webhooks/deliveries/{dead['id']}/redeliver", headers=auth["pat"]
        )
        assert redone.status_code == 200 and redone.json()["status"] == "pending"
        _, delivered = hook.wait_for(2)
        assert delivered.answered == 204
        assert delivered.headers["webhook-id"] == refused.headers["webhook-id"]
        assert _wait_for_status(http, auth["pat"], "delivered")["id"] == dead["id"]


def _wait_for_status(http: TestClient, headers: dict[str, str], status: str) -> dict[str, Any]:
    """Wait for the first delivery with ``status`` (the dispatcher marks it after the POST)."""
    found: list[dict[str, Any]] = []

    def seen() -> bool:
        page = http.get(
            "/api/v1/webhooks/deliveries", params={"status": status}, headers=headers
        ).json()
        found[:] = page["items"]
        return bool(found)

    wait_until(seen, timeout=20)
    return found[0]


def test_the_cli_adds_lists_redelivers_and_removes(
    api: tuple[TestClient, dict[str, dict[str, str]], Platform], monkeypatch: pytest.MonkeyPatch
) -> None:
    http, auth, platform = api
    monkeypatch.setenv("COLUMNS", "250")
    for name in ("PLINTH_URL", "PLINTH_TOKEN", "PLINTH_CLI_CONFIG"):
        monkeypatch.delenv(name, raising=False)
    root = typer.Typer()
    root.add_typer(webhooks_app, name="webhooks")
    token = auth["pat"]["Authorization"].removeprefix("Bearer ")
    state = CliState(url="http://testserver", token=token, transport=forwarding(http))

    def cli(*args: str) -> Any:
        result = CliRunner().invoke(root, ["webhooks", *args], obj=state)
        assert result.exit_code == 0, result.output
        return result.stdout

    shown = cli("add", "https://ci.example.test/hook", "-t", "dev.plinth.*", "-d", "CI")
    assert "whsec_" in shown and "dev.plinth.*" in shown
    (hook,) = json.loads(cli("list", "-o", "json"))["items"]
    assert hook["url"] == "https://ci.example.test/hook" and hook["description"] == "CI"
    with platform.db.transaction() as session:  # what the leader's dispatcher does first
        repository.fan_out(session, now=platform.clock.now(), broker=False)
    items = json.loads(cli("deliveries", "--webhook", hook["id"], "-o", "json", "--all"))["items"]
    item = next(i for i in items if i["event_type"] == "dev.plinth.webhook.added")
    assert item["status"] == "pending" and item["target"] == hook["id"]
    assert "pending" in cli("deliveries", "--status", "pending")
    assert json.loads(cli("redeliver", str(item["id"]), "-o", "json"))["attempts"] == 0
    assert hook["id"] in cli("remove", hook["id"])
    assert "No webhooks." in cli("list")
    ada = CliState(
        url="http://testserver",
        token=auth["ada"]["Authorization"].removeprefix("Bearer "),
        transport=forwarding(http),
    )
    refused = CliRunner().invoke(root, ["webhooks", "list"], obj=ada)
    assert refused.exit_code == 3 and "platform-engineer" in refused.output
