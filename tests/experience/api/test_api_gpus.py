"""GET /accelerators/pools and /accelerators/queue: any signed-in user, paged, filtered."""

from __future__ import annotations

from tests.experience.api.gpus_support import GpusApi, gpus_api
from tests.infrastructure.store import reuse
from tests.orchestration.conftest import world

shared_database_url = reuse.shared_database_url
database_url = reuse.emptied_database_url
__all__ = ["gpus_api", "world"]  # fixtures used by this module

PROBLEM = "https://plinth.dev/problems/"


def test_pools_are_readable_by_any_user(gpus_api: GpusApi) -> None:
    api = gpus_api
    listed = api.client.get("/api/v1/accelerators/pools", headers=api.as_user("lee"))
    assert listed.status_code == 200, listed.text
    body = listed.json()
    assert body["next_page_token"] is None
    (lab,) = body["items"]
    assert lab["name"] == "lab" and lab["used"] == {"L4": 4}
    assert [n["name"] for n in lab["nodes"]] == ["gpu-a", "gpu-b"]
    queues = {q["team"]: q for q in lab["queues"]}
    assert queues["ml-research"]["borrowed"] == {"L4": 1}
    assert api.client.get("/api/v1/accelerators/pools").status_code == 401


def test_queue_is_ordered_paged_and_filtered(gpus_api: GpusApi) -> None:
    api = gpus_api
    url = "/api/v1/accelerators/queue"
    whole = api.client.get(url, headers=api.as_user("sam")).json()["items"]
    assert [(e["position"], e["workload"]) for e in whole[:2]] == [(1, "small"), (2, "big")]
    assert {e["workload"] for e in whole[2:]} == {"train", "extra", "infer"}
    first = api.client.get(url, params={"limit": 2}, headers=api.as_user("lee")).json()
    assert [e["workload"] for e in first["items"]] == ["small", "big"]
    assert first["next_page_token"]
    rest = api.client.get(
        url,
        params={"limit": 500, "page_token": first["next_page_token"]},
        headers=api.as_user("lee"),
    ).json()
    assert rest["items"] == whole[2:] and rest["next_page_token"] is None
    mine = api.client.get(url, params={"team": "payments"}, headers=api.as_user("ada")).json()
    assert [(e["workload"], e["position"]) for e in mine["items"]] == [
        ("small", 1),
        ("infer", None),
    ]
    bad = api.client.get(url, params={"page_token": "%%%"}, headers=api.as_user("lee"))
    assert bad.status_code == 422 and bad.json()["type"] == PROBLEM + "invalid-input"
    assert api.client.get(url, params={"limit": 0}, headers=api.as_user("lee")).status_code == 422
    assert api.client.get(url).status_code == 401
