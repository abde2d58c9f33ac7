"""The janitor and right-sizing routes: candidates, run, undo, recommendations, errors."""

from __future__ import annotations

from tests.experience.api.janitor_support import JanitorApi, janitor_api
from tests.infrastructure.store import reuse
from tests.orchestration.conftest import world

shared_database_url = reuse.shared_database_url
database_url = reuse.emptied_database_url
__all__ = ["janitor_api", "world"]  # fixtures used by this module

PROBLEM = "https://plinth.dev/problems/"


def test_candidates_are_listed_for_any_user_with_pages(janitor_api: JanitorApi) -> None:
    api = janitor_api
    listed = api.client.get("/api/v1/janitor/candidates", headers=api.as_user("lee"))
    assert listed.status_code == 200, listed.text
    body = listed.json()
    assert {c["workload"] for c in body["items"]} == {"web", "api"}
    assert body["items"][0]["findings"][0]["kind"] == "idle"
    first = api.client.get(
        "/api/v1/janitor/candidates", params={"limit": 1}, headers=api.as_user("lee")
    ).json()
    assert len(first["items"]) == 1 and first["next_page_token"]
    second = api.client.get(
        "/api/v1/janitor/candidates",
        params={"limit": 1, "page_token": first["next_page_token"]},
        headers=api.as_user("lee"),
    ).json()
    assert second["next_page_token"] is None
    assert {first["items"][0]["workload"], second["items"][0]["workload"]} == {"web", "api"}
    bad = api.client.get(
        "/api/v1/janitor/candidates", params={"page_token": "%%%"}, headers=api.as_user("lee")
    )
    assert bad.status_code == 422 and bad.json()["type"] == PROBLEM + "invalid-input"
    assert api.client.get("/api/v1/janitor/candidates").status_code == 401


def test_run_needs_a_platform_engineer_or_the_agent(janitor_api: JanitorApi) -> None:
    api = janitor_api
    denied = api.client.post("/api/v1/janitor/run", headers=api.as_user("ada"))
    assert denied.status_code == 403 and denied.json()["type"] == PROBLEM + "forbidden"
    dry = api.client.post(
        "/api/v1/janitor/run", json={"dry_run": True}, headers=api.as_user("janitor")
    ).json()
    assert dry["dry_run"] and {s["action"] for s in dry["steps"]} == {"would_mark"}
    done = api.client.post("/api/v1/janitor/run", headers=api.as_user("pat")).json()
    assert sorted(s["action"] for s in done["steps"]) == [
        "marked",
        "marked",
        "notified",
        "notified",
    ]
    bad = api.client.post(
        "/api/v1/janitor/run", json={"dry_run": True, "now": 1}, headers=api.as_user("pat")
    )
    assert bad.status_code == 422


def test_undo_goes_through_the_callers_own_plan(janitor_api: JanitorApi) -> None:
    api = janitor_api
    api.client.post("/api/v1/janitor/run", headers=api.as_user("pat"))
    viewer = api.client.post(
        "/api/v1/janitor/web/undo", json={"environment": "dev"}, headers=api.as_user("lee")
    )
    assert viewer.status_code == 403 and viewer.json()["type"] == PROBLEM + "gate-denied"
    done = api.client.post(
        "/api/v1/janitor/web/undo", json={"environment": "dev"}, headers=api.as_user("ada")
    )
    assert done.status_code == 200, done.text
    assert done.json() | {"plan": "-"} == {
        "environment": "dev",
        "project": "checkout",
        "workload": "web",
        "status": "applied",
        "plan": "-",
        "removed": ["plinth.dev/janitor-mark"],
    }
    again = api.client.post(
        "/api/v1/janitor/web/undo", json={"environment": "dev"}, headers=api.as_user("ada")
    )
    assert again.status_code == 409
    missing = api.client.post(
        "/api/v1/janitor/nope/undo", json={"environment": "dev"}, headers=api.as_user("ada")
    )
    assert missing.status_code == 404
    no_env = api.client.post("/api/v1/janitor/web/undo", json={}, headers=api.as_user("ada"))
    assert no_env.status_code == 422


def test_rightsizing_recommendations(janitor_api: JanitorApi) -> None:
    api = janitor_api
    found = api.client.get(
        "/api/v1/rightsizing", params={"environment": "dev"}, headers=api.as_user("ada")
    ).json()
    web = next(i for i in found["items"] if i["workload"] == "web")
    assert (web["dimension"], web["current"], web["recommended"]) == ("cpu", None, "50m")
    assert web["percentile"] == 95 and web["samples"] == 168
    assert web["how"].startswith("set containers.main.resources.limits.cpu to 50m")
    none = api.client.get(
        "/api/v1/rightsizing", params={"environment": "prod"}, headers=api.as_user("ada")
    ).json()
    assert none == {"items": [], "next_page_token": None}
