"""An in-process API with the janitor router, on a platform whose provider is fake.

The janitor's HTTP and CLI adapters are tested against the real application
(``create_app``) and the real platform; only the world behind the provider is
fake. ``wire`` does what the platform's own wiring does (``platform.janitor``,
the router) when it is not there yet.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta

import httpx
import pytest
from fastapi.testclient import TestClient
from tests.capabilities.finops.janitor_world import meter, price_local
from tests.orchestration.conftest import World
from tests.orchestration.specs import converge, resource, workload

from plinth.capabilities.identity import service as identity
from plinth.experience.api.app import create_app
from plinth.experience.api.routes_janitor import router
from plinth.orchestration.janitor import JANITOR_NAME, Janitor, seed_janitor
from plinth.orchestration.plans import PlanRequest
from plinth.orchestration.platform import Platform

__all__ = ["JanitorApi", "forwarding", "janitor_api", "wire"]


@dataclass
class JanitorApi:
    """A test client of the API plus the tokens of the demo users and the janitor."""

    client: TestClient
    world: World
    tokens: dict[str, str]

    def as_user(self, user: str) -> dict[str, str]:
        """Return the Authorization header of a user."""
        return {"Authorization": f"Bearer {self.tokens[user]}"}


def wire(platform: Platform) -> TestClient:
    """Return a client of the app with the janitor attached and its routes included."""
    if not isinstance(getattr(platform, "janitor", None), Janitor):
        setattr(platform, "janitor", Janitor(platform))  # noqa: B010 - the lead's wiring line
    app = create_app(platform)
    if not any(getattr(r, "path", "") == "/api/v1/janitor/run" for r in app.routes):
        app.include_router(router)
    return TestClient(app)


def forwarding(client: TestClient) -> httpx.MockTransport:
    """Return a transport that hands every request to the in-process app."""

    def handle(request: httpx.Request) -> httpx.Response:
        reply = client.request(
            request.method,
            request.url.raw_path.decode(),
            headers=dict(request.headers),
            content=request.content,
        )
        return httpx.Response(reply.status_code, headers=reply.headers, content=reply.content)

    return httpx.MockTransport(handle)


def _janitor_token(world: World) -> str:
    p = world.platform
    with p.db.transaction() as session:
        token = seed_janitor(session, ids=p.ids, clock=world.clock)
        if not token:
            agent = identity.actor_by_name(session, JANITOR_NAME)
            token = identity.issue_token(session, user_id=agent.id, ids=p.ids, clock=world.clock)
        price_local(session, ids=p.ids, clock=world.clock, provider="fake", price_type="on_demand")
    return token


def _idle_web(world: World, name: str) -> None:
    p = world.platform
    ada = world.actor("ada")
    plan = p.plan(ada, PlanRequest(environment="dev", documents=workload(name, db=None)))
    p.apply(ada, plan["digest"])
    converge(p)
    record = resource(p, name)
    with p.db.transaction() as session:
        row = session.get(type(record), record.id)
        assert row is not None
        start = world.clock.now() - timedelta(days=7)
        meter(session, row, start=start, hours=168, cpu=0.001, requested_cpu=0.5)


@pytest.fixture
def janitor_api(world: World) -> Iterator[JanitorApi]:
    """Two idle workloads (web, api) in dev, the janitor agent, and a client of the API."""
    tokens = dict(world.tokens) | {"janitor": _janitor_token(world)}
    for name in ("web", "api"):
        _idle_web(world, name)
    with wire(world.platform) as client:
        yield JanitorApi(client, world, tokens)
