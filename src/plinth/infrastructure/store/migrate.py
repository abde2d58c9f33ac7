"""Run Alembic migrations programmatically (no alembic.ini needed)."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import Engine, MetaData

__all__ = ["alembic_config", "upgrade"]

MIGRATIONS = Path(__file__).parent / "migrations"


def alembic_config(engine: Engine, target_metadata: MetaData | None = None) -> Config:
    """Return an Alembic config bound to ``engine``."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.set_main_option("sqlalchemy.url", engine.url.render_as_string(hide_password=False))
    config.attributes["engine"] = engine
    config.attributes["target_metadata"] = target_metadata
    return config


def upgrade(engine: Engine, revision: str = "heads") -> None:
    """Upgrade the schema to ``revision`` (default: the newest of every branch)."""
    command.upgrade(alembic_config(engine), revision)
