"""The life of a release: staged while it loads, active in one short transaction, retired when replaced.

A loader opens a `ReleaseLoad`, adds rows through its bulk writers, and leaves the `with` block:

    with open_release(engine, SNOMED, version, effective_date, source, files) as load:
        if load.already_loaded:
            return load.report
        concepts = load.writer(schema.concepts)
        concepts.add((code, active, display, kind))
        ...
    # here the release is active and the previous one retired

Rows are committed in batches while the release is staged, so a long load never holds the
store's write lock for long; queries read only active releases, so staged rows are invisible.
If the block raises, the staged rows are purged and the release is marked failed. If the
process dies (SIGKILL, power), the next load of the same system purges the leftovers. Either
way the previously active release stays active and intact.
"""
from __future__ import annotations

import fcntl
import hashlib
import logging
import os
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine, Table, delete, insert, select, text, update

from . import schema
from .database import is_postgres
from .model import LoadReport, Release, ReleaseStatus, SkippedRow

__all__ = [
    "ActivationHook",
    "ReleaseLoad",
    "BulkWriter",
    "open_release",
    "file_checksums",
    "combined_checksum",
    "list_releases",
    "active_release",
    "active_release_ids",
    "forget_active_release_ids",
    "purge_release",
    "to_release",
]

logger = logging.getLogger(__name__)


def file_checksums(paths: Iterable[Path], chunk: int = 1 << 20) -> dict[str, str]:
    """SHA-256 of each file, keyed by file name."""
    sums: dict[str, str] = {}
    for path in paths:
        digest = hashlib.sha256()
        with open(path, "rb") as handle:
            while block := handle.read(chunk):
                digest.update(block)
        sums[path.name] = digest.hexdigest()
    return sums


def combined_checksum(system: str, sums: dict[str, str]) -> str:
    """One checksum for a release: the system plus every file's name and checksum, order-free."""
    digest = hashlib.sha256(system.encode())
    for name in sorted(sums):
        digest.update(f"\n{name}\t{sums[name]}".encode())
    return digest.hexdigest()


def to_release(row: Any) -> Release:
    """A `Release` from a row of the releases table."""
    return Release(
        id=row.id,
        system=row.system,
        version=row.version,
        effective_date=row.effective_date,
        checksum=row.checksum,
        status=ReleaseStatus(row.status),
        loaded_at=row.loaded_at,
        activated_at=row.activated_at,
        source=row.source,
        files=dict(row.files or {}),
        row_counts=dict(row.row_counts or {}),
    )


def list_releases(connection: Connection, system: str | None = None) -> list[Release]:
    """Every release, newest first; only those of `system` when given."""
    query = select(schema.releases).order_by(schema.releases.c.id.desc())
    if system is not None:
        query = query.where(schema.releases.c.system == system)
    return [to_release(row) for row in connection.execute(query)]


def active_release(connection: Connection, system: str) -> Release | None:
    """The active release of `system`, or None when none is loaded."""
    row = connection.execute(
        select(schema.releases).where(
            schema.releases.c.system == system, schema.releases.c.status == ReleaseStatus.ACTIVE.value
        )
    ).first()
    return to_release(row) if row else None


_ACTIVE_IDS = "termmap.active_release_ids"  # connection.info key: (transaction, ids) read in that transaction


def active_release_ids(connection: Connection) -> dict[str, int]:
    """Active release id of every system that has one.

    Read once per transaction: a translation asks for it several times (one per query it runs), and
    on PostgreSQL each read is a round trip. Within one transaction every query so sees the same
    releases, even if a switch commits meanwhile; the next transaction reads again.
    """
    transaction = connection.get_transaction()
    known = connection.info.get(_ACTIVE_IDS)
    if transaction is not None and known is not None and known[0] is transaction:
        return dict(known[1])
    rows = connection.execute(
        select(schema.releases.c.system, schema.releases.c.id).where(
            schema.releases.c.status == ReleaseStatus.ACTIVE.value
        )
    )
    ids = {system: release_id for system, release_id in rows}
    if transaction is None:
        transaction = connection.get_transaction()  # the read began one (autobegin)
    if transaction is not None:
        connection.info[_ACTIVE_IDS] = (transaction, ids)
    return dict(ids)


def forget_active_release_ids(connection: Connection) -> None:
    """Drop what `active_release_ids` read in this transaction (after changing a release's status in it)."""
    connection.info.pop(_ACTIVE_IDS, None)


def purge_release(connection: Connection, release_id: int) -> None:
    """Delete the content rows of one release (its release row stays, as history)."""
    for table in schema.CONTENT_TABLES:
        connection.execute(delete(table).where(table.c.release_id == release_id))


class BulkWriter:
    """Buffers rows for one table of one release and writes them in large batches.

    Rows are plain tuples in the table's column order without `release_id`: the bulk path
    builds no object per row. SQLite gets DB-API `executemany`; PostgreSQL gets `COPY`.
    """

    def __init__(self, load: ReleaseLoad, table: Table) -> None:
        self._load = load
        self._table = table
        self._columns = [column.name for column in table.columns]
        self._release_id = load.release_id
        self._batch_size = load.batch_size
        self._rows: list[tuple] = []
        self.count = 0

    def add(self, row: tuple) -> None:
        rows = self._rows
        rows.append((self._release_id, *row))
        if len(rows) >= self._batch_size:
            self.flush()

    def flush(self) -> None:
        if not self._rows:
            return
        rows, self._rows = self._rows, []
        self._load.write_batch(self._table.name, self._columns, rows)
        self.count += len(rows)


@dataclass
class _Lock:
    """Serialises loads of one system: a PostgreSQL advisory lock, or a file lock beside the SQLite file."""

    handle: Any = None

    @classmethod
    def acquire(cls, connection: Connection, system: str) -> _Lock:
        key = int.from_bytes(hashlib.sha256(system.encode()).digest()[:8], "big", signed=True)
        if is_postgres(connection.engine):
            # Advisory locks are per database: key by schema too, so stores in other schemas never wait.
            schema_name = connection.execute(text("SELECT current_schema()")).scalar() or ""
            key = int.from_bytes(hashlib.sha256(f"{schema_name}\x1f{system}".encode()).digest()[:8], "big", signed=True)
            connection.execute(text("SELECT pg_advisory_lock(:key)"), {"key": key})
            connection.commit()
            return cls(handle=("pg", key))
        database = connection.engine.url.database
        if not database or database == ":memory:":
            return cls()
        handle = open(f"{database}.load-{key & 0xFFFFFFFF:08x}.lock", "w")
        fcntl.flock(handle, fcntl.LOCK_EX)
        return cls(handle=handle)

    def release(self, connection: Connection) -> None:
        if isinstance(self.handle, tuple):
            connection.execute(text("SELECT pg_advisory_unlock(:key)"), {"key": self.handle[1]})
            connection.commit()
        elif self.handle is not None:
            fcntl.flock(self.handle, fcntl.LOCK_UN)
            self.handle.close()


#: Called in the switch's own transaction, once the new release is active and before that commits:
#: (connection, the release now active, the one it replaces or None, the load's report). What it
#: writes (e.g. the audit event of the activation) commits with the switch or not at all; if it
#: raises, the switch is undone and the load fails like any other.
ActivationHook = Callable[[Connection, Release, "Release | None", LoadReport], None]


class ReleaseLoad:
    """A release being written. Use through `open_release`."""

    def __init__(self, connection: Connection, release: Release | None, batch_size: int, already: bool,
                 on_activate: ActivationHook | None = None) -> None:
        self.on_activate = on_activate
        self.connection = connection
        self.batch_size = batch_size
        self.already_loaded = already
        self.release = release
        self.report = LoadReport(release=release, already_loaded=already)
        self._writers: dict[str, BulkWriter] = {}
        self._skipped = None if already else self.writer(schema.load_issues)
        self._started = time.perf_counter()

    @property
    def release_id(self) -> int:
        assert self.release is not None
        return self.release.id

    def writer(self, table: Table) -> BulkWriter:
        """The bulk writer for `table` (one per table per load)."""
        if table.name not in self._writers:
            self._writers[table.name] = BulkWriter(self, table)
        return self._writers[table.name]

    def skip(self, file: str | Path, line: int, problem: str) -> None:
        """Record a row that was not loaded, and why; every skipped row ends up in the report."""
        name = Path(file).name
        self.report.skipped.append(SkippedRow(name, line, problem))
        assert self._skipped is not None
        self._skipped.add((name, line, problem))

    def write_batch(self, table: str, columns: list[str], rows: list[tuple]) -> None:
        dbapi = self.connection.connection.driver_connection
        if is_postgres(self.connection.engine):
            with dbapi.cursor() as cursor:
                with cursor.copy(f"COPY {table} ({', '.join(columns)}) FROM STDIN") as copy:
                    for row in rows:
                        copy.write_row(row)
        else:
            placeholders = ", ".join("?" for _ in columns)
            cursor = dbapi.cursor()
            cursor.executemany(f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({placeholders})", rows)
            cursor.close()
        # Commit on the driver connection: the batch went through the driver, so SQLAlchemy's
        # Connection has no transaction of its own to commit (its commit() would be a no-op).
        dbapi.commit()

    def _finish(self) -> None:
        for writer in self._writers.values():
            writer.flush()
        counts = {name: writer.count for name, writer in self._writers.items() if name != "load_issues"}
        counts["skipped"] = len(self.report.skipped)
        now = datetime.now(timezone.utc)
        releases = schema.releases
        self.connection.commit()
        if is_postgres(self.connection.engine):
            self.connection.execute(text("SET synchronous_commit = on"))
        # The switch: one transaction retires the old release and activates the new one.
        replaced = active_release(self.connection, self.release.system)
        self.connection.execute(
            update(releases)
            .where(releases.c.system == self.release.system, releases.c.status == ReleaseStatus.ACTIVE.value)
            .values(status=ReleaseStatus.RETIRED.value, retired_at=now)
        )
        self.connection.execute(
            update(releases)
            .where(releases.c.id == self.release_id)
            .values(status=ReleaseStatus.ACTIVE.value, activated_at=now, row_counts=counts)
        )
        forget_active_release_ids(self.connection)
        row = self.connection.execute(select(releases).where(releases.c.id == self.release_id)).one()
        self.release = to_release(row)
        self.report.release = self.release
        self.report.rows = counts
        if self.on_activate is not None:
            self.on_activate(self.connection, self.release, replaced, self.report)
        self.connection.commit()
        self.report.seconds = time.perf_counter() - self._started
        logger.info(
            "release %s %s active: %s", self.release.system, self.release.version,
            ", ".join(f"{name} {count}" for name, count in counts.items()),
        )

    def _fail(self) -> None:
        self.connection.rollback()
        _mark_failed(self.connection, self.release_id)


def _mark_failed(connection: Connection, release_id: int) -> None:
    purge_release(connection, release_id)
    connection.execute(
        update(schema.releases).where(schema.releases.c.id == release_id).values(status=ReleaseStatus.FAILED.value)
    )
    connection.commit()


def _purge_leftovers(connection: Connection, system: str) -> None:
    """Purge releases of `system` left staged by a load that died; the lock says none is running."""
    stale = connection.execute(
        select(schema.releases.c.id).where(
            schema.releases.c.system == system, schema.releases.c.status == ReleaseStatus.STAGED.value
        )
    ).scalars().all()
    for release_id in stale:
        logger.warning("purging release %s of %s, left staged by an interrupted load", release_id, system)
        _mark_failed(connection, release_id)


@contextmanager
def open_release(
    engine: Engine,
    system: str,
    version: str,
    effective_date: str | None,
    source: str,
    files: dict[str, str],
    *,
    batch_size: int = 50_000,
    on_activate: ActivationHook | None = None,
) -> Iterator[ReleaseLoad]:
    """Stage a new release of `system`; activate it when the block ends, purge it if the block raises.

    `on_activate` runs inside the switch's transaction (see `ActivationHook`).

    `files` maps each source file name to its SHA-256. If the active release of `system`
    was loaded from exactly these files, the load is `already_loaded` and writes nothing.
    """
    checksum = combined_checksum(system, files)
    with engine.connect() as connection:
        lock = _Lock.acquire(connection, system)
        try:
            _purge_leftovers(connection, system)
            current = active_release(connection, system)
            connection.commit()
            if current is not None and current.checksum == checksum:
                logger.info("release %s %s is already loaded and active", system, current.version)
                yield ReleaseLoad(connection, current, batch_size, already=True)
                return
            release_id = connection.execute(
                insert(schema.releases).values(
                    system=system,
                    version=version,
                    effective_date=effective_date,
                    checksum=checksum,
                    status=ReleaseStatus.STAGED.value,
                    source=source,
                    files=files,
                    row_counts={},
                    loaded_at=datetime.now(timezone.utc),
                )
            ).inserted_primary_key[0]
            staged = to_release(
                connection.execute(select(schema.releases).where(schema.releases.c.id == release_id)).one()
            )
            connection.commit()
            logger.info("staging release %s of %s (pid %s)", release_id, system, os.getpid())
            if is_postgres(engine):
                # Staged rows need no durability of their own: a crash leaves a staged release that the
                # next load purges. The switch to active is made durable again in `_finish`.
                connection.execute(text("SET synchronous_commit = off"))
                connection.commit()
            load = ReleaseLoad(connection, staged, batch_size, already=False, on_activate=on_activate)
            try:
                yield load
                load._finish()  # a failure here (a full disk at the switch, a failing hook) fails the load too
            except BaseException:
                load._fail()
                raise
        finally:
            lock.release(connection)
