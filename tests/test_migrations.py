"""The migrations build exactly the tables the code declares, on SQLite and PostgreSQL."""
from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

import mappings.tables  # noqa: F401 - registers the mapping layer's tables on the shared metadata
from terminology.schema import metadata


def test_a_migrated_store_has_every_declared_table_column_and_index_and_nothing_else(store):
    with store.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        differences = [d for d in compare_metadata(context, metadata) if not _alembic_own(d)]
    assert differences == []


def _alembic_own(difference) -> bool:
    """alembic's own version table is not declared in the metadata."""
    return difference[0] == "remove_table" and difference[1].name == "alembic_version"
