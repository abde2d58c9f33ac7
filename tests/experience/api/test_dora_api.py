"""GET /dora, /dora/series, /readiness and POST /dora/commits, over a real platform."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

import pytest
from fastapi.testclient import TestClient
from tests.infrastructure.store import reuse
from tests.orchestration.conftest import World, world
from tests.orchestration.specs import converge, workload

from plinth.experience.api.app import create_app

shared_database_url = reuse.shared_database_url
database_url = reuse.emptied_database_url
__all__ = ["world"]  # fixtures used by this module

PROBLEM = "https://plinth.dev/problems/"


@pytest.fixture
def client(world: World) -> Iterator[TestClient]:
    """A client of the whole app over the world's platform."""
    with TestClient(create_app(world.platform)) as test_client:
        yield test_client


def auth(world: World, user: str) -> dict[str, str]:
    """Return the Authorization header of a demo user."""
    return {"Authorization": f"Bearer {world.tokens[user]}"}


def test_commit_apply_running_shows_in_metrics_and_series(world: World, client: TestClient) -> None:
    ada = auth(world, "ada")
    body = {"documents": workload("web", db=None), "file": "web.yaml", "environment": "dev"}
    plan = client.post("/api/v1/plans", json=body, headers=ada).json()
    committed = (world.clock.now() - timedelta(minutes=30)).isoformat()
    answer = client.post(
        "/api/v1/dora/commits",
        json={"plan": plan["digest"], "sha": "0123abc", "time": committed},
        headers=ada,
    )
    assert answer.status_code == 201, answer.text
    assert answer.json()["sha"] == "0123abc"
    applied = client.post(f"/api/v1/plans/{plan['digest']}/apply", headers=ada)
    assert applied.status_code == 200, applied.text
    world.clock.advance(300)
    converge(world.platform)

    got = client.get("/api/v1/dora", params={"team": "payments"}, headers=auth(world, "lee"))
    assert got.status_code == 200, got.text
    metrics = got.json()
    assert metrics["team"] == "payments"
    assert metrics["deployment_frequency"]["deployments"] == 1
    assert metrics["lead_time"]["median_s"] == pytest.approx(35 * 60)
    assert metrics["lead_time"]["band"] == "elite"
    assert set(metrics["bands"]) == {
        "deployment_frequency",
        "lead_time",
        "change_failure_rate",
        "time_to_restore",
    }
    series = client.get(
        "/api/v1/dora/series", params={"team": "payments", "weeks": 3}, headers=ada
    ).json()
    assert len(series["items"]) == 3
    assert series["items"][-1]["deployments"] == 1
    assert sum(p["deployments"] for p in series["items"]) == 1
    audit = client.get("/api/v1/audit", params={"limit": 500}, headers=auth(world, "sam")).json()
    assert "plan.commit" in {r["action"] for r in audit["items"]}


def test_bad_input_and_no_token(world: World, client: TestClient) -> None:
    lee = auth(world, "lee")
    assert client.get("/api/v1/dora").status_code == 401
    bad = client.get("/api/v1/dora", params={"window_days": 0}, headers=lee)
    assert bad.status_code == 422 and bad.json()["type"].startswith(PROBLEM)
    assert client.get("/api/v1/dora/series", params={"weeks": 500}, headers=lee).status_code == 422
    missing = client.post(
        "/api/v1/dora/commits",
        json={"plan": "0" * 64, "sha": "abcdef1", "time": "2026-11-01T10:00:00Z"},
        headers=auth(world, "ada"),
    )
    assert missing.status_code == 404
    hostile = client.post(
        "/api/v1/dora/commits",
        json={"plan": "0" * 64, "sha": "<script>", "time": "yesterday"},
        headers=auth(world, "ada"),
    )
    assert hostile.status_code in (400, 422)
    empty = client.get("/api/v1/dora", params={"environment": "prod"}, headers=lee).json()
    assert empty["deployment_frequency"]["deployments"] == 0


def test_ai_readiness_counts_what_the_platform_holds(world: World, client: TestClient) -> None:
    lee = auth(world, "lee")
    assert client.get("/api/v1/readiness").status_code == 401
    assert client.get("/api/v1/readiness", params={"days": 0}, headers=lee).status_code == 422
    found = client.get("/api/v1/readiness", headers=lee).json()
    for key in ("teams_with_accelerator_quota", "model_versions_signed", "agents_with_envelope"):
        item = found[key]
        assert 0 <= item["count"] <= item["total"]
        expected = round(item["count"] / item["total"], 4) if item["total"] else None
        assert item["share"] == expected
    # The demo organisation: three teams, the lab pool's quotas, deploy-bot's envelope.
    assert found["teams_with_accelerator_quota"]["total"] == 3
    assert found["teams_with_accelerator_quota"]["count"] >= 1
    assert found["agents_with_envelope"] == {"count": 1, "total": 1, "share": 1.0}
    assert found["gateway_inference"] == {
        "days": 30,
        "requests": 0,
        "blocked": 0,
        "redactions": 0,
        "refused": 0,
    }
