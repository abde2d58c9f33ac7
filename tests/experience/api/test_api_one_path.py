"""End to end: plan → gates → decision → apply → observe, through the REST API.

A real control plane runs as a process on loopback with the local provider
(real processes, a real PostgreSQL for `postgres` resources); its own state is
in SQLite, then in PostgreSQL. Each test deploys under its own names.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import httpx
import psutil
import pytest
from tests.support import PlinthServer, wait_until

from .helpers import all_items, application, assert_problem, plan, score_workload, secret_leaks

pytestmark = pytest.mark.slow

DEV = {"environment": "dev"}


@dataclass
class Deployed:
    """An application applied in dev and running."""

    plan: dict[str, Any]
    applied: dict[str, Any]
    workload: dict[str, Any]

    def resource(self, type_: str) -> dict[str, Any]:
        """Return the workload's resource of one type."""
        return next(r for r in self.workload["resources"] if r["type"] == type_)


@pytest.fixture(scope="module")
def ada(server: PlinthServer) -> Iterator[httpx.Client]:
    """A client authenticated as ada (developer in team payments)."""
    with server.client("ada") as client:
        yield client


def running(client: httpx.Client, name: str) -> dict[str, Any] | None:
    """Return the workload once it and every resource is running and healthy."""
    workload: dict[str, Any] = client.get(f"/api/v1/workloads/{name}", params=DEV).json()
    settled = all(
        r["healthy"] and r["phase"] in ("running", "ready") for r in workload["resources"]
    )
    if workload["phase"] == "running" and workload["healthy"] and settled:
        return workload
    return None


def deploy(client: httpx.Client, name: str) -> Deployed:
    """Plan and apply a web-service application in dev, and wait until it runs."""
    created = plan(client, application(name))
    assert created.status_code == 201, created.text
    applied = client.post(f"/api/v1/plans/{created.json()['digest']}/apply")
    assert applied.status_code == 200, applied.text
    workload = wait_until(lambda: running(client, name), timeout=90, what=f"{name} to run")
    return Deployed(created.json(), applied.json(), workload)


@pytest.fixture(scope="module")
def shop(ada: httpx.Client) -> Deployed:
    """The web-service application ``shop``, deployed once per server."""
    return deploy(ada, "shop")


def test_plan_shows_changes_verdicts_and_digest(shop: Deployed) -> None:
    plan = shop.plan
    assert len(plan["digest"]) == 64
    assert (plan["environment"], plan["project"], plan["actor"]) == ("dev", "checkout", "ada")
    assert (plan["status"], plan["outcome"]) == ("planned", "allow")
    changes = {(c["kind"], c["type"], c["name"]): c["action"] for c in plan["changes"]}
    assert changes == {
        ("Application", None, "shop"): "create",
        ("Workload", None, "shop"): "create",
        ("Resource", "service", "shop"): "create",
        ("Resource", "postgres", "shop-db"): "create",
        ("Resource", "route", "shop-route"): "create",
    }
    assert {v["gate"]: v["verdict"] for v in plan["verdicts"]} == {
        "authorization": "allow",
        "autonomy": "allow",
        "cost": "allow",
        "template-bounds": "allow",
        "policy": "allow",
        "capacity": "allow",
    }
    assert all(v["reasons"] for v in plan["verdicts"])
    assert shop.applied["status"] == "applied"
    assert shop.applied["plan"]["status"] == "applied"
    assert isinstance(shop.applied["decision"]["seq"], int)


def test_apply_returns_the_decision_hash(ada: httpx.Client, shop: Deployed) -> None:
    decision = shop.applied["decision"]
    record = next(r for r in all_items(ada, "/api/v1/audit") if r["seq"] == decision["seq"])
    assert decision["hash"] == record["hash"]


def test_the_decision_is_on_the_audit_chain(ada: httpx.Client, shop: Deployed) -> None:
    records = {r["seq"]: r for r in all_items(ada, "/api/v1/audit")}
    decision = records[shop.applied["decision"]["seq"]]
    assert decision["action"] == "plan.decision"
    assert decision["subject"] == f"plan/{shop.plan['digest']}"
    assert decision["actor"] == "ada"
    assert decision["data"]["decision"] == "allow"
    actions = [r["action"] for r in records.values() if r["subject"] == decision["subject"]]
    assert actions == ["plan.created", "plan.decision", "plan.applied"]


def test_workload_is_listed_and_running(ada: httpx.Client, shop: Deployed) -> None:
    listed = {w["name"]: w for w in all_items(ada, "/api/v1/workloads", **DEV)}
    assert listed["shop"]["application"] == "shop"
    assert listed["shop"]["template"] == "web-service"
    assert listed["shop"]["template_version"] == "1.0.0"
    assert (listed["shop"]["phase"], listed["shop"]["healthy"]) == ("running", True)


def test_application_view_combines_its_workloads(ada: httpx.Client, shop: Deployed) -> None:
    app = ada.get("/api/v1/applications/shop", params=DEV).json()
    assert (app["phase"], app["healthy"]) == ("ready", True)
    assert (app["template"], app["template_version"]) == ("web-service", "1.0.0")
    assert app["parameters"] == {"port": 8080}
    assert app["overrides"] == [
        {"path": "containers.main.resources.limits.memory", "value": "512Mi"}
    ]
    [workload] = app["workloads"]
    assert (workload["name"], workload["phase"]) == ("shop", "running")
    listed = {a["name"]: a for a in all_items(ada, "/api/v1/applications", **DEV)}
    assert listed["shop"]["phase"] == "ready"


def test_service_answers_with_its_database_connected(shop: Deployed) -> None:
    service, route = shop.resource("service"), shop.resource("route")
    assert service["outputs"]["url"].startswith("http://127.0.0.1:")
    for url in (service["outputs"]["url"], route["outputs"]["url"]):
        answer = httpx.get(url, timeout=10)
        assert answer.status_code == 200
        assert answer.headers["content-type"] == "application/json"
        assert answer.json()["service"] == "shop"
        assert answer.json()["database"] == "connected"


def _database_password(service_id: str) -> str:
    """Read the DB password from the environment of the running service process."""
    for proc in psutil.process_iter():
        try:
            env = proc.environ()
        except psutil.Error:
            continue
        if env.get("PLINTH_RESOURCE_ID") == service_id and "DATABASE_URL" in env:
            return urlsplit(env["DATABASE_URL"]).password or ""
    raise AssertionError(f"no running process for service {service_id}")


def test_secrets_never_appear_in_api_responses(ada: httpx.Client, shop: Deployed) -> None:
    db = shop.resource("postgres")
    assert db["outputs"]["password"] == "<secret>"
    assert db["outputs"]["uri"] == "<secret>"
    assert db["outputs"]["username"]
    password = _database_password(shop.resource("service")["id"])
    assert len(password) >= 12
    digest = shop.plan["digest"]
    reads: list[tuple[str, dict[str, Any]]] = [
        ("/api/v1/audit", {"limit": 500}),
        ("/api/v1/plans", {"limit": 500}),
        (f"/api/v1/plans/{digest}", {}),
        ("/api/v1/workloads", DEV),
        ("/api/v1/workloads/shop", DEV),
        ("/api/v1/workloads/shop/describe", DEV),
        ("/api/v1/workloads/shop/logs", DEV),
        ("/api/v1/applications", DEV),
        ("/api/v1/applications/shop", DEV),
        ("/api/v1/resources", DEV),
    ]
    for path, params in reads:
        response = ada.get(path, params=params)
        assert response.status_code == 200, (path, response.text)
        assert secret_leaks(response, secrets=[password]) == [], path


def test_describe_has_events_and_history(ada: httpx.Client, shop: Deployed) -> None:
    described = ada.get("/api/v1/workloads/shop/describe", params=DEV).json()
    assert {r["name"] for r in described["resources"]} == {"shop", "shop-db", "shop-route"}
    created = {e["resource"] for e in described["events"] if e["reason"] == "Created"}
    assert created == {"shop", "shop-db", "shop-route"}
    assert all(e["at"] and e["message"] for e in described["events"])
    [first] = described["history"]
    assert (first["revision"], first["actor"], first["action"]) == (1, "ada", "create")
    assert first["plan"] == shop.plan["digest"]


def test_logs_return_the_service_output(ada: httpx.Client, shop: Deployed) -> None:
    lines = ada.get("/api/v1/workloads/shop/logs", params={**DEV, "tail": 10_000}).json()["lines"]
    assert any("plinth demo web service listening" in line for line in lines)
    assert all(line.startswith("[main] ") for line in lines)
    last = ada.get("/api/v1/workloads/shop/logs", params={**DEV, "tail": 3}).json()["lines"]
    assert len(last) == 3


def test_stale_plan_and_second_apply_are_conflicts(ada: httpx.Client) -> None:
    first = plan(ada, score_workload("stale", variables="{MODE: one}")).json()
    second = plan(ada, score_workload("stale", variables="{MODE: two}")).json()
    assert first["digest"] != second["digest"]
    assert ada.post(f"/api/v1/plans/{second['digest']}/apply").status_code == 200
    stale = assert_problem(ada.post(f"/api/v1/plans/{first['digest']}/apply"), 409, "conflict")
    assert re.match(r"the plan is stale: (Workload/dev/checkout/)?stale changed", stale["detail"])
    again = assert_problem(ada.post(f"/api/v1/plans/{second['digest']}/apply"), 409, "conflict")
    assert "already applied" in again["detail"]
    assert ada.get(f"/api/v1/plans/{first['digest']}").json()["status"] == "planned"


def test_production_needs_a_release_manager(server: PlinthServer, ada: httpx.Client) -> None:
    made = plan(ada, score_workload("prod-web"), environment="prod")
    assert made.status_code == 201
    assert (made.json()["outcome"], made.json()["status"]) == ("deny", "denied")
    digest = made.json()["digest"]
    denied = assert_problem(ada.post(f"/api/v1/plans/{digest}/apply"), 403, "gate-denied")
    authz = next(v for v in denied["verdicts"] if v["gate"] == "authorization")
    assert authz["verdict"] == "deny"
    assert "release-manager" in authz["reasons"][0]
    assert authz["suggestions"]
    assert denied["plan"]["digest"] == digest
    decisions = [
        r["data"]["decision"]
        for r in all_items(ada, "/api/v1/audit")
        if r["action"] == "plan.decision" and r["subject"] == f"plan/{digest}"
    ]
    assert decisions == ["deny"]
    with server.client("rita") as rita:
        applied = rita.post(f"/api/v1/plans/{digest}/apply")
    assert applied.status_code == 200, applied.text
    assert applied.json()["status"] == "applied"
    listed = all_items(ada, "/api/v1/workloads", environment="prod")
    assert [w["name"] for w in listed] == ["prod-web"]


def test_out_of_bounds_override_waits_for_a_platform_engineer(
    server: PlinthServer, ada: httpx.Client
) -> None:
    made = plan(ada, application("big", memory="4Gi")).json()
    assert (made["outcome"], made["status"]) == ("needs_approval", "needs_approval")
    bounds = next(v for v in made["verdicts"] if v["gate"] == "template-bounds")
    assert "4Gi exceeds max 1Gi" in bounds["reasons"][0]
    digest = made["digest"]
    waiting = ada.post(f"/api/v1/plans/{digest}/apply")
    assert waiting.status_code == 200
    assert waiting.json()["status"] == "waiting_approval"
    pending = all_items(ada, "/api/v1/approvals", status="pending")
    [entry] = [p for p in pending if p["digest"] == digest]
    assert entry["actor"] == "ada"
    assert "4Gi" in entry["reasons"][0]
    refused = ada.post(f"/api/v1/approvals/{digest}/approve", json={"reason": "mine"})
    assert "their own plan" in assert_problem(refused, 403, "forbidden")["detail"]
    with server.client("pat") as pat:
        approved = pat.post(f"/api/v1/approvals/{digest}/approve", json={"reason": "load test"})
    assert approved.status_code == 200, approved.text
    assert approved.json()["status"] == "approved"
    assert approved.json()["plan"]["approvals"][0]["approver"] == "pat"
    assert digest not in {p["digest"] for p in all_items(ada, "/api/v1/approvals")}
    applied = ada.post(f"/api/v1/plans/{digest}/apply")
    assert applied.status_code == 200, applied.text
    assert applied.json()["status"] == "applied"
    workload = ada.get("/api/v1/workloads/big", params=DEV).json()
    memory = workload["document"]["containers"]["main"]["resources"]["limits"]["memory"]
    assert memory == "4Gi"


def test_rejected_plan_cannot_be_applied(server: PlinthServer, ada: httpx.Client) -> None:
    digest = plan(ada, application("huge", memory="8Gi")).json()["digest"]
    with server.client("pat") as pat:
        rejected = pat.post(f"/api/v1/approvals/{digest}/deny", json={"reason": "too big"})
    assert rejected.json()["status"] == "rejected"
    refused = assert_problem(ada.post(f"/api/v1/plans/{digest}/apply"), 409, "conflict")
    assert "rejected" in refused["detail"]
    assert_problem(ada.get("/api/v1/workloads/huge", params=DEV), 404, "not-found")


def _refuses(url: str) -> bool:
    try:
        httpx.get(url, timeout=2)
    except httpx.HTTPError:
        return True
    return False


def test_delete_plan_destroys_every_resource(ada: httpx.Client) -> None:
    gone = deploy(ada, "gone")
    url = gone.resource("service")["outputs"]["url"]
    made = ada.post(
        "/api/v1/plans", json={"delete": {"kind": "Application", "name": "gone"}, **DEV}
    )
    assert made.status_code == 201, made.text
    actions = {(c["kind"], c["name"]): c["action"] for c in made.json()["changes"]}
    assert set(actions.values()) == {"delete"}
    assert ("Resource", "gone-db") in actions
    applied = ada.post(f"/api/v1/plans/{made.json()['digest']}/apply")
    assert applied.json()["status"] == "applied"
    names = {"gone", "gone-db", "gone-route"}

    def destroyed() -> bool:
        listed = {r["name"] for r in all_items(ada, "/api/v1/resources", **DEV)}
        return not listed & names

    wait_until(destroyed, timeout=60, what="the resources of gone to be destroyed")
    wait_until(lambda: _refuses(url), timeout=30, what=f"{url} to stop answering")
    assert_problem(ada.get("/api/v1/workloads/gone", params=DEV), 404, "not-found")
    destroyed_records = {
        r["subject"].rsplit("/", 1)[1]
        for r in all_items(ada, "/api/v1/audit")
        if r["action"] == "resource.destroyed"
    }
    assert names <= destroyed_records


def test_audit_pages_walk_every_record_exactly_once(ada: httpx.Client) -> None:
    everything = [r["seq"] for r in all_items(ada, "/api/v1/audit")]
    assert len(everything) > 10
    walked: list[int] = []
    token: str | None = None
    pages = 0
    while True:
        params: dict[str, Any] = {"limit": 2, **({"page_token": token} if token else {})}
        page = ada.get("/api/v1/audit", params=params).json()
        assert 1 <= len(page["items"]) <= 2
        walked.extend(r["seq"] for r in page["items"])
        pages += 1
        token = page["next_page_token"]
        if not token:
            break
    assert len(walked) == len(set(walked))
    assert walked == sorted(walked)
    assert walked[: len(everything)] == everything
    assert walked == list(range(1, len(walked) + 1))
    assert pages == (len(walked) + 1) // 2


def test_audit_chain_verifies(ada: httpx.Client) -> None:
    before = len(all_items(ada, "/api/v1/audit"))
    result = ada.get("/api/v1/audit/verify").json()
    assert result["ok"] is True
    assert result["first_bad"] is None
    assert result["checked"] >= before > 10
