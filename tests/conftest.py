"""Fixtures: a migrated store on SQLite and on PostgreSQL, the shared samples, the demo set."""
from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine, create_engine, text

from terminology.database import create_store_engine, migrate

# Tests build many short-lived apps over throw-away stores: no background index warm-up racing their teardown.
os.environ.setdefault("TERMMAP_WARM_CANDIDATE_INDEX", "false")

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


DEMO = PROJECT / "demo"
DEMO_LOCAL_SYSTEM = "https://demo-hospital.example.org/fhir/CodeSystem/allergens"
DEMO_FORMULARY_SYSTEM = "https://demo-hospital.example.org/fhir/CodeSystem/formulary"


def load_demo(engine: Engine) -> None:
    """Load the project's demo set (SNOMED CT RF2, RxNorm RRF, two local tables) into `engine`."""
    from loaders.local_table import ColumnMap, load_local_table
    from loaders.rf2 import load_rf2
    from loaders.rxnorm_rrf import load_rxnorm

    load_rf2(engine, DEMO / "snomed")
    load_rxnorm(engine, DEMO / "rxnorm" / "RxNorm_demo_09022025")
    for table, system in (("allergens", DEMO_LOCAL_SYSTEM), ("pharmacy_formulary", DEMO_FORMULARY_SYSTEM)):
        load_local_table(engine, DEMO / "local" / f"{table}.csv", system,
                         ColumnMap.from_file(DEMO / "local" / f"{table}.columns.yaml"))


@pytest.fixture(scope="session")
def _demo_sqlite_template(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("demo") / "demo.db"
    engine = create_store_engine(f"sqlite:///{path}")
    migrate(engine)
    load_demo(engine)
    with engine.connect() as connection:
        connection.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
    engine.dispose()
    return path


@pytest.fixture
def demo_sqlite(_demo_sqlite_template, tmp_path) -> Iterator[Engine]:
    """A SQLite store holding the demo set (a fresh copy per test)."""
    import shutil

    copy = tmp_path / "demo.db"
    shutil.copyfile(_demo_sqlite_template, copy)
    engine = create_store_engine(f"sqlite:///{copy}")
    yield engine
    engine.dispose()


@pytest.fixture(params=["sqlite", "postgresql"])
def demo_store(request, tmp_path) -> Iterator[Engine]:
    """A store holding the demo set, on SQLite (a copy) and on PostgreSQL (loaded into a fresh schema)."""
    if request.param == "sqlite":
        engine_iter = request.getfixturevalue("demo_sqlite")
        yield engine_iter
        return
    yield from postgres_demo_store()


def postgres_demo_store() -> Iterator[Engine]:
    """The demo set loaded into a PostgreSQL schema of this run's own (dropped afterwards), or a skip."""
    for url in _postgres_store_url():
        engine = create_store_engine(url)
        migrate(engine)
        load_demo(engine)
        yield engine
        engine.dispose()


def api_key(engine: Engine, role: str = "admin", name: str | None = None) -> str:
    """A new API key for `role` in `engine`'s store."""
    from api.auth import Role, create_key

    with engine.begin() as connection:
        _, key = create_key(connection, Role(role), name or f"test-{role}", "tests")
    return key


def _client(engine: Engine):
    from fastapi.testclient import TestClient

    from api.app import create_app

    with TestClient(create_app(engine=engine)) as client:
        client.engine = engine
        client.headers["Authorization"] = f"Bearer {api_key(engine)}"
        yield client


@pytest.fixture
def client(demo_sqlite: Engine):
    """An HTTP client on the service over the demo set (SQLite); `client.engine` is its store."""
    yield from _client(demo_sqlite)


@pytest.fixture
def any_store_client(demo_store: Engine):
    """An HTTP client on the service over the demo set, on SQLite and on PostgreSQL."""
    yield from _client(demo_store)


def redated_demo_snomed(tmp_path: Path) -> Path:
    """The demo SNOMED CT release re-dated 20260301, with two (invented) changes: 323389000 Benzylpenicillin
    inactive and REPLACED BY 373270004; 387170002 Ampicillin left out altogether."""
    source = DEMO / "snomed" / "SnomedCT_DemoRF2_20250901"
    release = tmp_path / "SnomedCT_DemoRF2_20260301"
    for path in source.rglob("*.txt"):
        out = release / path.relative_to(source).parent / path.name.replace("20250901", "20260301")
        out.parent.mkdir(parents=True, exist_ok=True)
        text = path.read_text(encoding="utf-8")
        newline = "\r\n" if "\r\n" in text else "\n"
        lines = text.split(newline)
        if path.name.startswith("sct2_Concept_"):
            lines = [line for line in lines if not line.startswith("387170002\t")]
            lines = ["\t".join(["323389000", "20260301", "0", *line.split("\t")[3:]])
                     if line.startswith("323389000\t") else line for line in lines]
        if path.name.startswith("der2_cRefset_Association"):
            row = [str(uuid.uuid5(uuid.NAMESPACE_URL, "termmap-test-replaced-by")), "20260301", "1",
                   "900000000000207008", "900000000000526001",  # REPLACED BY
                   "323389000", "373270004"]
            lines.insert(-1 if lines[-1] == "" else len(lines), "\t".join(row))
        out.write_text(newline.join(lines), encoding="utf-8", newline="")
    return release
