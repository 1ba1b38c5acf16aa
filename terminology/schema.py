"""The concept store's tables (SQLAlchemy Core). Alembic migrations in `migrations/` create them.

Every content row carries the id of the release it came from. Queries read only the active
release of a system, so a new release can be written beside the old one (staged) and switched
to active in one short transaction; a failed load leaves only staged rows, which are purged.
"""
from __future__ import annotations

from sqlalchemy import (
    JSON,
    Boolean,
    Column,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    text,
)

__all__ = [
    "metadata",
    "releases",
    "concepts",
    "designations",
    "relationships",
    "associations",
    "crosswalks",
    "load_issues",
    "CONTENT_TABLES",
]

metadata = MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_N_name)s",
        "uq": "uq_%(table_name)s_%(column_0_N_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)

releases = Table(
    "releases",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("system", String(255), nullable=False),
    Column("version", String(255), nullable=False),
    Column("effective_date", String(8)),
    Column("checksum", String(64), nullable=False),
    Column("status", String(16), nullable=False),
    Column("source", Text, nullable=False),
    Column("files", JSON, nullable=False),
    Column("row_counts", JSON, nullable=False),
    Column("loaded_at", DateTime(timezone=True), nullable=False),
    Column("activated_at", DateTime(timezone=True)),
    Column("retired_at", DateTime(timezone=True)),
    Index(None, "system", "status"),
    Index(None, "checksum"),
    # At most one active release per system, enforced by the database itself.
    Index(
        "uq_releases_one_active_per_system",
        "system",
        unique=True,
        sqlite_where=text("status = 'active'"),
        postgresql_where=text("status = 'active'"),
    ),
)

_release_fk = lambda: Column(  # noqa: E731 - one definition for every content table
    "release_id", Integer, ForeignKey("releases.id", ondelete="CASCADE"), nullable=False
)

concepts = Table(
    "concepts",
    metadata,
    _release_fk(),
    Column("code", String(64), nullable=False),
    Column("active", Boolean, nullable=False),
    Column("display", Text, nullable=False),
    Column("kind", String(64)),
    Index(None, "release_id", "code", unique=True),
)

designations = Table(
    "designations",
    metadata,
    _release_fk(),
    Column("code", String(64), nullable=False),
    Column("term", Text, nullable=False),
    Column("term_norm", Text, nullable=False),
    Column("type", String(32), nullable=False),
    Column("language", String(16), nullable=False),
    Column("preferred", Boolean, nullable=False),
    Index(None, "release_id", "code"),
    Index(None, "release_id", "term_norm"),
)

relationships = Table(
    "relationships",
    metadata,
    _release_fk(),
    Column("source_code", String(64), nullable=False),
    Column("type", String(64), nullable=False),
    Column("target_code", String(64), nullable=False),
    Index(None, "release_id", "source_code", "type"),
    Index(None, "release_id", "target_code", "type"),
)

associations = Table(
    "associations",
    metadata,
    _release_fk(),
    Column("source_code", String(64), nullable=False),
    Column("type", String(64), nullable=False),
    Column("target_code", String(64), nullable=False),
    Index(None, "release_id", "source_code"),
)

crosswalks = Table(
    "crosswalks",
    metadata,
    _release_fk(),
    Column("code", String(64), nullable=False),
    Column("other_system", String(255), nullable=False),
    Column("other_code", String(64), nullable=False),
    Column("other_display", Text),
    Column("kind", String(64), nullable=False),
    Index(None, "release_id", "code"),
    Index(None, "release_id", "other_system", "other_code"),
)

load_issues = Table(
    "load_issues",
    metadata,
    _release_fk(),
    Column("file", Text, nullable=False),
    Column("line", Integer, nullable=False),
    Column("problem", Text, nullable=False),
    Index(None, "release_id"),
)

#: Tables whose rows belong to one release, in the order a purge deletes them.
CONTENT_TABLES = (designations, relationships, associations, crosswalks, load_issues, concepts)
