"""Engines for the store: SQLite (embedded default, WAL) or PostgreSQL (psycopg 3), and migrations."""
from __future__ import annotations

import logging
import re
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine, create_engine, event, inspect
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, OperationalError

from .errors import ConfigurationError, StoreNotInitialised, StoreUnavailable

__all__ = ["create_store_engine", "migrate", "require_current_schema", "is_sqlite", "is_postgres"]

logger = logging.getLogger(__name__)
_MIGRATIONS = Path(__file__).parent / "migrations"

#: Pragmas every SQLite connection gets: WAL so readers never wait for a loader, a busy timeout
#: instead of "database is locked", enforced foreign keys, and a cache large enough for bulk index builds.
SQLITE_PRAGMAS = (
    "PRAGMA journal_mode=WAL",
    "PRAGMA synchronous=NORMAL",
    "PRAGMA foreign_keys=ON",
    "PRAGMA busy_timeout=30000",
    "PRAGMA cache_size=-262144",
    "PRAGMA temp_store=MEMORY",
)


def _without_password(url: str) -> str:
    """`url` with whatever stands between `user:` and `@` masked (a URL too broken to parse may still hold one)."""
    return re.sub(r"(//[^/:@]*:)[^@/]*@", r"\1***@", url)


def create_store_engine(url: str, **kwargs) -> Engine:
    """An engine for `url`, with SQLite pragmas set on every new connection."""
    try:
        parsed = make_url(url)
    except (ArgumentError, ValueError):  # ValueError: e.g. a port that is not a number
        raise ConfigurationError(f"TERMMAP_DATABASE_URL is not a database URL: {_without_password(url)!r}") from None
    if parsed.get_backend_name() == "sqlite":
        database = parsed.database
        # A `file:` URI (`sqlite:///file:/path/termmap.db?mode=ro&uri=true`) names no directory to make.
        if database and database != ":memory:" and not database.startswith("file:"):
            Path(database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(parsed, **kwargs)

        @event.listens_for(engine, "connect")
        def _pragmas(dbapi_connection, _record) -> None:  # pragma: no branch - runs per connection
            cursor = dbapi_connection.cursor()
            for pragma in SQLITE_PRAGMAS:
                cursor.execute(pragma)
            cursor.close()

        return engine
    if parsed.get_backend_name() == "postgresql":
        return create_engine(parsed, pool_pre_ping=True, **kwargs)
    raise ConfigurationError(f"unsupported database {parsed.get_backend_name()!r}: use sqlite or postgresql")


def is_sqlite(engine: Engine) -> bool:
    return engine.dialect.name == "sqlite"


def is_postgres(engine: Engine) -> bool:
    return engine.dialect.name == "postgresql"


def _alembic_config() -> Config:
    config = Config()
    config.set_main_option("script_location", str(_MIGRATIONS))
    return config


def migrate(engine: Engine, revision: str = "head") -> str:
    """Bring the schema up to `revision` (default: the newest); returns the revision now in force."""
    config = _alembic_config()
    try:
        with engine.begin() as connection:
            config.attributes["connection"] = connection
            command.upgrade(config, revision)
            return MigrationContext.configure(connection).get_current_revision() or "base"
    except OperationalError as exc:
        raise StoreUnavailable(f"cannot reach the store: {exc.orig}") from exc


def require_current_schema(engine: Engine) -> None:
    """Raise `StoreNotInitialised` unless the store's schema is at the newest migration."""
    head = ScriptDirectory.from_config(_alembic_config()).get_current_head()
    try:
        with engine.connect() as connection:
            if not inspect(connection).has_table("alembic_version"):
                raise StoreNotInitialised("the store has no termmap schema: run `termmap init`")
            current = MigrationContext.configure(connection).get_current_revision()
    except OperationalError as exc:
        raise StoreUnavailable(f"cannot reach the store: {exc.orig}") from exc
    if current != head:
        raise StoreNotInitialised(
            f"the store's schema is at {current}, this termmap needs {head}: run `termmap init` to migrate"
        )
