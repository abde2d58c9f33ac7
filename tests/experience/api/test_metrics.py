"""``GET /metrics`` (Prometheus text format) and the HTTP server span, scraped over HTTP."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families
from prometheus_client.samples import Sample
from tests.fakes.provider import registry_with_fake
from tests.infrastructure.store import reuse
from tests.orchestration.specs import workload

from plinth.capabilities.identity import service as identity
from plinth.core import tracing
from plinth.core.clock import FrozenClock
from plinth.core.config import Settings
from plinth.core.ids import SequentialIds
from plinth.experience.api.app import create_app
from plinth.orchestration.platform import Platform

shared_database_url = reuse.shared_database_url
database_url = reuse.emptied_database_url

TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"
TRACEPARENT = f"00-{TRACE_ID}-00f067aa0ba902b7-01"


def _client(settings: Settings, clock: FrozenClock, ids: SequentialIds) -> Iterator[TestClient]:
    registry, _ = registry_with_fake()
    platform = Platform(settings, clock=clock, ids=ids, registry=registry)
    platform.prepare()
    with platform.db.transaction() as session:
        actor = identity.actor_by_name(session, "ada")
        token = identity.issue_token(session, user_id=actor.id, ids=ids, clock=clock)
    try:
        with TestClient(create_app(platform)) as client:
            client.headers["Authorization"] = f"Bearer {token}"
            yield client
    finally:
        platform.stop()
        tracing.configure("none")


@pytest.fixture
def api(settings: Settings, clock: FrozenClock, ids: SequentialIds) -> Iterator[TestClient]:
    """An in-process API on a seeded platform (fake provider), authenticated as ada."""
    yield from _client(settings, clock, ids)


def scrape(client: TestClient, **headers: str) -> dict[str, list[Sample]]:
    """GET /metrics and parse it with prometheus-client's own parser."""
    response = client.get("/metrics", headers=headers)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/plain")
    families = text_string_to_metric_families(response.text)
    return {f.name: list(f.samples) for f in families}


def value(samples: list[Sample], name: str, **labels: str) -> float:
    """Return the sample called ``name`` whose labels include ``labels`` (0 when absent)."""
    found = [s.value for s in samples if s.name == name and labels.items() <= s.labels.items()]
    return sum(found)


def test_metrics_count_requests_plans_gates_and_the_outbox(api: TestClient) -> None:
    before = scrape(api)
    plans = value(before.get("plinth_plans", []), "plinth_plans_total", outcome="allow")
    request = {"environment": "dev", "documents": workload("web")}
    assert api.post("/api/v1/plans", json=request).status_code == 201
    assert api.get("/api/v1/workloads/nope", params={"environment": "dev"}).status_code == 404
    after = scrape(api)
    assert value(after["plinth_plans"], "plinth_plans_total", outcome="allow") == plans + 1
    route = "/api/v1/workloads/{name}"
    assert (
        value(
            after["plinth_http_requests"], "plinth_http_requests_total", route=route, status="404"
        )
        >= 1
    )
    assert (
        value(
            after["plinth_http_request_duration_seconds"],
            "plinth_http_request_duration_seconds_count",
            route="/api/v1/plans",
            method="POST",
        )
        >= 1
    )
    verdicts = after["plinth_gate_verdicts"]
    assert {s.labels["gate"] for s in verdicts} >= {"authorization", "cost", "policy"}
    assert value(after["plinth_outbox_backlog"], "plinth_outbox_backlog") >= 1  # no leader yet
    assert value(after["plinth_leader"], "plinth_leader") == 0
    assert "process_cpu_seconds" in after and "plinth_reconcile_duration_seconds" in after
    assert all("nope" not in s.labels.get("route", "") for s in after["plinth_http_requests"])


@pytest.fixture
def guarded(settings: Settings, clock: FrozenClock, ids: SequentialIds) -> Iterator[TestClient]:
    """An API whose /metrics needs a token; spans go to the in-memory exporter."""
    update = {"metrics_token": "scrape-me", "tracing_exporter": "memory"}
    yield from _client(settings.model_copy(update=update), clock, ids)


def test_a_metrics_token_is_required_when_set(guarded: TestClient) -> None:
    refused = guarded.get("/metrics")
    assert refused.status_code == 401 and refused.headers["www-authenticate"] == "Bearer"
    assert guarded.get("/metrics", headers={"Authorization": "Bearer wrong"}).status_code == 401
    assert "plinth_leader" in scrape(guarded, Authorization="Bearer scrape-me")


def test_a_request_continues_the_callers_trace(guarded: TestClient) -> None:
    exporter = tracing.memory_exporter()
    assert exporter is not None
    request = {"environment": "dev", "documents": workload("web")}
    made = guarded.post("/api/v1/plans", json=request, headers={"traceparent": TRACEPARENT})
    assert made.status_code == 201
    spans = [s for s in exporter.get_finished_spans() if s.context is not None]
    mine = [s for s in spans if f"{s.context.trace_id:032x}" == TRACE_ID]
    server = next(s for s in mine if s.name == "POST /api/v1/plans")
    assert server.parent is not None and f"{server.parent.span_id:016x}" == "00f067aa0ba902b7"
    assert server.attributes is not None and server.attributes["http.response.status_code"] == 201
    names = {s.name for s in mine}
    assert {"plinth.plan", "plinth.gate", "plinth.record"} <= names
