"""End to end: authentication, the OpenAPI document, and bad input refused precisely.

A real control plane runs as a process on loopback (SQLite, then PostgreSQL as
the store). Every refused request must leave plans and the audit log untouched.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator

import httpx
import pytest
from tests.support import PlinthServer

from .helpers import application, assert_problem, ledger, plan, score_workload

pytestmark = pytest.mark.slow

CONTRACT_ROUTES = {
    ("GET", "/api/v1/whoami"),
    ("GET", "/api/v1/kinds"),
    ("GET", "/api/v1/schemas/{kind}"),
    ("GET", "/api/v1/environments"),
    ("GET", "/api/v1/teams"),
    ("GET", "/api/v1/projects"),
    ("GET", "/api/v1/users"),
    ("GET", "/api/v1/templates"),
    ("GET", "/api/v1/templates/{name}"),
    ("POST", "/api/v1/plans"),
    ("GET", "/api/v1/plans"),
    ("GET", "/api/v1/plans/{digest}"),
    ("POST", "/api/v1/plans/{digest}/apply"),
    ("GET", "/api/v1/approvals"),
    ("POST", "/api/v1/approvals/{digest}/approve"),
    ("POST", "/api/v1/approvals/{digest}/deny"),
    ("GET", "/api/v1/workloads"),
    ("GET", "/api/v1/workloads/{name}"),
    ("GET", "/api/v1/workloads/{name}/describe"),
    ("GET", "/api/v1/workloads/{name}/logs"),
    ("GET", "/api/v1/applications"),
    ("GET", "/api/v1/applications/{name}"),
    ("GET", "/api/v1/resources"),
    ("GET", "/api/v1/audit"),
    ("GET", "/api/v1/audit/verify"),
}


def api_routes(server: PlinthServer) -> list[tuple[str, str]]:
    """Every (method, concrete path) under /api/v1 that the OpenAPI document lists."""
    paths = httpx.get(server.url + "/openapi.json", timeout=10).json()["paths"]
    return sorted(
        (method.upper(), re.sub(r"\{[^}]+\}", "x", path))
        for path, operations in paths.items()
        if path.startswith("/api/v1/")
        for method in operations
    )


@pytest.fixture
def ada(server: PlinthServer) -> Iterator[httpx.Client]:
    """A client authenticated as ada (developer in team payments)."""
    with server.client("ada") as client:
        yield client


def test_healthz_answers_without_a_token(server: PlinthServer) -> None:
    response = httpx.get(server.url + "/healthz", timeout=10)
    assert response.status_code == 200
    assert response.json()["status"] == "ok"
    assert response.json()["version"]


def test_openapi_lists_every_contract_route(server: PlinthServer) -> None:
    document = httpx.get(server.url + "/openapi.json", timeout=10).json()
    listed = {
        (method.upper(), path)
        for path, operations in document["paths"].items()
        for method in operations
    }
    assert listed >= CONTRACT_ROUTES, sorted(CONTRACT_ROUTES - listed)
    assert ("GET", "/healthz") in listed


@pytest.mark.parametrize(
    "headers",
    [{}, {"Authorization": "Bearer not-a-real-token"}, {"Authorization": "Basic YWRhOmFkYQ=="}],
    ids=["missing", "wrong", "not-bearer"],
)
def test_every_api_route_refuses_a_request_without_a_valid_token(
    server: PlinthServer, headers: dict[str, str]
) -> None:
    routes = api_routes(server)
    assert len(routes) >= len(CONTRACT_ROUTES)
    with httpx.Client(base_url=server.url, headers=headers, timeout=10) as anonymous:
        for method, path in routes:
            body: dict[str, str] | None = {} if method == "POST" else None
            response = anonymous.request(method, path, json=body)
            problem = assert_problem(response, 401, "unauthenticated")
            assert response.headers["www-authenticate"] == "Bearer", (method, path)
            assert "token" in problem["detail"], (method, path)


def test_malformed_body_without_a_token_is_still_unauthenticated(server: PlinthServer) -> None:
    response = httpx.post(
        server.url + "/api/v1/plans",
        content=b"{not json",
        headers={"content-type": "application/json"},
        timeout=10,
    )
    assert_problem(response, 401, "unauthenticated")


def test_whoami_names_the_token_owner(ada: httpx.Client) -> None:
    me = ada.get("/api/v1/whoami").json()
    assert me["name"] == "ada"
    assert me["kind"] == "human"
    assert me["teams"] == ["payments"]
    assert {"role": "developer", "team": "payments"} in me["roles"]


BROKEN_SECOND_DOCUMENT = application("fine") + "---\napiVersion: score.dev/v1b1\nmetadata: [\n"
CYCLE = score_workload("loop", variables="{SELF: '${resources.route.url}'}") + (
    "resources:\n  route: {type: route, params: {host: loop.localhost, path: /, port: 8080}}\n"
)
SPEC_ERRORS = {
    "invalid-yaml": (BROKEN_SECOND_DOCUMENT, 1, "$", r"invalid YAML at line 1[0-9], column \d+"),
    "unknown-kind": (
        "apiVersion: plinth.dev/v1\nkind: Gadget\nmetadata: {name: g}\nspec: {}\n",
        0,
        "$.kind",
        r"unknown kind 'Gadget' for plinth.dev/v1 \(known: .*Application",
    ),
    "unknown-api-version": (
        "apiVersion: nope.dev/v9\nkind: Application\nmetadata: {name: a}\nspec: {}\n",
        0,
        "$.apiVersion",
        r"unknown apiVersion 'nope.dev/v9' \(known: .*score.dev/v1b1",
    ),
    "schema-violation": (
        "apiVersion: score.dev/v1b1\nmetadata: {name: w}\ncontainers:\n  main: {image: 5}\n",
        0,
        "$.containers.main.image",
        r"expected string, got integer",
    ),
    "missing-field": (
        "apiVersion: score.dev/v1b1\nmetadata: {name: w}\ncontainers:\n  main: {}\n",
        0,
        "$.containers.main.image",
        r"missing required field 'image'",
    ),
    "unknown-field-in-plinth-kind": (
        application("a").replace("  parameters: {}\n", "  parameters: {}\n  colour: red\n"),
        0,
        "$.spec.colour",
        r"unknown field 'colour' \(allowed: .*template",
    ),
    "unresolvable-placeholder": (
        score_workload("w", variables="{DB: '${resources.nope.uri}'}"),
        0,
        "$.containers.main.variables.DB",
        r"unresolvable placeholder \$\{resources.nope.uri\}.*no resource 'nope'",
    ),
    "dependency-cycle": (CYCLE, 0, "$", r"dependency cycle: loop -> loop-route -> loop"),
}


@pytest.mark.parametrize("case", sorted(SPEC_ERRORS))
def test_bad_spec_is_refused_with_a_precise_issue_and_nothing_changes(
    ada: httpx.Client, case: str
) -> None:
    documents, index, path, message = SPEC_ERRORS[case]
    before = ledger(ada)
    problem = assert_problem(plan(ada, documents), 422, "invalid-spec")
    issues = [i for i in problem["issues"] if i["document"] == index and i["path"] == path]
    assert issues, problem["issues"]
    assert issues[0]["file"] == "app.yaml"
    assert re.search(message, issues[0]["message"]), issues[0]["message"]
    assert path in problem["detail"]
    assert ledger(ada) == before


def test_unknown_field_in_the_body_is_refused(ada: httpx.Client) -> None:
    before = ledger(ada)
    body = {"documents": score_workload("w"), "environment": "dev", "force": True}
    problem = assert_problem(ada.post("/api/v1/plans", json=body), 422, "invalid-input")
    assert problem["issues"][0]["path"].endswith("$.force")
    assert "Extra inputs" in problem["issues"][0]["message"]
    assert ledger(ada) == before


def test_empty_documents_are_refused(ada: httpx.Client) -> None:
    before = ledger(ada)
    problem = assert_problem(plan(ada, "  \n"), 422, "invalid-input")
    assert "nothing to plan" in problem["detail"]
    assert ledger(ada) == before


def test_oversize_body_is_refused_with_413(ada: httpx.Client) -> None:
    before = ledger(ada)
    body = json.dumps({"documents": "#" * (1 << 20), "environment": "dev"}).encode()
    sized = ada.post("/api/v1/plans", content=body, headers={"content-type": "application/json"})
    problem = assert_problem(sized, 413, "too-large")
    assert "1048576" in problem["detail"]

    def chunks() -> Iterator[bytes]:
        for start in range(0, len(body), 64 * 1024):
            yield body[start : start + 64 * 1024]

    chunked = ada.post(
        "/api/v1/plans", content=chunks(), headers={"content-type": "application/json"}
    )
    assert "content-length" not in chunked.request.headers
    assert_problem(chunked, 413, "too-large")
    assert ledger(ada) == before


def test_unknown_environment_is_not_found(ada: httpx.Client) -> None:
    before = ledger(ada)
    problem = assert_problem(plan(ada, score_workload("w"), environment="mars"), 404, "not-found")
    assert "mars" in problem["detail"]
    assert "dev" in problem["detail"]
    assert ledger(ada) == before


@pytest.mark.parametrize("path", ["/api/v1/audit", "/api/v1/plans", "/api/v1/workloads"])
def test_bad_page_token_and_limits_are_refused(ada: httpx.Client, path: str) -> None:
    problem = assert_problem(ada.get(path, params={"page_token": "zzz"}), 422, "invalid-input")
    assert "page_token" in problem["detail"]
    for limit in (0, 501, -1):
        problem = assert_problem(ada.get(path, params={"limit": limit}), 422, "invalid-input")
        assert problem["issues"][0]["path"].endswith("$.limit")


def test_unknown_objects_are_not_found(ada: httpx.Client) -> None:
    assert_problem(ada.get("/api/v1/plans/" + "0" * 64), 404, "not-found")
    assert_problem(ada.post("/api/v1/plans/" + "0" * 64 + "/apply"), 404, "not-found")
    assert_problem(ada.get("/api/v1/templates/nope"), 404, "not-found")
    assert_problem(
        ada.get("/api/v1/workloads/nope", params={"environment": "dev"}), 404, "not-found"
    )
    problem = assert_problem(ada.get("/api/v1/workloads/nope"), 422, "invalid-input")
    assert problem["issues"][0]["path"].endswith("$.environment")


def test_unknown_kind_has_no_schema(ada: httpx.Client) -> None:
    assert_problem(ada.get("/api/v1/schemas/Nope"), 404, "not-found")


def test_a_forged_page_token_out_of_range_is_refused(ada: httpx.Client) -> None:
    import base64

    token = base64.urlsafe_b64encode(json.dumps({"after": 10**30}).encode()).decode()
    assert_problem(ada.get("/api/v1/audit", params={"page_token": token}), 422, "invalid-input")


def test_reviewing_an_unknown_plan_without_a_body_is_not_found(ada: httpx.Client) -> None:
    # The body is optional: the answer is about the plan, not a missing reason.
    assert_problem(ada.post("/api/v1/approvals/" + "0" * 64 + "/approve"), 404, "not-found")
