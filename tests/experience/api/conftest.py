"""Fixtures for end-to-end API tests: a real control plane process per module and store."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest
from tests.support import PlinthServer, start_server, temporary_pg_database


@pytest.fixture(
    scope="module", params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)]
)
def server(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[PlinthServer]:
    """A control plane on loopback, storing its state in SQLite, then in PostgreSQL."""
    data_dir = tmp_path_factory.mktemp(f"plinth-{request.param}") / "data"
    data_dir.mkdir()
    if request.param == "sqlite":
        with start_server(data_dir) as running:
            yield running
        return
    admin_url = os.environ.get("PLINTH_TEST_PG_URL")
    if not admin_url:
        pytest.skip("PLINTH_TEST_PG_URL is not set (.ci/run starts PostgreSQL and sets it)")
    with (
        temporary_pg_database(admin_url) as url,
        start_server(data_dir, extra_env={"PLINTH_DATABASE_URL": url}) as running,
    ):
        yield running
