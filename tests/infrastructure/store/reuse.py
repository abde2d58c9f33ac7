"""One migrated database per test module and backend, emptied before every test.

Creating and migrating a database costs about half a second on PostgreSQL;
emptying every table costs milliseconds. A test module (or conftest) opts in with::

    shared_database_url = reuse.shared_database_url
    database_url = reuse.emptied_database_url

and keeps using the ``database`` and ``settings`` fixtures of ``tests/conftest.py``;
tests that use no database stay unparametrised.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

import plinth.capabilities.audit.models
import plinth.capabilities.identity.models
import plinth.capabilities.inventory.models
import plinth.orchestration.records  # noqa: F401 - every table is declared on Base
from plinth.infrastructure.store.db import Base, Database
from tests.conftest import PG_URL
from tests.support import temporary_pg_database

__all__ = ["emptied_database_url", "empty", "shared_database_url"]


@pytest.fixture(
    scope="module", params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)]
)
def shared_database_url(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    """A database URL shared by one module's tests: SQLite, then PostgreSQL when configured."""
    if request.param == "sqlite":
        folder: Path = tmp_path_factory.mktemp("store")
        yield f"sqlite:///{folder / 'plinth.db'}"
        return
    if not PG_URL:
        pytest.skip("PLINTH_TEST_PG_URL is not set (.ci/run starts PostgreSQL and sets it)")
    with temporary_pg_database(PG_URL) as url:
        yield url


def empty(url: str) -> None:
    """Bring the schema to the newest revision and delete every row of every table."""
    db = Database(url)
    try:
        db.migrate()
        with db.engine.begin() as conn:
            for table in reversed(Base.metadata.sorted_tables):
                conn.execute(table.delete())
    finally:
        db.dispose()


@pytest.fixture
def emptied_database_url(shared_database_url: str) -> str:
    """The module's database, emptied for this test (replaces ``database_url``)."""
    empty(shared_database_url)
    return shared_database_url
