"""Fixtures of the orchestration tests: a real platform on a real store, with a fake world."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import pytest

from plinth.capabilities.identity import service as identity
from plinth.capabilities.identity.schemas import Actor
from plinth.core.clock import FrozenClock
from plinth.core.config import Settings
from plinth.core.ids import SequentialIds
from plinth.infrastructure.providers.base import ProviderContext
from plinth.infrastructure.providers.local.provider import LocalProvider, stop_local_runtime
from plinth.infrastructure.providers.registry import ProviderRegistry
from plinth.orchestration.platform import Platform
from tests.fakes.provider import FakeProvider, registry_with_fake
from tests.infrastructure.store import reuse

# One database per module and backend, emptied before each test (see reuse.py).
shared_database_url = reuse.shared_database_url
database_url = reuse.emptied_database_url


@dataclass
class World:
    """A prepared platform, its fake provider, its clock and the demo users."""

    platform: Platform
    fake: FakeProvider
    clock: FrozenClock
    tokens: dict[str, str]

    def actor(self, name: str) -> Actor:
        """Return a seeded user as an actor."""
        with self.platform.db.transaction() as session:
            return identity.actor_by_name(session, name)


@pytest.fixture
def world(settings: Settings, clock: FrozenClock, ids: SequentialIds) -> Iterator[World]:
    """A migrated, seeded platform whose provider is a ``FakeProvider``."""
    registry, fake = registry_with_fake()
    platform = Platform(settings, clock=clock, ids=ids, registry=registry)
    tokens = platform.prepare()
    try:
        yield World(platform=platform, fake=fake, clock=clock, tokens=tokens)
    finally:
        platform.stop()


@pytest.fixture
def local(settings: Settings, clock: FrozenClock, ids: SequentialIds) -> Iterator[Platform]:
    """A prepared platform whose only provider is the real local one; everything it starts
    (processes, QEMU guests, its PostgreSQL cluster) ends with it."""
    context = ProviderContext(data_dir=settings.data_dir.resolve(), secret_key=b"k" * 32)
    registry = ProviderRegistry()
    registry.register(LocalProvider(context))
    platform = Platform(settings, clock=clock, ids=ids, registry=registry)
    platform.prepare()
    try:
        yield platform
    finally:
        platform.stop()
        stop_local_runtime(settings.data_dir, purge_postgres=True)
