"""Alembic environment: runs on the connection termmap hands in (`config.attributes['connection']`)."""
from alembic import context

from terminology.schema import metadata

connection = context.config.attributes.get("connection")
if connection is None:  # pragma: no cover - termmap always passes its own connection
    raise RuntimeError("run migrations through `termmap init` (terminology.database.migrate)")

context.configure(connection=connection, target_metadata=metadata, render_as_batch=True)
with context.begin_transaction():
    context.run_migrations()
