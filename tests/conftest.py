"""Fixtures: a migrated store on SQLite and on PostgreSQL, the shared samples, the demo set."""
from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine, create_engine, text

from terminology.database import create_store_engine, migrate

PROJECT = Path(__file__).resolve().parent.parent
SHARED_DATA = PROJECT.parent / "shared" / "data"
POSTGRES_URL = os.environ.get("TERMMAP_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")


def _postgres_reachable() -> str | None:
    try:
        engine = create_engine(POSTGRES_URL, connect_args={"connect_timeout": 3})
        with engine.connect() as connection:
            connection.execute(text("SELECT 1"))
        engine.dispose()
        return None
    except Exception as exc:  # noqa: BLE001 - any failure means "not reachable"
        return f"{type(exc).__name__}: {exc}".splitlines()[0]


_PG_PROBLEM = _postgres_reachable()


@pytest.fixture
def shared_data() -> Path:
    """`../shared/data`, or a skip that says why."""
    if not SHARED_DATA.is_dir():
        pytest.skip(f"needs the shared samples at {SHARED_DATA} (not present in this clone)")
    return SHARED_DATA


def _postgres_store_url() -> Iterator[str]:
    if _PG_PROBLEM is not None:
        message = f"PostgreSQL at {POSTGRES_URL} is not reachable ({_PG_PROBLEM})"
        if os.environ.get("CI"):
            pytest.fail(message + "; CI must run the store tests on PostgreSQL")
        pytest.skip(message)
    schema_name = f"tm_{uuid.uuid4().hex[:12]}"
    admin = create_engine(POSTGRES_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'CREATE SCHEMA "{schema_name}"'))
    separator = "&" if "?" in POSTGRES_URL else "?"
    try:
        yield f"{POSTGRES_URL}{separator}options=-csearch_path%3D{schema_name}"
    finally:
        with admin.connect() as connection:
            connection.execute(text(f'DROP SCHEMA "{schema_name}" CASCADE'))
        admin.dispose()


@pytest.fixture(params=["sqlite", "postgresql"])
def store_url(request, tmp_path) -> Iterator[str]:
    """A database URL for an empty, migrated store: a SQLite file, or a PostgreSQL schema of this run's own."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'termmap.db'}"
        engine = create_store_engine(url)
        migrate(engine)
        engine.dispose()
        yield url
        return
    for url in _postgres_store_url():
        engine = create_store_engine(url)
        migrate(engine)
        engine.dispose()
        yield url


@pytest.fixture
def store(store_url) -> Iterator[Engine]:
    """An engine on an empty, migrated store (SQLite and PostgreSQL)."""
    engine = create_store_engine(store_url)
    yield engine
    engine.dispose()


@pytest.fixture
def sqlite_store(tmp_path) -> Iterator[Engine]:
    """An engine on an empty, migrated SQLite store (for tests that only concern the embedded default)."""
    engine = create_store_engine(f"sqlite:///{tmp_path / 'termmap.db'}")
    migrate(engine)
    yield engine
    engine.dispose()
