"""Kill -9 the control plane at random points of an apply; nothing is lost or duplicated."""

from __future__ import annotations

import contextlib
import random
import threading
import time
from pathlib import Path
from typing import Any

import httpx

from tests.e2e.helpers import all_marked_resource_ids, marked_processes, workload_ready
from tests.support import start_server, wait_until

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
      DATABASE_URL: ${{resources.db.uri}}
      PLINTH_SERVICE_NAME: ${{metadata.name}}
    readinessProbe:
      httpGet:
        path: /healthz
        port: 8080
resources:
  db:
    type: postgres
  data:
    type: volume
"""
ROUNDS = 5


def _apply_in_background(client: httpx.Client, digest: str) -> threading.Thread:
    def run() -> None:
        # The server is killed mid-request: exactly the point.
        with contextlib.suppress(httpx.HTTPError):
            client.post(f"/api/v1/plans/{digest}/apply")

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread


def _converge(api: httpx.Client, name: str, digest: str) -> dict[str, Any]:
    plan = api.get(f"/api/v1/plans/{digest}").json()
    if plan["status"] != "applied":
        # The kill came before the decision was committed: the plan is still current.
        response = api.post(f"/api/v1/plans/{digest}/apply")
        assert response.status_code == 200, response.text
    result: dict[str, Any] = wait_until(
        lambda: workload_ready(api, name), timeout=120, what=f"{name} to converge"
    )
    return result


def test_kill_9_during_apply_never_loses_or_duplicates(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    rng = random.Random(20261128)
    names = [f"crash-{n}" for n in range(ROUNDS)]
    # From "before the decision commits" to "while the provider starts processes".
    delays = [0.0, 0.005, 0.05, rng.uniform(0.1, 0.6), rng.uniform(0.6, 1.5)]
    with start_server(data_dir) as server:
        for name, delay in zip(names, delays, strict=True):
            with server.client("ada") as api:
                plan = api.post(
                    "/api/v1/plans",
                    json={"environment": "dev", "documents": WORKLOAD.format(name=name)},
                )
                assert plan.status_code == 201, plan.text
                digest = plan.json()["digest"]
                thread = _apply_in_background(api, digest)
                time.sleep(delay)
                server.kill()
                thread.join(timeout=30)
            server.start()
            with server.client("ada") as api:
                _converge(api, name, digest)

        with server.client("ada") as api:
            resources = api.get("/api/v1/resources", params={"limit": 500}).json()["items"]
            audit = api.get("/api/v1/audit/verify").json()
            ready = {name: workload_ready(api, name) for name in names}

    assert audit["ok"], audit
    assert all(ready.values()), ready
    by_name: dict[str, int] = {}
    for resource in resources:
        by_name[resource["name"]] = by_name.get(resource["name"], 0) + 1
    assert all(count == 1 for count in by_name.values()), by_name
    assert set(by_name) == {f"{n}{suffix}" for n in names for suffix in ("", "-db", "-data")}
    assert all(r["observed_generation"] == r["generation"] for r in resources)
    assert all(r["healthy"] is not False for r in resources), resources
    # every volume directory belongs to a live resource, one per volume resource
    ids = {r["id"] for r in resources}
    volumes = {p.name for p in (data_dir / "volumes").iterdir()}
    assert volumes == {r["id"] for r in resources if r["type"] == "volume"}
    assert volumes <= ids


def test_restart_adopts_running_workloads(tmp_path: Path) -> None:
    """Processes outlive a killed control plane and are adopted, never started twice."""
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    with start_server(data_dir) as server:
        with server.client("ada") as api:
            plan = api.post(
                "/api/v1/plans",
                json={"environment": "dev", "documents": WORKLOAD.format(name="keep")},
            ).json()
            assert api.post(f"/api/v1/plans/{plan['digest']}/apply").status_code == 200
            ready = wait_until(lambda: workload_ready(api, "keep"), timeout=120, what="keep ready")
        service_id = next(r["id"] for r in ready["resources"] if r["type"] == "service")
        before = marked_processes(data_dir)[service_id]
        server.kill()
        server.start()
        with server.client("ada") as api:
            wait_until(lambda: workload_ready(api, "keep"), timeout=60, what="keep ready again")
            time.sleep(2)  # a few reconcile sweeps
            assert marked_processes(data_dir)[service_id] == before
            known = {r["id"] for r in api.get("/api/v1/resources").json()["items"]}
        assert all_marked_resource_ids(data_dir) <= known
