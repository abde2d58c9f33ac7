"""Two replicas on one PostgreSQL store: kill the leader mid-work, the follower takes over.

Real ``plinth up`` processes share a fresh PostgreSQL database and one data dir
(as replicas behind one URL would share a volume). Nothing may be lost or done twice.
"""

from __future__ import annotations

import contextlib
import os
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.e2e.helpers import marked_processes, workload_ready
from tests.support import PlinthServer, free_port, temporary_pg_database, wait_until

pytestmark = pytest.mark.postgres

PG_URL = os.environ.get("PLINTH_TEST_PG_URL")

WORKLOAD = """
apiVersion: score.dev/v1b1
metadata:
  name: {name}
service:
  ports:
    web:
      port: 8080
containers:
  main:
    image: py:plinth_demo.webapp
    variables:
      PLINTH_SERVICE_NAME: ${{metadata.name}}
    readinessProbe:
      httpGet:
        path: /healthz
        port: 8080
resources:
  data:
    type: volume
"""
SERVICES = 4


def _replica(server: PlinthServer) -> dict[str, Any]:
    data: dict[str, Any] = httpx.get(server.url + "/healthz", timeout=5).json()["replica"]
    return data


@contextlib.contextmanager
def _two_replicas(tmp_path: Path) -> Iterator[tuple[PlinthServer, PlinthServer]]:
    from plinth.infrastructure.providers.local.provider import stop_local_runtime

    assert PG_URL is not None
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    with temporary_pg_database(PG_URL) as url:
        env = {
            **os.environ,
            "PLINTH_DATABASE_URL": url,
            "PLINTH_RECONCILE_INTERVAL": "0.5",
            "PYTHONUNBUFFERED": "1",
        }
        env.pop("PLINTH_CONFIG", None)
        servers = [PlinthServer(data_dir=data_dir, port=free_port(), env=env) for _ in range(2)]
        try:
            for server in servers:
                server.start()
            servers[1].tokens = servers[0].tokens  # the second found the store seeded
            yield servers[0], servers[1]
        finally:
            for server in servers:
                server.stop()
            stop_local_runtime(data_dir)


def _leader(servers: tuple[PlinthServer, ...]) -> PlinthServer | None:
    leading = [s for s in servers if _replica(s)["is_leader"]]
    return leading[0] if len(leading) == 1 else None


def _plan(api: httpx.Client, name: str) -> str:
    response = api.post(
        "/api/v1/plans", json={"environment": "dev", "documents": WORKLOAD.format(name=name)}
    )
    assert response.status_code == 201, response.text
    digest: str = response.json()["digest"]
    return digest


@pytest.mark.skipif(not PG_URL, reason="PLINTH_TEST_PG_URL is not set")
def test_killing_the_leader_loses_nothing_and_does_nothing_twice(tmp_path: Path) -> None:
    with _two_replicas(tmp_path) as (first, second):
        leader = wait_until(lambda: _leader((first, second)), timeout=30, what="one leader")
        follower = second if leader is first else first
        assert _replica(follower)["is_leader"] is False
        names = [f"replica-{n}" for n in range(SERVICES)]
        digests: dict[str, str] = {}
        with leader.client() as on_leader, follower.client() as on_follower:
            for n, name in enumerate(names):
                # A plan made on one replica is applied on the other, both ways.
                maker, applier = (on_follower, on_leader) if n % 2 else (on_leader, on_follower)
                digests[name] = _plan(maker, name)
                response = applier.post(f"/api/v1/plans/{digests[name]}/apply")
                assert response.status_code == 200, response.text
            # The same plan applied again, on either replica, is refused.
            again = on_leader.post(f"/api/v1/plans/{digests[names[1]]}/apply")
            assert again.status_code == 409, again.text
        # Kill the leader while it realises the work (processes start, volumes appear).
        leader.kill()
        new_leader = wait_until(
            lambda: _replica(follower)["is_leader"], timeout=60, what="the follower to lead"
        )
        assert new_leader
        with follower.client() as api:
            ready = {
                name: wait_until(
                    lambda name=name: workload_ready(api, name), timeout=120, what=name
                )
                for name in names
            }
            resources = api.get("/api/v1/resources", params={"limit": 500}).json()["items"]
            verify = api.get("/api/v1/audit/verify").json()
            records = _audit(api)
        # The killed replica comes back as a follower; both answer the same.
        leader.start()
        assert _replica(leader)["is_leader"] is False
        with leader.client() as again_api, follower.client() as api:
            listed = [
                sorted(
                    r["id"]
                    for r in c.get("/api/v1/resources", params={"limit": 500}).json()["items"]
                )
                for c in (again_api, api)
            ]
        processes = marked_processes(first.data_dir)
        # A clean stop (SIGTERM, as in a rolling update) hands the leadership over.
        follower.stop()
        assert follower.process is not None and follower.process.returncode == 0
        assert wait_until(lambda: _replica(leader)["is_leader"], timeout=60, what="a handover")

    assert verify["ok"], verify
    assert all(ready.values()), ready
    assert listed[0] == listed[1]
    counts = Counter(r["name"] for r in resources)
    assert set(counts) == {f"{n}{suffix}" for n in names for suffix in ("", "-data")}
    assert set(counts.values()) == {1}, counts
    # Exactly one workload process per service resource, none for anything else.
    services = {r["id"] for r in resources if r["type"] == "service"}
    assert set(processes) == services, processes
    assert all(len(pids) == 1 for pids in processes.values()), processes
    # Each plan was applied exactly once.
    applied = Counter(r["subject"] for r in records if r["action"] == "plan.applied")
    assert applied == Counter({f"plan/{d}": 1 for d in digests.values()}), applied


def _audit(api: httpx.Client) -> list[dict[str, Any]]:
    records: list[dict[str, Any]] = []
    token: str | None = None
    while True:
        params: dict[str, Any] = {"limit": 500}
        if token:
            params["page_token"] = token
        page = api.get("/api/v1/audit", params=params).json()
        records.extend(page["items"])
        token = page.get("next_page_token")
        if not token:
            return records
