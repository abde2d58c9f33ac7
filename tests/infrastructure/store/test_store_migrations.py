"""Migrations build the whole schema on an empty database, on every backend."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect

from plinth.infrastructure.store.db import Base, Database
from plinth.orchestration.schema import metadata

TABLES = {
    "alembic_version",
    "api_tokens",
    "approvals",
    "audit_head",
    "audit_records",
    "document_revisions",
    "documents",
    "environments",
    "memberships",
    "plans",
    "projects",
    "resource_events",
    "resources",
    "teams",
    "users",
}


def test_migrations_build_the_whole_schema_from_empty(database_url: str) -> None:
    db = Database(database_url)
    try:
        assert inspect(db.engine).get_table_names() == []
        db.migrate()
        assert set(metadata.tables) | {"alembic_version"} >= TABLES
        assert set(inspect(db.engine).get_table_names()) == set(metadata.tables) | {
            "alembic_version"
        }
        db.migrate()  # already at head: nothing to do
        with db.engine.connect() as conn:
            diff = compare_metadata(MigrationContext.configure(conn), Base.metadata)
        assert diff == [], "the migrations and the models disagree"
    finally:
        db.dispose()
