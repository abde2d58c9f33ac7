"""Leader election, the startup lock and the schema-version guard, on a real store."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from alembic.script import ScriptDirectory
from sqlalchemy import create_engine, inspect, text

from plinth.infrastructure.store.db import Database
from plinth.infrastructure.store.leader import MIGRATE_KEY, Leadership, advisory_lock
from plinth.infrastructure.store.migrate import SchemaTooNew, alembic_config
from tests.conftest import PG_URL
from tests.support import temporary_pg_database


class Recorder:
    """Collects the leadership callbacks in order."""

    def __init__(self) -> None:
        self.events: list[str] = []

    def elected(self) -> None:
        """Record an election."""
        self.events.append("elected")

    def deposed(self) -> None:
        """Record a deposition."""
        self.events.append("deposed")

    def leadership(self, db: Database, name: str) -> Leadership:
        """Return a Leadership reporting to this recorder."""
        return Leadership(
            db.engine, on_elected=self.elected, on_deposed=self.deposed, replica_id=name
        )


@pytest.fixture
def pg_url() -> Iterator[str]:
    """A fresh PostgreSQL database (skips when none is configured)."""
    if not PG_URL:
        pytest.skip("PLINTH_TEST_PG_URL is not set (.ci/run starts PostgreSQL and sets it)")
    with temporary_pg_database(PG_URL) as url:
        yield url


def test_sqlite_replica_always_leads(tmp_path: Path) -> None:
    db = Database(f"sqlite:///{tmp_path}/plinth.db")
    rec = Recorder()
    leadership = rec.leadership(db, "solo")
    leadership.start()
    state = leadership.state().as_dict()
    assert state["is_leader"] is True and state["election"] == "single"
    leadership.stop()
    assert rec.events == ["elected", "deposed"]
    assert leadership.is_leader is False
    db.dispose()


def test_one_leader_at_a_time_and_failover(pg_url: str) -> None:
    db = Database(pg_url)
    first, second = Recorder(), Recorder()
    a, b = first.leadership(db, "a"), second.leadership(db, "b")
    try:
        assert a.check() is True
        assert b.check() is False
        assert a.check() is True  # confirming does not elect again
        assert first.events == ["elected"] and second.events == []
        # The leader's session dies (as when its process is killed): it is deposed, b leads.
        with db.engine.connect() as conn:
            conn.execute(
                text(
                    "SELECT pg_terminate_backend(pid) FROM pg_locks"
                    " WHERE locktype = 'advisory' AND objsubid = 1 AND pid <> pg_backend_pid()"
                    " AND database = (SELECT oid FROM pg_database"
                    " WHERE datname = current_database())"
                )
            )
        assert a.check() is False
        assert first.events == ["elected", "deposed"]
        assert b.check() is True
        assert a.check() is False
        assert second.events == ["elected"]
        assert b.state().as_dict()["election"] == "postgresql-advisory-lock"
    finally:
        a.stop()
        b.stop()
        db.dispose()
    assert second.events == ["elected", "deposed"]


def test_a_stopped_leader_hands_over(pg_url: str) -> None:
    db = Database(pg_url)
    first, second = Recorder(), Recorder()
    a, b = first.leadership(db, "a"), second.leadership(db, "b")
    try:
        assert a.check() is True and b.check() is False
        a.stop()
        assert b.check() is True
    finally:
        b.stop()
        db.dispose()
    assert first.events == ["elected", "deposed"]


def test_advisory_lock_excludes_other_sessions(pg_url: str) -> None:
    db = Database(pg_url)
    other = create_engine(pg_url)
    try:
        with advisory_lock(db.engine, MIGRATE_KEY), other.connect() as conn:
            got = conn.execute(text("SELECT pg_try_advisory_lock(:k)"), {"k": MIGRATE_KEY})
            assert got.scalar_one() is False
        with other.connect() as conn:
            got = conn.execute(text("SELECT pg_try_advisory_lock(:k)"), {"k": MIGRATE_KEY})
            assert got.scalar_one() is True
    finally:
        other.dispose()
        db.dispose()


def test_replicas_migrating_together_both_succeed(pg_url: str) -> None:
    dbs = [Database(pg_url), Database(pg_url)]
    errors: list[BaseException] = []

    def migrate(db: Database) -> None:
        try:
            db.migrate()
        except BaseException as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=migrate, args=(db,)) for db in dbs]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    try:
        assert errors == []
        with dbs[0].engine.connect() as conn:
            versions = conn.execute(text("SELECT version_num FROM alembic_version")).all()
        assert len(versions) == 1
        assert "resources" in inspect(dbs[0].engine).get_table_names()
    finally:
        for db in dbs:
            db.dispose()


def test_a_newer_schema_is_refused(database_url: str) -> None:
    db = Database(database_url)
    try:
        db.migrate()
        with db.engine.begin() as conn:
            conn.execute(text("UPDATE alembic_version SET version_num = '9999_future'"))
        with pytest.raises(SchemaTooNew) as caught:
            db.migrate()
        message = str(caught.value)
        assert "revision 9999_future, newer than this Plinth" in message
        assert "upgrade Plinth" in message
        heads = ScriptDirectory.from_config(alembic_config(db.engine)).get_heads()
        assert f"(head {heads[0]})" in message
        with db.engine.connect() as conn:  # nothing was touched
            version = conn.execute(text("SELECT version_num FROM alembic_version")).scalar_one()
        assert version == "9999_future"
    finally:
        db.dispose()


def test_plain_postgresql_urls_use_the_shipped_driver(pg_url: str) -> None:
    plain = "postgresql://" + pg_url.partition("://")[2]
    db = Database(plain)
    try:
        assert db.engine.dialect.driver == "psycopg"
        with db.engine.connect() as conn:
            assert conn.execute(text("SELECT 1")).scalar_one() == 1
    finally:
        db.dispose()


def test_followers_wake_the_leader_with_new_work(pg_url: str) -> None:
    db = Database(pg_url)
    woken: list[list[str]] = []
    a = Leadership(
        db.engine, on_elected=lambda: None, on_deposed=lambda: None, on_wake=woken.append
    )
    b = Leadership(db.engine, on_elected=lambda: None, on_deposed=lambda: None)
    try:
        assert a.check() is True and b.check() is False
        many = [f"res_{n:05d}_{'x' * 40}" for n in range(400)]  # over 8000 bytes: split
        b.wake(["res_1", "res_2"])
        b.wake(many)
        received: list[str] = []
        for _ in range(50):
            received += a.listen(0.2)
            if len(received) == 2 + len(many):
                break
        assert received == ["res_1", "res_2", *many]
        assert [k for batch in woken for k in batch] == received
        a.wake(["ignored"])  # the leader needs no wake-up
        assert a.listen(0.2) == []
    finally:
        a.stop()
        b.stop()
        db.dispose()
