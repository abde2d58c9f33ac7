"""Platforms as replicas of one PostgreSQL store: one prepares at a time, one leads."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from plinth.core.config import Settings
from plinth.orchestration.platform import Platform
from tests.conftest import PG_URL
from tests.support import temporary_pg_database, wait_until

pytestmark = pytest.mark.postgres


@pytest.fixture
def pg_url() -> Iterator[str]:
    """A fresh PostgreSQL database (skips when none is configured)."""
    if not PG_URL:
        pytest.skip("PLINTH_TEST_PG_URL is not set (.ci/run starts PostgreSQL and sets it)")
    with temporary_pg_database(PG_URL) as url:
        yield url


def _background_threads() -> list[str]:
    names = ("plinth-reconcile-", "plinth-sweep", "plinth-metering", "plinth-secrets")
    return [t.name for t in threading.enumerate() if t.name.startswith(names)]


def test_replicas_start_together_and_only_the_leader_works(pg_url: str, tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path / "data", database_url=pg_url, reconcile_interval_s=0.2)
    before = _background_threads()  # left by nobody, unless another test leaked some
    replicas = [Platform(settings), Platform(settings)]
    tokens: list[dict[str, str]] = []
    errors: list[BaseException] = []

    def prepare(platform: Platform) -> None:
        try:
            tokens.append(platform.prepare())
        except BaseException as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=prepare, args=(p,)) for p in replicas]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    # Exactly one of them seeded the organisation (and issued its tokens).
    assert sorted(bool(t) for t in tokens) == [False, True]
    first, second = replicas
    try:
        first.start()
        wait_until(lambda: first.leadership.is_leader, timeout=30, what="the first to lead")
        second.start()
        second.leadership.check()
        assert second.leadership.is_leader is False
        assert _background_threads().count("plinth-metering") == before.count("plinth-metering") + 1
        first.stop()
        wait_until(lambda: second.leadership.is_leader, timeout=30, what="the second to lead")
        assert _background_threads().count("plinth-metering") == before.count("plinth-metering") + 1
    finally:
        first.stop()
        second.stop()
    assert sorted(_background_threads()) == sorted(before)
