"""The Kubernetes provider's public surface is what its modules declare, and no more."""

from __future__ import annotations

import importlib
import subprocess
import sys

import pytest

import plinth.infrastructure.providers.kubernetes as package

MODULES = {
    "cluster": ["KINDS", "Cluster", "ClusterConfig", "Kind", "Missing", "kind_of"],
    "kueue": [
        "ACCELERATOR_NODE_LABEL",
        "KUEUE_API",
        "NodeLike",
        "PoolLike",
        "QueueLike",
        "render_kueue",
    ],
    "provider": ["DEFAULT_IGNORED_MANAGERS", "KubernetesProvider", "render_options"],
    "render": ["RENDERERS", "render"],
}


def test_the_package_exports_rendering() -> None:
    assert package.__all__ == ["RenderOptions", "render", "render_kueue"]


@pytest.mark.parametrize("name", sorted(MODULES))
def test_module_exports_are_pinned(name: str) -> None:
    module = importlib.import_module(f"plinth.infrastructure.providers.kubernetes.{name}")
    assert sorted(module.__all__) == sorted(MODULES[name])
    for exported in module.__all__:
        assert hasattr(module, exported)


def test_importing_the_provider_does_not_import_the_kubernetes_client() -> None:
    code = (
        "import sys, plinth, plinth.infrastructure.providers.kubernetes.provider; "
        "print(sorted(m for m in sys.modules if m.split('.')[0] == 'kubernetes'))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]"
