"""The fake provider passes the provider contract kit, like every real provider must."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager

import pytest

from plinth.core.errors import TemporaryError
from plinth.infrastructure.providers.base import Resource
from plinth.testing import ProviderContract, RemoveHook, Sample, TemporaryFailureHook, WorldCheck
from tests.fakes.provider import FakeProvider


def _resource(type_name: str, spec: dict[str, object]) -> Resource:
    return Resource(
        id=f"res_fake_{type_name}",
        type=type_name,
        name=f"contract-{type_name}",
        environment="dev",
        project="shop",
        spec=spec,
    )


PLACEHOLDER = {"image": "${resources.db.uri}"}


class TestFakeProviderContract(ProviderContract):
    """Every type the fake realises, with its honest test controls as the hooks."""

    samples = [
        Sample(
            _resource("service", {"ports": [{"name": "http", "port": 8080}]}),
            invalid_spec=PLACEHOLDER,
        ),
        Sample(_resource("postgres", {"database": "orders"}), invalid_spec=PLACEHOLDER),
        Sample(_resource("volume", {"size": "1Gi"}), invalid_spec=PLACEHOLDER),
        Sample(_resource("route", {"host": "shop.test", "path": "/"}), invalid_spec=PLACEHOLDER),
        Sample(_resource("job", {"schedule": None}), invalid_spec=PLACEHOLDER),
    ]

    @pytest.fixture
    def provider(self) -> FakeProvider:
        """A fresh fake world per test."""
        return FakeProvider()

    @pytest.fixture
    def world(self, provider: FakeProvider) -> WorldCheck:
        """Count the entries of the fake world directly, without ``observe``."""
        return lambda resource: sum(1 for e in provider.world.values() if e.id == resource.id)

    @pytest.fixture
    def remove_behind_back(self, provider: FakeProvider) -> RemoveHook:
        """Drift: the entry vanishes from the world."""

        def remove(resource: Resource) -> bool:
            provider.lose(resource.name)
            return True

        return remove

    @pytest.fixture
    def temporary_failure(self, provider: FakeProvider) -> TemporaryFailureHook:
        """Inject a TemporaryError into apply until the context ends."""

        @contextmanager
        def failing(resource: Resource) -> Iterator[None]:
            provider.fail(resource.name, TemporaryError("the fake API is busy"), times=None)
            try:
                yield
            finally:
                provider.heal(resource.name)

        def hook(resource: Resource) -> AbstractContextManager[object]:
            return failing(resource)

        return hook
