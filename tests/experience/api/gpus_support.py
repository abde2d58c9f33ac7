"""An in-process API with the accelerators router, over a busy pool (see ``gpu_world``).

``wire`` includes the router when ``create_app`` does not yet (the lead's wiring line).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from fastapi.testclient import TestClient
from tests.orchestration.conftest import World
from tests.orchestration.gpu_world import busy_pool

from plinth.experience.api.app import create_app
from plinth.experience.api.routes_gpus import router
from plinth.orchestration.platform import Platform

__all__ = ["GpusApi", "gpus_api", "wire"]


@dataclass
class GpusApi:
    """A test client of the API, the world behind it and the resource ids of the busy pool."""

    client: TestClient
    world: World
    ids: dict[str, str]

    def as_user(self, user: str) -> dict[str, str]:
        """Return the Authorization header of a demo user."""
        return {"Authorization": f"Bearer {self.world.tokens[user]}"}


def wire(platform: Platform) -> TestClient:
    """Return a client of the app with the accelerators routes included."""
    app = create_app(platform)
    if not any(getattr(r, "path", "") == "/api/v1/accelerators/queue" for r in app.routes):
        app.include_router(router)
    return TestClient(app)


@pytest.fixture
def gpus_api(world: World) -> Iterator[GpusApi]:
    """The busy pool and a client of the API."""
    ids = busy_pool(world)
    with wire(world.platform) as client:
        yield GpusApi(client, world, ids)
