"""The provider contract kit (``plinth.testing``) run against the Kubernetes provider.

The world is the fake API server (``tests/fakes/kube_apiserver.py``): the kit counts a
resource's main object there without the provider, deletes it there behind the
provider's back, and makes the server answer 503 for a temporary failure.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path

import pytest

from plinth.infrastructure.providers.base import Resource
from plinth.infrastructure.providers.kubernetes.names import RESOURCE_LABEL, resource_label_value
from plinth.infrastructure.providers.kubernetes.observe import MAIN_KINDS
from plinth.infrastructure.providers.kubernetes.provider import KubernetesProvider
from plinth.testing import ProviderContract, RemoveHook, Sample, TemporaryFailureHook, WorldCheck
from tests.fakes.kube_apiserver import KINDS, FakeKubeApiServer

from .catalogue import SECURE, VARIANTS, resource
from .conftest import kube_context

TOKEN = "contract-secret-t0ken"
SERVICE = {
    "containers": {"main": {"image": "registry.example/web:1", "env": {"TOKEN": TOKEN}}},
    "ports": [{"name": "http", "port": 8080}],
    "security": SECURE,
}
_PLURALS = {kind: (version, plural) for (version, plural), (kind, _) in KINDS.items()}


def _main_objects(server: FakeKubeApiServer, item: Resource) -> list[dict[str, object]]:
    found = server.all_with_label(RESOURCE_LABEL, resource_label_value(item.id))
    return [o for o in found if o["kind"] in MAIN_KINDS[item.type]]


class TestKubernetesContract(ProviderContract):
    """Every rule of the provider protocol, for each resource type the provider renders."""

    samples = (
        Sample(resource("service", SERVICE), {"containers": {}}, secrets=(TOKEN,)),
        Sample(resource("job", dict(VARIANTS["job-once"][1]), name="migrate"), {"timeout_s": 5}),
        Sample(
            resource("job", dict(VARIANTS["training-job"][1]), name="train"),
            {"containers": {}},
            label="gpu",
        ),
        Sample(resource("volume", {"size": "2Gi"}, name="data"), {"size": 5}),
        Sample(resource("secret", {"length": 24}, name="token"), {"length": 3}),
        Sample(resource("route", dict(VARIANTS["route-tls"][1]), name="site"), {"host": "h"}),
        Sample(
            resource("model-deployment", dict(VARIANTS["model-deployment"][1]), name="fraud"),
            {"model": "fraud"},
        ),
        Sample(resource("vm", dict(VARIANTS["vm-kernel"][1]), name="legacy"), {"image": {}}),
    )
    settle_timeout_s = 5.0

    @pytest.fixture
    def provider(
        self, tmp_path: Path, apiserver: FakeKubeApiServer
    ) -> Iterator[KubernetesProvider]:
        """A provider with the settings model deployments and VMs need."""
        context = kube_context(
            tmp_path,
            apiserver,
            model_server_image="registry.example/model-server:1",
            model_store_claim="models",
            vm_image_registry="registry.example/vm",
        )
        made = KubernetesProvider(context)
        yield made
        made.close()

    @pytest.fixture
    def world(self, apiserver: FakeKubeApiServer) -> WorldCheck:
        """Count the resource's main objects on the server."""
        return lambda item: len(_main_objects(apiserver, item))

    @pytest.fixture
    def remove_behind_back(self, apiserver: FakeKubeApiServer) -> RemoveHook:
        """Delete the resource's main object on the server, as someone with kubectl would."""

        def remove(item: Resource) -> bool:
            with apiserver.lock:
                for obj in _main_objects(apiserver, item):
                    version, plural = _PLURALS[str(obj["kind"])]
                    meta = obj["metadata"]
                    assert isinstance(meta, dict)
                    del apiserver.objects[(version, plural, meta["namespace"], meta["name"])]
            return True

        return remove

    @pytest.fixture
    def temporary_failure(self, apiserver: FakeKubeApiServer) -> TemporaryFailureHook:
        """Make the server answer 503 for a while."""

        @contextlib.contextmanager
        def unavailable() -> Iterator[None]:
            apiserver.fail_next(503, times=1000)
            try:
                yield
            finally:
                while apiserver.take_failure() is not None:
                    pass

        return lambda item: unavailable()
