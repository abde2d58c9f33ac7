"""Shared fixtures: one data directory for the session, every process stopped at the end."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from plinth.infrastructure.providers.base import ProviderContext
from plinth.infrastructure.providers.local.provider import LocalProvider
from plinth.infrastructure.providers.local.runtime import stop_local_runtime

from .local_provider_helpers import SECRET


@pytest.fixture(scope="session")
def data_dir(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """One data directory for the whole session; its processes and cluster die at the end."""
    root = tmp_path_factory.mktemp("plinth-local")
    yield root
    stop_local_runtime(root, purge_postgres=True)


@pytest.fixture
def provider(data_dir: Path) -> LocalProvider:
    """A provider on the session's data directory."""
    return LocalProvider(ProviderContext(data_dir=data_dir, secret_key=SECRET))
