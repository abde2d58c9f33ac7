"""Fixtures: a fake Kubernetes API server on loopback and a provider that talks to it."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from plinth.infrastructure.providers.base import ProviderContext
from plinth.infrastructure.providers.kubernetes.provider import KubernetesProvider
from tests.fakes.kube_apiserver import FakeKubeApiServer

SECRET = b"k" * 32


@pytest.fixture
def apiserver() -> Iterator[FakeKubeApiServer]:
    """A fake API server for one test, stopped afterwards."""
    with FakeKubeApiServer() as server:
        yield server


def kube_context(
    tmp_path: Path, server: FakeKubeApiServer, *, token: str | None = None, **settings: object
) -> ProviderContext:
    """Return a provider context whose kubeconfig points at ``server``."""
    config = tmp_path / f"kubeconfig-{token or 'good'}.yaml"
    config.write_text(server.kubeconfig(token=token))
    merged = {
        "kubernetes_kubeconfig": str(config),
        **{f"kubernetes_{k}": v for k, v in settings.items()},
    }
    return ProviderContext(data_dir=tmp_path, secret_key=SECRET, settings=merged)


@pytest.fixture
def provider(tmp_path: Path, apiserver: FakeKubeApiServer) -> Iterator[KubernetesProvider]:
    """A Kubernetes provider connected to the fake API server."""
    made = KubernetesProvider(kube_context(tmp_path, apiserver))
    yield made
    made.close()
