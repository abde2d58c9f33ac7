"""Run Alembic migrations programmatically (no alembic.ini needed).

Replicas starting together migrate one at a time (a PostgreSQL advisory lock), and
a store migrated by a newer Plinth is never touched: migrations do not run backwards.
"""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine, MetaData

from plinth.core.errors import PlinthError
from plinth.infrastructure.store.leader import MIGRATE_KEY, advisory_lock

__all__ = ["SchemaTooNew", "alembic_config", "check_not_newer", "upgrade"]

MIGRATIONS = Path(__file__).parent / "migrations"


class SchemaTooNew(PlinthError):
    """The store was migrated by a newer Plinth than this one."""

    type = "schema-too-new"
    title = "Store schema is newer than this Plinth"
    status = 409


def alembic_config(engine: Engine, target_metadata: MetaData | None = None) -> Config:
    """Return an Alembic config bound to ``engine``."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.set_main_option("sqlalchemy.url", engine.url.render_as_string(hide_password=False))
    config.attributes["engine"] = engine
    config.attributes["target_metadata"] = target_metadata
    return config


def check_not_newer(engine: Engine) -> None:
    """Raise SchemaTooNew when the store's revision is unknown to this code."""
    script = ScriptDirectory.from_config(alembic_config(engine))
    known = {rev.revision for rev in script.walk_revisions()}
    with engine.connect() as conn:
        current = MigrationContext.configure(conn).get_current_heads()
    unknown = sorted(set(current) - known)
    if unknown:
        heads = ", ".join(script.get_heads())
        raise SchemaTooNew(
            f"store schema is at revision {', '.join(unknown)}, newer than this Plinth "
            f"(head {heads}): upgrade Plinth; migrations never run backwards"
        )


def upgrade(engine: Engine, revision: str = "heads") -> None:
    """Upgrade the schema to ``revision`` (default: the newest of every branch)."""
    with advisory_lock(engine, MIGRATE_KEY):
        check_not_newer(engine)
        command.upgrade(alembic_config(engine), revision)
