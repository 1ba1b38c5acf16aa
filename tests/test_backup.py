"""`termmap backup` and `termmap restore`: a consistent copy taken while the service writes, restored elsewhere intact.

SQLite goes through the sqlite3 backup API; PostgreSQL through pg_dump / pg_restore of the store's own schema,
restored into a database this test creates (and drops) — never another test's schema.
"""
from __future__ import annotations

import os
import re
import threading
import time
import uuid
from collections.abc import Iterator

import orjson
import pytest
from sqlalchemy import Engine, create_engine, func, select, text
from typer.testing import CliRunner

from api.cli import app
from api.wire import decode_translate
from mappings.audit import verify_chain
from mappings.engine import translate
from mappings.tables import audit_events, mapping_targets, mapping_versions, review_entries
from terminology.backup import BackupError, backup, restore, store_rows
from terminology.database import create_store_engine, migrate
from terminology.settings import get_settings
from tests.conftest import DEMO_LOCAL_SYSTEM, POSTGRES_URL, _postgres_store_url, api_key, load_demo

runner = CliRunner()
SNOMED = "http://snomed.info/sct"
IBUF = {"source": {"system": DEMO_LOCAL_SYSTEM, "code": "IBUF"}, "text": "Ibuprofin", "target_system": SNOMED,
        "context": "allergy", "sender": "ed-feed"}


def _cli(url: str, *args: str, ok: bool = True):
    os.environ["TERMMAP_DATABASE_URL"] = url
    get_settings.cache_clear()
    try:
        result = runner.invoke(app, list(args))
    finally:
        get_settings.cache_clear()
    if ok:
        assert result.exit_code == 0, result.output
    return result


def _said(result) -> str:
    """The CLI's output with the terminal's line wrapping undone."""
    return " ".join(result.output.split())


@pytest.fixture(autouse=True)
def _restore_environment(monkeypatch):
    monkeypatch.setenv("TERMMAP_DATABASE_URL", os.environ.get("TERMMAP_DATABASE_URL", "sqlite:///termmap.db"))
    yield
    get_settings.cache_clear()


def _curate(engine: Engine) -> str:
    """Curated mappings, review entries and audit events through the API: IBUF queued, claimed, decided."""
    from fastapi.testclient import TestClient

    from api.app import create_app

    with TestClient(create_app(engine=engine)) as client:
        client.headers["Authorization"] = f"Bearer {api_key(engine, 'translator')}"
        pharmacist = {"Authorization": f"Bearer {api_key(engine, 'pharmacist', 'alice')}"}
        entry = client.post("/v1/translate", json=IBUF).json()["review"]["id"]
        client.post("/v1/translate", json=IBUF | {"text": "Unheard-of allergen", "source": {"system":
                    DEMO_LOCAL_SYSTEM, "code": "NOPE"}})
        assert client.post(f"/v1/review/{entry}/claim", headers=pharmacist).status_code == 200
        decided = client.post(f"/v1/review/{entry}/decision", headers=pharmacist, json={
            "decision": "mapped", "targets": [{"code": "387207008", "relationship": "equivalent"}],
            "comment": "misspelt ibuprofen"})
        assert decided.status_code == 200, decided.text
        return decided.json()["mapping"]["id"]


class Writer(threading.Thread):
    """Keeps translating new unmapped entries (each one a review-entry write) until stopped."""

    def __init__(self, engine: Engine) -> None:
        super().__init__(daemon=True)
        self.engine, self.stop, self.writes, self.failure = engine, threading.Event(), 0, None

    def run(self) -> None:
        try:
            while not self.stop.is_set():
                body = IBUF | {"source": {"system": DEMO_LOCAL_SYSTEM, "code": f"W{self.writes}"},
                               "text": f"writer allergen {self.writes}"}
                with self.engine.begin() as connection:
                    translate(connection, decode_translate(orjson.dumps(body)))
                self.writes += 1
        except Exception as exc:  # noqa: BLE001 - reported by the test
            self.failure = exc

    def wait_for(self, writes: int, timeout: float = 30) -> None:
        deadline = time.monotonic() + timeout
        while self.writes < writes and self.failure is None and self.is_alive() and time.monotonic() < deadline:
            time.sleep(0.01)
        assert self.failure is None, self.failure
        assert self.writes >= writes, f"the writer made only {self.writes} writes"


def _rows(engine: Engine, table, key) -> list[tuple]:
    with engine.connect() as connection:
        return [tuple(row) for row in connection.execute(select(table).order_by(*key))]


def _count(engine: Engine, table) -> int:
    with engine.connect() as connection:
        return connection.execute(select(func.count()).select_from(table)).scalar_one()


def _chain(engine: Engine) -> tuple[int, object]:
    with engine.connect() as connection:
        checked, broken, problem = verify_chain(connection)
    return checked, broken


def _translated(engine: Engine, body: dict) -> dict:
    with engine.begin() as connection:
        answer = translate(connection, decode_translate(orjson.dumps(body)))
    return {"status": answer.status.value, "codes": [m.code for m in answer.matches],
            "rules": [m.rule.value for m in answer.matches]}


# --- where the backup goes, and a fresh place to restore it -----------------------------------------------------------

@pytest.fixture
def fresh_postgres_database() -> Iterator[str]:
    """The URL of a database this test creates and drops (with a schema name the source does not have)."""
    name = f"tm_restore_{uuid.uuid4().hex[:10]}"
    admin = create_engine(POSTGRES_URL, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as connection:
            connection.execute(text(f'CREATE DATABASE "{name}"'))
    except Exception as exc:  # noqa: BLE001
        admin.dispose()
        pytest.skip(f"cannot create a database to restore into: {exc}".splitlines()[0])
    base = POSTGRES_URL.split("?")[0].rsplit("/", 1)[0]
    try:
        yield f"{base}/{name}?options=-csearch_path%3Dtermmap_restored"
    finally:
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@pytest.fixture(params=["sqlite", "postgresql"])
def source_and_target(request, demo_sqlite, tmp_path) -> Iterator[tuple[Engine, str, str]]:
    """(an engine on a demo store, its URL, the URL of an empty place to restore into)."""
    if request.param == "sqlite":
        yield demo_sqlite, demo_sqlite.url.render_as_string(hide_password=False), f"sqlite:///{tmp_path / 'r.db'}"
        return
    for url in _postgres_store_url():
        engine = create_store_engine(url)
        migrate(engine)
        load_demo(engine)
        target = request.getfixturevalue("fresh_postgres_database")
        try:
            yield engine, url, target
        finally:
            engine.dispose()


def test_a_backup_taken_while_a_writer_translates_restores_elsewhere_with_the_same_rows_and_an_intact_chain(
        source_and_target, tmp_path):
    source, source_url, target_url = source_and_target
    mapping_id = _curate(source)
    before = {table.name: _count(source, table) for table in (review_entries, audit_events)}
    writer = Writer(source)
    writer.start()
    try:
        writer.wait_for(20)
        during = writer.writes
        made = _cli(source_url, "backup", str(tmp_path / "store.backup"))
        writer.wait_for(during + 20)  # still writing after the backup: the copy was taken between writes
    finally:
        writer.stop.set()
        writer.join(30)
    assert writer.failure is None, writer.failure
    said = _said(made)
    assert "backed up the" in said and "check:" in said
    reported = {line.split()[0]: int(line.split()[1].replace(",", "")) for line in made.output.splitlines()
                if re.fullmatch(r"\s+\w+\s+[\d,]+", line)}
    assert before["review_entries"] < reported["review_entries"] < _count(source, review_entries)

    restored = _cli(target_url, "restore", str(tmp_path / "store.backup"))
    assert "restored" in _said(restored)
    target = create_store_engine(target_url)
    try:
        assert store_rows(target) == reported  # exactly the rows the backup counted in its snapshot
        for table, key in ((mapping_versions, [mapping_versions.c.id]),
                           (mapping_targets, [mapping_targets.c.version_row, mapping_targets.c.system, mapping_targets.c.code])):
            assert _rows(target, table, key) == _rows(source, table, key)  # the writer never touches these
        events = _rows(target, audit_events, [audit_events.c.seq])
        assert events == _rows(source, audit_events, [audit_events.c.seq])[:len(events)]
        assert len(events) >= before["audit_events"]
        assert _chain(target) == (len(events), None)
        restored_entries = {row[0] for row in _rows(target, review_entries, [review_entries.c.id])}
        assert restored_entries <= {row[0] for row in _rows(source, review_entries, [review_entries.c.id])}
        # The restored store works: the pharmacist's decision maps, and new events chain on.
        assert _translated(target, IBUF) == {"status": "mapped", "codes": ["387207008"], "rules": ["curated"]}
        api_key(target, "auditor", "after-restore")
        assert _chain(target)[1] is None and _chain(target)[0] > len(events)
        with target.connect() as connection:
            assert connection.execute(select(mapping_versions.c.author).where(
                mapping_versions.c.mapping_id == mapping_id)).scalars().all() == ["alice"]
    finally:
        target.dispose()
    assert _cli(target_url, "audit", "verify").exit_code == 0


def test_backup_refuses_to_overwrite_a_file_unless_forced(demo_sqlite, tmp_path):
    url = demo_sqlite.url.render_as_string(hide_password=False)
    dest = tmp_path / "b.db"
    dest.write_bytes(b"precious")
    refused = _cli(url, "backup", str(dest), ok=False)
    assert refused.exit_code == 2 and "exists" in _said(refused) and "--force" in _said(refused)
    assert dest.read_bytes() == b"precious"
    forced = _cli(url, "backup", str(dest), "--force")
    assert "check: ok" in _said(forced)
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".b.db")] == []  # no partial file left


def test_restore_refuses_a_store_that_holds_rows_unless_forced(demo_sqlite, tmp_path):
    url = demo_sqlite.url.render_as_string(hide_password=False)
    _cli(url, "backup", str(tmp_path / "b.db"))
    other = f"sqlite:///{tmp_path / 'other.db'}"
    engine = create_store_engine(other)
    migrate(engine)
    api_key(engine, "admin", "someone-else")
    held = store_rows(engine)
    refused = _cli(other, "restore", str(tmp_path / "b.db"), ok=False)
    assert refused.exit_code == 2 and "holds" in _said(refused) and "--force" in _said(refused)
    assert store_rows(engine) == held  # untouched
    _cli(other, "restore", str(tmp_path / "b.db"), "--force")
    assert store_rows(engine) == store_rows(demo_sqlite)
    engine.dispose()
    # A migrated but empty store is not "holding rows": it is restored into without --force.
    empty = f"sqlite:///{tmp_path / 'empty.db'}"
    fresh = create_store_engine(empty)
    migrate(fresh)
    fresh.dispose()
    _cli(empty, "restore", str(tmp_path / "b.db"))


def test_restore_refuses_what_is_not_a_sound_backup(demo_sqlite, tmp_path):
    url = demo_sqlite.url.render_as_string(hide_password=False)
    target = f"sqlite:///{tmp_path / 'target.db'}"
    garbage = tmp_path / "garbage.db"
    garbage.write_bytes(b"this is not a database" * 100)
    refused = _cli(target, "restore", str(garbage), ok=False)
    assert refused.exit_code == 2 and "error:" in _said(refused)
    missing = _cli(target, "restore", str(tmp_path / "nowhere.db"), ok=False)
    assert missing.exit_code == 2 and "no backup file" in _said(missing)
    # A damaged copy is caught by its integrity check before anything is written to the store.
    good = tmp_path / "good.db"
    backup(url, good)
    damaged = bytearray(good.read_bytes())
    page = 4096
    for offset in range(2 * page + 100, len(damaged) - page, page):
        damaged[offset:offset + 64] = os.urandom(64)
    (tmp_path / "damaged.db").write_bytes(bytes(damaged))
    with pytest.raises(BackupError):
        restore(target, tmp_path / "damaged.db")
    assert not (tmp_path / "target.db").exists()


def test_backup_names_a_missing_pg_dump_and_a_failing_one(tmp_path, monkeypatch):
    url = "postgresql+psycopg://postgres:s3cret-pw@127.0.0.1:5432/test?options=-csearch_path%3Dnowhere"
    monkeypatch.setenv("PATH", str(tmp_path))
    missing = _cli(url, "backup", str(tmp_path / "pg.dump"), ok=False)
    assert missing.exit_code == 2 and "pg_dump is not installed" in _said(missing)
    assert "s3cret-pw" not in missing.output


@pytest.mark.postgres
def test_a_failing_pg_dump_is_reported_with_its_message_and_leaves_no_file(tmp_path, monkeypatch):
    for url in _postgres_store_url():
        engine = create_store_engine(url)
        migrate(engine)
        engine.dispose()
        tools = tmp_path / "bin"
        tools.mkdir()
        fake = tools / "pg_dump"
        fake.write_text("#!/bin/sh\necho 'pg_dump: error: aborting because of server version mismatch' >&2\nexit 1\n")
        fake.chmod(0o755)
        monkeypatch.setenv("PATH", f"{tools}{os.pathsep}{os.environ['PATH']}")
        failed = _cli(url, "backup", str(tmp_path / "pg.dump"), ok=False)
        assert failed.exit_code == 2
        assert "pg_dump exited with status 1" in _said(failed) and "server version mismatch" in _said(failed)
        assert sorted(p.name for p in tmp_path.iterdir()) == ["bin"]


@pytest.mark.postgres
def test_postgres_restore_refuses_a_filled_store_and_a_schema_that_would_clash(tmp_path):
    for url in _postgres_store_url():
        engine = create_store_engine(url)
        migrate(engine)
        api_key(engine, "admin", "source")
        _cli(url, "backup", str(tmp_path / "pg.dump"))
        held = store_rows(engine)
        refused = _cli(url, "restore", str(tmp_path / "pg.dump"), ok=False)
        assert refused.exit_code == 2 and "holds" in _said(refused) and "--force" in _said(refused)
        assert store_rows(engine) == held
        api_key(engine, "admin", "after the backup")
        _cli(url, "restore", str(tmp_path / "pg.dump"), "--force")
        assert store_rows(engine) == held  # back to the backup: the later key is gone
        assert _chain(engine)[1] is None
        for other in _postgres_store_url():  # another schema of the same database, while the source exists
            clash = _cli(other, "restore", str(tmp_path / "pg.dump"), ok=False)
            assert clash.exit_code == 2 and "exists in this database" in _said(clash)
        engine.dispose()
