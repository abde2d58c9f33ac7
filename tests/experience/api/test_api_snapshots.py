"""``/api/v1/snapshots`` and ``plinth snapshot create|list|show|restore`` on a real local volume."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
import typer
from fastapi.testclient import TestClient
from tests.experience.api.janitor_support import forwarding
from tests.infrastructure.store import reuse
from tests.orchestration.specs import converge, resource
from typer.testing import CliRunner

from plinth.capabilities.identity import service as identity
from plinth.core.clock import FrozenClock
from plinth.core.config import Settings
from plinth.core.ids import SequentialIds
from plinth.experience.api.app import create_app
from plinth.experience.cli.context import CliState
from plinth.experience.cli.snapshots import snapshot_app
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
metadata: {name: keep}
containers:
  main: {image: "exec:sleep", args: ["60"]}
resources:
  files: {type: volume, params: {size: 1Gi}}
"""


@pytest.fixture
def client(
    settings: Settings, clock: FrozenClock, ids: SequentialIds
) -> Iterator[tuple[TestClient, dict[str, str], Platform]]:
    """An in-process API on a platform with the real local provider and one volume."""
    context = ProviderContext(data_dir=settings.data_dir.resolve(), secret_key=b"k" * 32)
    registry = ProviderRegistry()
    registry.register(LocalProvider(context))
    platform = Platform(settings, clock=clock, ids=ids, registry=registry)
    platform.prepare()
    tokens: dict[str, str] = {}
    with platform.db.transaction() as session:
        for user in ("ada", "lee"):
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


def test_snapshots_over_http(client: tuple[TestClient, dict[str, str], Platform]) -> None:
    http, tokens, platform = client
    folder = Path(resource(platform, "keep-files").outputs["path"])
    (folder / "data.txt").write_text("v1")
    body = {"resource": "keep-files", "environment": "dev", "note": "nightly"}
    made = http.post("/api/v1/snapshots", json=body, headers=_as(tokens, "ada"))
    assert made.status_code == 201, made.text
    snap = made.json()
    assert snap["status"] == "ready" and snap["resource"]["name"] == "keep-files"
    assert http.get(f"/api/v1/snapshots/{snap['id']}", headers=_as(tokens, "lee")).json() == snap

    no_project = http.post("/api/v1/snapshots", json=body, headers=_as(tokens, "lee"))
    assert no_project.status_code == 422 and "--project" in no_project.json()["detail"]
    body["project"] = "checkout"
    denied = http.post("/api/v1/snapshots", json=body, headers=_as(tokens, "lee"))
    assert denied.status_code == 403 and denied.json()["type"] == PROBLEM + "forbidden"
    missing = http.post(
        "/api/v1/snapshots", json=body | {"resource": "nope"}, headers=_as(tokens, "ada")
    )
    assert missing.status_code == 404 and "keep-files" in missing.json()["detail"]
    bad = http.post("/api/v1/snapshots", json={"resource": "x"}, headers=_as(tokens, "ada"))
    assert bad.status_code == 422
    assert http.get("/api/v1/snapshots").status_code == 401
    gone = http.post("/api/v1/snapshots/snap_nope/restore", headers=_as(tokens, "ada"))
    assert gone.status_code == 404

    (folder / "data.txt").write_text("v2")
    url = f"/api/v1/snapshots/{snap['id']}/restore"
    assert http.post(url, headers=_as(tokens, "lee")).status_code == 403
    restored = http.post(url, headers=_as(tokens, "ada"))
    assert restored.status_code == 200, restored.text
    assert (folder / "data.txt").read_text() == "v1"
    page = http.get("/api/v1/snapshots", params={"limit": 1}, headers=_as(tokens, "ada")).json()
    assert [s["id"] for s in page["items"]] == [snap["id"]] and page["next_page_token"] is None


def test_snapshot_cli(
    client: tuple[TestClient, dict[str, str], Platform], monkeypatch: pytest.MonkeyPatch
) -> None:
    http, tokens, _ = client
    monkeypatch.setenv("COLUMNS", "250")
    for name in ("PLINTH_URL", "PLINTH_TOKEN", "PLINTH_CLI_CONFIG"):
        monkeypatch.delenv(name, raising=False)
    root = typer.Typer()
    root.add_typer(snapshot_app, name="snapshot")
    state = CliState(url="http://testserver", token=tokens["ada"], transport=forwarding(http))
    run = CliRunner()
    args = ["snapshot", "create", "keep-files", "--env", "dev", "--note", "cli", "-o", "json"]
    made = run.invoke(root, args, obj=state)
    assert made.exit_code == 0, made.output
    snap_id = json.loads(made.stdout)["id"]
    shown = run.invoke(root, ["snapshot", "list", "--env", "dev"], obj=state)
    assert shown.exit_code == 0, shown.output
    assert snap_id in shown.stdout and "volume/keep-files" in shown.stdout
    listed = run.invoke(root, ["snapshot", "list", "--output", "json"], obj=state)
    assert [s["id"] for s in json.loads(listed.stdout)["items"]] == [snap_id]
    detail = run.invoke(root, ["snapshot", "show", snap_id], obj=state)
    assert detail.exit_code == 0 and "consistency:" in detail.stdout
    restored = run.invoke(root, ["snapshot", "restore", snap_id], obj=state)
    assert restored.exit_code == 0, restored.output
    assert "ready" in restored.stdout
    missing = run.invoke(root, ["snapshot", "restore", "snap_nope"], obj=state)
    assert missing.exit_code != 0 and "no snapshot" in missing.output
