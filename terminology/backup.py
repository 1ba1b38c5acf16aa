"""Back up and restore the store: SQLite through its online backup API, PostgreSQL through pg_dump / pg_restore.

`backup(url, dest)` writes a consistent copy of the store while the service keeps running:

- SQLite: the sqlite3 backup API copies the database in one step under a read snapshot (WAL readers
  never block the writers), the copy is switched to a single-file journal mode and checked with
  `PRAGMA integrity_check` before it takes the name `dest`.
- PostgreSQL: `pg_dump --format=custom` of the store's schema (the first of the URL's `search_path`,
  e.g. `?options=-csearch_path%3Dtermmap`, or `public`), taken in a snapshot exported from a
  repeatable-read transaction, so that the reported row counts are those of the dump; the archive is
  read back with `pg_restore --list` before it takes the name `dest`.

Either way `dest` is written under a temporary name first (a failed backup leaves nothing behind) and
an existing `dest` is only replaced with `force=True`.

`restore(url, src)` refuses a store that holds rows unless `force=True`; then it empties it and copies
`src` in (SQLite: the backup API again, then `integrity_check`; PostgreSQL: `pg_restore` in one
transaction). A PostgreSQL dump restores into the schema named by the URL even when it was taken from
another schema: its tables are restored under their original schema (which must not exist in the target
database) and moved. Stop the service before restoring: its workers hold cached answers of the old store.

Passwords never appear on a command line: pg_dump and pg_restore get theirs through `PGPASSWORD`.
"""
from __future__ import annotations

import os
import re
import shutil
import sqlite3
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy import Engine, inspect, text
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError, OperationalError

from .database import create_store_engine
from .errors import ConfigurationError, StoreUnavailable, TermmapError

__all__ = ["BackupError", "BackupReport", "RestoreReport", "backup", "restore", "store_rows", "store_schema"]

#: Tables whose rows do not make a store "non-empty" (a freshly migrated store has a revision row).
_BOOKKEEPING = frozenset({"alembic_version"})


class BackupError(TermmapError):
    """A backup or restore could not be made (the message says why and what to do)."""


@dataclass
class BackupReport:
    path: Path
    backend: str  # "sqlite" or "postgresql"
    bytes: int
    rows: dict[str, int] = field(default_factory=dict)
    seconds: float = 0.0
    schema: str | None = None  # PostgreSQL: the schema dumped
    integrity: str = "ok"  # SQLite: PRAGMA integrity_check; PostgreSQL: the archive's table of contents read back

    def summary(self) -> str:
        where = f" (schema {self.schema})" if self.schema else ""
        return (f"backed up the {self.backend} store{where} to {self.path}: {self.bytes:,} bytes, "
                f"{sum(self.rows.values()):,} rows in {len(self.rows)} tables, {self.seconds:.1f} s; "
                f"check: {self.integrity}")


@dataclass
class RestoreReport:
    source: Path
    backend: str
    rows: dict[str, int] = field(default_factory=dict)
    seconds: float = 0.0
    schema: str | None = None
    replaced_rows: int = 0  # rows the store held before (only with force)

    def summary(self) -> str:
        where = f" (schema {self.schema})" if self.schema else ""
        replaced = f", replacing {self.replaced_rows:,} rows" if self.replaced_rows else ""
        return (f"restored {self.source} into the {self.backend} store{where}: {sum(self.rows.values()):,} rows in "
                f"{len(self.rows)} tables{replaced}, {self.seconds:.1f} s")


def _parse(url: str) -> URL:
    try:
        return make_url(url)
    except ArgumentError as exc:
        raise ConfigurationError(f"TERMMAP_DATABASE_URL is not a database URL: {url!r}") from exc


def _backend(url: URL) -> str:
    name = url.get_backend_name()
    if name not in ("sqlite", "postgresql"):
        raise ConfigurationError(f"unsupported database {name!r}: use sqlite or postgresql")
    return name


def backup(url: str, dest: Path, *, force: bool = False, pg_dump: str | None = None) -> BackupReport:
    """Write a consistent copy of the store at `url` to `dest` (see the module docstring)."""
    parsed, dest = _parse(url), Path(dest)
    backend = _backend(parsed)
    if dest.is_dir():
        raise BackupError(f"{dest} is a directory: name the backup file, e.g. {dest / 'termmap.backup'}")
    if dest.exists() and not force:
        raise BackupError(f"{dest} exists: choose another name, or use --force to overwrite it")
    dest.parent.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    if backend == "sqlite":
        report = _sqlite_backup(_sqlite_path(parsed), dest)
    else:
        report = _postgres_backup(url, parsed, dest, pg_dump or _tool("pg_dump"))
    report.seconds = time.perf_counter() - started
    return report


def restore(url: str, src: Path, *, force: bool = False, pg_restore: str | None = None) -> RestoreReport:
    """Copy the backup `src` into the store at `url`; a store holding rows is replaced only with `force`."""
    parsed, src = _parse(url), Path(src)
    backend = _backend(parsed)
    if not src.is_file():
        raise BackupError(f"no backup file at {src}")
    started = time.perf_counter()
    if backend == "sqlite":
        report = _sqlite_restore(src, _sqlite_path(parsed), force)
    else:
        report = _postgres_restore(url, parsed, src, force, pg_restore or _tool("pg_restore"))
    report.seconds = time.perf_counter() - started
    return report


def store_rows(engine: Engine, schema: str | None = None) -> dict[str, int]:
    """Rows per table of the store (of `schema` on PostgreSQL; default: the connection's current schema)."""
    with engine.connect() as connection:
        if schema is None and engine.dialect.name == "postgresql":
            schema = connection.execute(text("SELECT current_schema()")).scalar()
        names = sorted(inspect(connection).get_table_names(schema=schema))
        preparer = engine.dialect.identifier_preparer
        prefix = f"{preparer.quote(schema)}." if schema else ""
        return {name: connection.execute(text(f"SELECT count(*) FROM {prefix}{preparer.quote(name)}")).scalar_one()
                for name in names}


def _content_rows(rows: dict[str, int]) -> int:
    return sum(count for name, count in rows.items() if name not in _BOOKKEEPING)


# --- SQLite ---------------------------------------------------------------------------------------------------------

def _sqlite_path(url: URL) -> Path:
    if not url.database or url.database == ":memory:":
        raise BackupError("an in-memory SQLite store cannot be backed up or restored: use a file")
    return Path(url.database)


def _sqlite_connect(path: Path, *, must_exist: bool) -> sqlite3.Connection:
    if must_exist and not path.is_file():
        raise BackupError(f"no SQLite store at {path}")
    try:
        target = f"file:{path}?mode=ro" if must_exist else str(path)
        connection = sqlite3.connect(target, uri=must_exist, timeout=30, isolation_level=None)
        connection.execute("PRAGMA busy_timeout=30000")
        return connection
    except sqlite3.Error as exc:
        raise StoreUnavailable(f"cannot open the SQLite store {path}: {exc}") from exc


def _sqlite_rows(connection: sqlite3.Connection) -> dict[str, int]:
    names = [row[0] for row in connection.execute(
        "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name")]
    return {name: connection.execute(f'SELECT count(*) FROM "{name}"').fetchone()[0] for name in names}


def _integrity(connection: sqlite3.Connection, what: str) -> str:
    factory, connection.text_factory = connection.text_factory, lambda raw: raw.decode("utf-8", "replace")
    try:  # a damaged page can put any bytes into the messages
        problems = [str(row[0]) for row in connection.execute("PRAGMA integrity_check")]
    except UnicodeDecodeError:
        problems = ["the file is damaged (the check's own report is unreadable)"]
    finally:
        connection.text_factory = factory
    if problems != ["ok"]:
        raise BackupError(f"{what} failed PRAGMA integrity_check: {'; '.join(problems[:5])}")
    return "ok"


def _temporary_beside(path: Path, suffix: str) -> Path:
    handle, name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=suffix, dir=path.parent)
    os.close(handle)
    return Path(name)


def _remove(path: Path) -> None:
    for leftover in (path, Path(f"{path}-wal"), Path(f"{path}-shm"), Path(f"{path}-journal")):
        leftover.unlink(missing_ok=True)


def _sqlite_backup(source: Path, dest: Path) -> BackupReport:
    partial = _temporary_beside(dest, ".partial")
    try:
        src = _sqlite_connect(source, must_exist=True)
        try:
            copy = sqlite3.connect(partial, isolation_level=None)
            try:
                # One step (pages=-1): the whole database under one read snapshot, however busy the writers.
                src.backup(copy, pages=-1)
                copy.execute("PRAGMA journal_mode=DELETE")  # the backup is one self-contained file
                integrity = _integrity(copy, f"the copy of {source}")
                rows = _sqlite_rows(copy)
            finally:
                copy.close()
        finally:
            src.close()
        os.replace(partial, dest)
    except sqlite3.Error as exc:
        raise BackupError(f"backing up {source} failed: {exc}") from exc
    finally:
        _remove(partial)
    return BackupReport(dest, "sqlite", dest.stat().st_size, rows, integrity=integrity)


def _sqlite_restore(src: Path, target: Path, force: bool) -> RestoreReport:
    try:
        backup_file = sqlite3.connect(f"file:{src}?mode=ro", uri=True, isolation_level=None)
        try:
            _integrity(backup_file, f"the backup {src}")
            incoming = _sqlite_rows(backup_file)
            if "alembic_version" not in incoming:
                raise BackupError(f"{src} is not a termmap store (it has no alembic_version table)")
            replaced = 0
            if target.is_file() and target.stat().st_size > 0:
                existing = _sqlite_connect(target, must_exist=False)
                try:
                    replaced = _content_rows(_sqlite_rows(existing))
                finally:
                    existing.close()
                if replaced and not force:
                    raise BackupError(f"the store {target} holds {replaced:,} rows: restore into an empty store, "
                                      "or use --force to replace it")
            target.parent.mkdir(parents=True, exist_ok=True)
            store = sqlite3.connect(target, timeout=30, isolation_level=None)
            try:
                store.execute("PRAGMA busy_timeout=30000")
                backup_file.backup(store, pages=-1)
                store.execute("PRAGMA journal_mode=WAL")
                _integrity(store, f"the restored store {target}")
                rows = _sqlite_rows(store)
            finally:
                store.close()
        finally:
            backup_file.close()
    except sqlite3.DatabaseError as exc:
        raise BackupError(f"restoring {src} into {target} failed: {exc}") from exc
    return RestoreReport(src, "sqlite", rows, replaced_rows=replaced)


# --- PostgreSQL -----------------------------------------------------------------------------------------------------

def _tool(name: str) -> str:
    found = shutil.which(name)
    if found is None:
        raise BackupError(f"{name} is not installed (or not on PATH): install the PostgreSQL client tools of the "
                          f"server's major version, e.g. `apt-get install postgresql-client-15`")
    return found


_SEARCH_PATH = re.compile(r"-c\s*search_path\s*=\s*(\S+)")


def store_schema(url: str) -> str:
    """The schema a PostgreSQL store lives in: the first of the URL's `options=-csearch_path=...`, else public."""
    options = _parse(url).query.get("options", "")
    if isinstance(options, tuple):
        options = " ".join(options)
    found = _SEARCH_PATH.search(options)
    if not found:
        return "public"
    first = found.group(1).replace("\\", "").split(",")[0].strip().strip('"')
    return first or "public"


def _quote_conninfo(value: str) -> str:
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


def _libpq(url: URL) -> tuple[str, dict[str, str]]:
    """A libpq connection string for the client tools (without the password) and their environment."""
    parts = {"host": url.host, "port": str(url.port) if url.port else None, "dbname": url.database,
             "user": url.username}
    for key, value in url.query.items():
        parts[key] = " ".join(value) if isinstance(value, tuple) else value
    conninfo = " ".join(f"{key}={_quote_conninfo(str(value))}" for key, value in parts.items() if value)
    env = dict(os.environ)
    if url.password is not None:
        env["PGPASSWORD"] = str(url.password)
    return conninfo, env


def _run(command: list[str], env: dict[str, str], what: str) -> subprocess.CompletedProcess:
    try:
        done = subprocess.run(command, env=env, capture_output=True, text=True)
    except OSError as exc:
        raise BackupError(f"{what}: cannot run {command[0]}: {exc}") from exc
    if done.returncode != 0:
        problem = "; ".join(line.strip() for line in done.stderr.splitlines() if line.strip())[:2000]
        raise BackupError(f"{what}: {Path(command[0]).name} exited with status {done.returncode}: "
                          f"{problem or 'no message'}")
    return done


def _engine(url: str, **kwargs) -> Engine:
    return create_store_engine(url, **kwargs)


def _schema_exists(connection, schema: str) -> bool:
    return connection.execute(text("SELECT 1 FROM pg_namespace WHERE nspname = :s"), {"s": schema}).first() is not None


_TOC_LINE = re.compile(r"^\d+;\s+\d+\s+\d+\s+(?P<kind>TABLE DATA|SEQUENCE SET|SEQUENCE OWNED BY|FK CONSTRAINT|"
                       r"MATERIALIZED VIEW DATA|MATERIALIZED VIEW|INDEX ATTACH|DEFAULT ACL|[A-Z]+)"
                       r"\s+(?P<schema>\S+)\s+(?P<name>\S+)")


def _archive_entries(archive: Path, pg_restore: str, env: dict[str, str]) -> list[tuple[str, str, str, str]]:
    """(kind, schema, name, line) of each entry of a custom-format archive's table of contents."""
    listing = _run([pg_restore, "--list", str(archive)], env, f"reading {archive}").stdout
    entries = []
    for line in listing.splitlines():
        found = _TOC_LINE.match(line)
        if found:
            entries.append((found["kind"], found["schema"], found["name"], line))
    return entries


def _postgres_backup(url: str, parsed: URL, dest: Path, pg_dump: str) -> BackupReport:
    schema = store_schema(url)
    conninfo, env = _libpq(parsed)
    engine = _engine(url)
    partial = _temporary_beside(dest, ".partial")
    try:
        with engine.connect().execution_options(isolation_level="REPEATABLE READ") as connection:
            with connection.begin():
                if not _schema_exists(connection, schema):
                    raise BackupError(f"the store's schema {schema!r} does not exist")
                snapshot = connection.execute(text("SELECT pg_export_snapshot()")).scalar_one()
                preparer = engine.dialect.identifier_preparer
                names = sorted(inspect(connection).get_table_names(schema=schema))
                if "alembic_version" not in names:
                    raise BackupError(f"schema {schema!r} holds no termmap store (no alembic_version table)")
                rows = {name: connection.execute(text(
                    f"SELECT count(*) FROM {preparer.quote(schema)}.{preparer.quote(name)}")).scalar_one()
                    for name in names}
                # pg_dump reads the same snapshot, so the counts above are those of the archive.
                _run([pg_dump, "--format=custom", "--no-owner", "--no-privileges", f"--schema={_exact(schema)}",
                      f"--snapshot={snapshot}", f"--file={partial}", f"--dbname={conninfo}"], env,
                     f"pg_dump of schema {schema!r}")
        entries = _archive_entries(partial, _tool_beside(pg_dump, "pg_restore"), env)
        dumped = {name for kind, _schema, name, _line in entries if kind == "TABLE DATA"}
        missing = set(rows) - dumped
        if missing:
            raise BackupError(f"the archive lacks the data of {', '.join(sorted(missing))}")
        os.replace(partial, dest)
    except OperationalError as exc:
        raise StoreUnavailable(f"cannot reach the store: {exc.orig}") from exc
    finally:
        partial.unlink(missing_ok=True)
        engine.dispose()
    return BackupReport(dest, "postgresql", dest.stat().st_size, rows, schema=schema,
                        integrity=f"archive lists the data of all {len(rows)} tables")


def _exact(name: str) -> str:
    """A pg_dump pattern matching exactly `name` (quoted: no wildcards, case kept)."""
    return '"' + name.replace('"', '""') + '"'


def _tool_beside(found: str, name: str) -> str:
    sibling = Path(found).with_name(name)
    return str(sibling) if sibling.is_file() else _tool(name)


def _postgres_restore(url: str, parsed: URL, src: Path, force: bool, pg_restore: str) -> RestoreReport:
    conninfo, env = _libpq(parsed)
    entries = _archive_entries(src, pg_restore, env)
    tables = {(schema, name) for kind, schema, name, _line in entries if kind == "TABLE"}
    schemas = {schema for schema, _name in tables}
    if not tables or len(schemas) != 1 or not any(name == "alembic_version" for _schema, name in tables):
        raise BackupError(f"{src} is not a `termmap backup` of one PostgreSQL store (its tables: "
                          f"{', '.join(sorted(f'{s}.{n}' for s, n in tables)) or 'none'})")
    [dumped] = schemas
    target = store_schema(url)
    engine = _engine(url)
    preparer = engine.dialect.identifier_preparer
    try:
        with engine.begin() as connection:
            if target != dumped and _schema_exists(connection, dumped):
                raise BackupError(
                    f"the backup holds schema {dumped!r}, which exists in this database and is not the store's "
                    f"({target!r}): restore into a database without schema {dumped!r}, or into {dumped!r} itself")
            existing = store_rows(engine, target) if _schema_exists(connection, target) else {}
            replaced = _content_rows(existing)
            if replaced and not force:
                raise BackupError(f"the store (schema {target!r}) holds {replaced:,} rows: restore into an empty "
                                  "store, or use --force to replace it")
            connection.execute(text(f"CREATE SCHEMA IF NOT EXISTS {preparer.quote(target)}"))
            _drop_objects(connection, target, preparer)
        # With the store's schema already there, its CREATE SCHEMA (and comment) are left out of the restore.
        keep = [line for _kind, schema, _name, line in entries if target != dumped or schema != "-"]
        handle, name = tempfile.mkstemp(prefix="termmap-restore-", suffix=".list")
        os.close(handle)
        listing = Path(name)
        try:
            listing.write_text("\n".join(keep) + "\n", encoding="utf-8")
            _run([pg_restore, "--no-owner", "--no-privileges", "--exit-on-error", "--single-transaction",
                  f"--use-list={listing}", f"--dbname={conninfo}", str(src)], env, f"pg_restore of {src}")
        finally:
            listing.unlink(missing_ok=True)
        if target != dumped:
            _move_schema(engine, dumped, target, preparer)
        rows = store_rows(engine, target)
    except OperationalError as exc:
        raise StoreUnavailable(f"cannot reach the store: {exc.orig}") from exc
    finally:
        engine.dispose()
    return RestoreReport(src, "postgresql", rows, schema=target, replaced_rows=replaced)


def _drop_objects(connection, schema: str, preparer) -> None:
    """Drop the tables, views and sequences of `schema` (the schema itself stays: it may be `public`)."""
    found = connection.execute(text(
        "SELECT c.relname, c.relkind FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
        "WHERE n.nspname = :s AND c.relkind IN ('r', 'p', 'v', 'm', 'S', 'f')"), {"s": schema}).all()
    kinds = {"r": "TABLE", "p": "TABLE", "v": "VIEW", "m": "MATERIALIZED VIEW", "S": "SEQUENCE", "f": "FOREIGN TABLE"}
    for name, kind in found:
        connection.execute(text(f"DROP {kinds[kind]} IF EXISTS {preparer.quote(schema)}.{preparer.quote(name)} "
                                "CASCADE"))


def _move_schema(engine: Engine, dumped: str, target: str, preparer) -> None:
    """Move the tables restored under `dumped` into `target` (owned sequences and indexes follow), drop `dumped`."""
    try:
        with engine.begin() as connection:
            for name in inspect(connection).get_table_names(schema=dumped):
                connection.execute(text(f"ALTER TABLE {preparer.quote(dumped)}.{preparer.quote(name)} "
                                        f"SET SCHEMA {preparer.quote(target)}"))
            connection.execute(text(f"DROP SCHEMA {preparer.quote(dumped)}"))
    except Exception:
        with engine.begin() as connection:
            connection.execute(text(f"DROP SCHEMA IF EXISTS {preparer.quote(dumped)} CASCADE"))
        raise
