"""Fixtures shared by every test: databases (SQLite and PostgreSQL) and platforms."""

from __future__ import annotations

import os
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from plinth.core.clock import FrozenClock
from plinth.core.config import Settings
from plinth.core.ids import SequentialIds
from plinth.infrastructure.store.db import Database
from tests.support import temporary_pg_database

PG_URL = os.environ.get("PLINTH_TEST_PG_URL")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """In CI, a missing PostgreSQL is an error, not a reason to skip."""
    if os.environ.get("CI") and not PG_URL:
        raise pytest.UsageError("CI must set PLINTH_TEST_PG_URL (.ci/run starts PostgreSQL)")


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A fresh, empty database URL: SQLite, then PostgreSQL (when PLINTH_TEST_PG_URL is set)."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'plinth.db'}"
        return
    if not PG_URL:
        pytest.skip("PLINTH_TEST_PG_URL is not set (.ci/run starts PostgreSQL and sets it)")
    with temporary_pg_database(PG_URL) as url:
        yield url


@pytest.fixture
def database(database_url: str) -> Iterator[Database]:
    """A migrated database on each backend."""
    db = Database(database_url)
    db.migrate()
    yield db
    db.dispose()


@pytest.fixture
def clock() -> FrozenClock:
    """A clock that only moves when the test says so."""
    return FrozenClock(datetime(2026, 11, 28, 12, 0, tzinfo=UTC))


@pytest.fixture
def ids() -> SequentialIds:
    """Predictable ids."""
    return SequentialIds()


@pytest.fixture
def settings(tmp_path: Path, database_url: str) -> Settings:
    """Settings for an embedded platform in a temporary data dir, on each backend."""
    return Settings(data_dir=tmp_path / "data", database_url=database_url, reconcile_interval_s=0.2)
