"""A platform with the billing routes, served over real HTTP on loopback from a thread."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import uvicorn
from fastapi import FastAPI
from tests.fakes.provider import registry_with_fake
from tests.support import free_port, wait_until

from plinth.core.clock import Clock
from plinth.core.config import Settings
from plinth.core.ids import IdFactory
from plinth.experience.api.app import create_app
from plinth.experience.api.routes_billing import router
from plinth.orchestration.billing import Billing
from plinth.orchestration.platform import Platform

__all__ = ["BillingServer", "billing_app", "billing_server"]


def billing_app(platform: Platform) -> FastAPI:
    """The platform's app with the billing routes and facade (added here until wired in)."""
    vars(platform).setdefault("billing", Billing(platform.db, platform.clock))
    app = create_app(platform)
    if not any(getattr(r, "path", "") == "/api/v1/cost/import" for r in app.routes):
        app.include_router(router)
    return app


@dataclass(frozen=True)
class BillingServer:
    """Where the server listens and the demo users' tokens."""

    url: str
    tokens: dict[str, str]

    def auth(self, user: str) -> dict[str, str]:
        """Return the Authorization header of a demo user."""
        return {"Authorization": f"Bearer {self.tokens[user]}"}


@contextmanager
def billing_server(settings: Settings, *, clock: Clock, ids: IdFactory) -> Iterator[BillingServer]:
    """Prepare a platform (fake provider) and serve it until the block ends."""
    registry, _ = registry_with_fake()
    platform = Platform(settings, clock=clock, ids=ids, registry=registry)
    tokens = platform.prepare()
    port = free_port()
    config = uvicorn.Config(
        billing_app(platform),
        host="127.0.0.1",
        port=port,
        log_level="warning",
        access_log=False,
        lifespan="off",
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, name="billing-api", daemon=True)
    thread.start()
    try:
        wait_until(lambda: server.started, timeout=30, what="the billing API to listen")
        yield BillingServer(url=f"http://127.0.0.1:{port}", tokens=tokens)
    finally:
        server.should_exit = True
        thread.join(timeout=30)
        platform.stop()
