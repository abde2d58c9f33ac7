"""Alembic environment: the engine and metadata come from the caller."""

from __future__ import annotations

from alembic import context

config = context.config
engine = config.attributes["engine"]
target_metadata = config.attributes.get("target_metadata")

with engine.connect() as connection:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()
    connection.commit()
