"""Small helpers shared by the end-to-end API tests (HTTP only, no Plinth imports)."""

from __future__ import annotations

import re
from typing import Any

import httpx

__all__ = [
    "PROBLEM",
    "all_items",
    "application",
    "assert_problem",
    "ledger",
    "plan",
    "score_workload",
    "secret_leaks",
]

PROBLEM = "https://plinth.dev/problems/"
URI_WITH_PASSWORD = re.compile(r"postgres(?:ql)?(?:\+\w+)?://[^:/@\s\"]+:[^@/\s\"]+@")


def application(name: str, *, memory: str = "512Mi", version: str = "1.0.0") -> str:
    """Return a web-service Application document."""
    return (
        "apiVersion: plinth.dev/v1\n"
        "kind: Application\n"
        f"metadata: {{name: {name}}}\n"
        "spec:\n"
        "  template: web-service\n"
        f'  version: "{version}"\n'
        "  parameters: {}\n"
        "  overrides:\n"
        f"    - {{path: containers.main.resources.limits.memory, value: {memory}}}\n"
    )


def score_workload(name: str, *, variables: str = "{}") -> str:
    """Return a Score workload running the demo web service (no database)."""
    return (
        "apiVersion: score.dev/v1b1\n"
        f"metadata: {{name: {name}}}\n"
        "containers:\n"
        "  main:\n"
        "    image: py:plinth_demo.webapp\n"
        f"    variables: {variables}\n"
        "service:\n"
        "  ports: {web: {port: 8080}}\n"
    )


def plan(client: httpx.Client, documents: str, *, environment: str = "dev") -> httpx.Response:
    """POST documents to /plans."""
    body = {"documents": documents, "file": "app.yaml", "environment": environment}
    return client.post("/api/v1/plans", json=body)


def assert_problem(response: httpx.Response, status: int, slug: str) -> dict[str, Any]:
    """Check a problem+json response and return its body."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    body: dict[str, Any] = response.json()
    assert body["type"] == PROBLEM + slug, body
    assert body["status"] == status
    assert body["title"] and body["detail"]
    return body


def all_items(client: httpx.Client, path: str, **params: Any) -> list[dict[str, Any]]:
    """Follow next_page_token to the end of a list."""
    items: list[dict[str, Any]] = []
    token: str | None = None
    while True:
        query = {**params, "limit": params.get("limit", 500)}
        if token:
            query["page_token"] = token
        response = client.get(path, params=query)
        assert response.status_code == 200, response.text
        page = response.json()
        items.extend(page["items"])
        token = page["next_page_token"]
        if not token:
            return items


def ledger(client: httpx.Client) -> tuple[int, int]:
    """Return (number of plans, number of audit records): what a refused request must not move."""
    return len(all_items(client, "/api/v1/plans")), len(all_items(client, "/api/v1/audit"))


def _bad_passwords(value: Any, where: str = "$") -> list[str]:
    found: list[str] = []
    if isinstance(value, dict):
        for key, item in value.items():
            path = f"{where}.{key}"
            if "password" in str(key).lower() and item not in ("<secret>", None):
                found.append(f"{path}={item!r}")
            found.extend(_bad_passwords(item, path))
    elif isinstance(value, list):
        for i, item in enumerate(value):
            found.extend(_bad_passwords(item, f"{where}[{i}]"))
    return found


def secret_leaks(response: httpx.Response, *, secrets: list[str]) -> list[str]:
    """Return every way a response shows a secret: the values, URIs with passwords, keys."""
    text = response.text
    leaks = [f"secret value in {response.request.url.path}" for s in secrets if s and s in text]
    leaks += [f"URI with password: {m.group(0)}" for m in URI_WITH_PASSWORD.finditer(text)]
    if response.headers.get("content-type", "").startswith("application/json"):
        leaks += _bad_passwords(response.json())
    return leaks
