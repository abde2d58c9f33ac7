"""The store: SQLAlchemy 2 engine, sessions, the declarative base and migrations.

SQLite is the embedded default; PostgreSQL is the path to several replicas.
Tables are declared by the capability that owns them, on ``Base``; migrations
are run by Alembic from ``plinth/infrastructure/store/migrations``.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import JSON, DateTime, Engine, MetaData, create_engine, event
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.exc import IntegrityError, OperationalError
from sqlalchemy.orm import DeclarativeBase, Session, sessionmaker
from sqlalchemy.orm.exc import StaleDataError
from sqlalchemy.types import TypeDecorator

from plinth.core.errors import Conflict

__all__ = ["Base", "Database", "JSONType", "UTCDateTime"]

READ_ONLY = "plinth_read_only"

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

JSONType = JSON().with_variant(JSONB(), "postgresql")


class UTCDateTime(TypeDecorator[datetime]):
    """A timezone-aware UTC timestamp on every backend (SQLite keeps no zone)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        """Refuse naive datetimes and store UTC."""
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to the store; use aware UTC times")
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        """Return an aware UTC datetime."""
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


class Base(DeclarativeBase):
    """Declarative base for every Plinth table."""

    metadata = MetaData(naming_convention=NAMING)


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    # Let SQLAlchemy's "begin" event issue BEGIN itself (see _sqlite_begin_immediate).
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.close()


class Database:
    """An engine plus a session factory; the boundary owns each transaction."""

    def __init__(self, url: str, *, echo: bool = False) -> None:
        scheme, sep, rest = url.partition("://")
        if sep and scheme in ("postgresql", "postgres"):
            url = f"postgresql+psycopg://{rest}"  # the driver Plinth ships with (psycopg 3)
        self.url = url
        kwargs: dict[str, Any] = {"echo": echo, "future": True}
        if url.startswith("sqlite"):
            path = url.split("///", 1)[-1]
            if path and path != ":memory:":
                Path(path).parent.mkdir(parents=True, exist_ok=True)
            kwargs["connect_args"] = {"check_same_thread": False, "timeout": 30}
        else:
            kwargs["pool_pre_ping"] = True
            kwargs["pool_size"] = 10
        self.engine: Engine = create_engine(url, **kwargs)
        if url.startswith("sqlite"):
            event.listen(self.engine, "connect", _sqlite_pragmas)
            event.listen(self.engine, "begin", _sqlite_begin_immediate)
        self._sessions = sessionmaker(self.engine, expire_on_commit=False)

    @property
    def is_sqlite(self) -> bool:
        """True when the backend is SQLite."""
        return self.engine.dialect.name == "sqlite"

    @contextmanager
    def transaction(self) -> Iterator[Session]:
        """Open a session in one transaction: commit on success, roll back on error."""
        session = self._sessions()
        try:
            with session.begin():
                yield session
        except StaleDataError as exc:
            raise Conflict(
                "the object was changed by someone else meanwhile; read it again and retry"
            ) from exc
        except IntegrityError as exc:
            raise Conflict(f"a concurrent change conflicts with this one: {exc.orig}") from exc
        except OperationalError as exc:
            # PostgreSQL's deadlock and serialization failures: the change can simply be retried.
            if getattr(exc.orig, "sqlstate", None) in ("40P01", "40001"):
                raise Conflict("a concurrent change got in the way; retry") from exc
            raise
        finally:
            session.close()

    @contextmanager
    def read(self) -> Iterator[Session]:
        """Open a session for reading only: on SQLite it does not queue behind writers."""
        session = self._sessions()
        try:
            session.connection(execution_options={READ_ONLY: True})
            yield session
            session.rollback()
        finally:
            session.close()

    def session(self) -> Session:
        """Return a new session (the caller owns it)."""
        return self._sessions()

    def migrate(self) -> None:
        """Bring the schema to the newest Alembic revision."""
        from plinth.infrastructure.store.migrate import upgrade

        upgrade(self.engine)

    def dispose(self) -> None:
        """Close every pooled connection."""
        self.engine.dispose()


def _sqlite_begin_immediate(conn: Any) -> None:
    # Writers take SQLite's write lock at BEGIN, so concurrent writers queue instead of
    # failing with "database is locked" when a reader upgrades to a writer. Readers
    # (Database.read) begin deferred and read a WAL snapshot without waiting.
    if conn.get_execution_options().get(READ_ONLY):
        conn.exec_driver_sql("BEGIN")
    else:
        conn.exec_driver_sql("BEGIN IMMEDIATE")
