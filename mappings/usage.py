"""Translation counts for coverage reports: counted in memory per worker, added to the store every few seconds.

    usage = UsageCounter()
    usage.count(translation, "allergy", source_system=request.source.system, sender=request.sender)  # hot path
    with engine.begin() as connection:
        usage.flush(connection)          # adds the counts into `translation_counts`, clears them

The hot path is one dict increment under a lock: no clock formatting, no canonicalising, no I/O.
The key is (UTC day, source system as sent, sender, context, status, rule); `flush` canonicalises
the system (`terminology.systems.canonical_system`), merges keys that then coincide, and upserts
`count = count + excluded.count` (SQLite / PostgreSQL `INSERT ... ON CONFLICT`, at driver level: see
`write_counts`), rows sorted by key so that two workers flushing at once lock rows in the same order.

`UsageFlusher` runs `flush` on a daemon thread every `every` seconds (2 by default) and once more
when stopped; the app starts it in its lifespan and stops it at shutdown. Every worker process
has its own counter and flusher. Code that translates outside the app (a CLI command, a batch
job) counts into a `UsageCounter` of its own and calls `flush_to(engine)` when done.

What is counted: every translation answered (JSON, batch item, FHIR $translate, each concept of a
transformed resource), once; an idempotent replay is the same message again and is not counted,
nor is a FHIR probe of several codings (rolled back). Counts are per sender as the sender names
itself, so keys grow with the distinct senders and systems seen within one flush interval.

**What can be lost.** Counts are statistics, kept in memory for at most one flush interval: a
worker killed with SIGKILL (or OOM-killed, or a power loss) loses the counts of its last <= 2 s.
A flush that fails (the store is down) keeps its counts for the next attempt, up to
`MAX_PENDING_KEYS` distinct keys; beyond that they are dropped and the loss is logged. The
review queue, which is clinical, is not counted here: it is written in the request's own
transaction and is never lost this way.
"""
from __future__ import annotations

import logging
import threading
import time
from collections.abc import Mapping
from datetime import date, timedelta

from sqlalchemy import Connection, Engine

from terminology.systems import canonical_system

from .tables import translation_counts
from .translation import Translation

__all__ = ["UsageKey", "UsageCounter", "UsageFlusher", "MAX_PENDING_KEYS", "write_counts", "day_number", "day_of"]

logger = logging.getLogger(__name__)

#: (UTC day number since 1970-01-01, source system as sent, sender, context, status, rule)
UsageKey = tuple[int, str, str, str, str, str]

#: Distinct keys kept across failed flushes before counts are dropped (and the loss logged).
MAX_PENDING_KEYS = 200_000
_EPOCH = date(1970, 1, 1)
_SYSTEM_MAX, _SENDER_MAX, _SHORT_MAX = 255, 255, 16  # column sizes of translation_counts
_ROWS_PER_STATEMENT = 20_000
_clock = time.time


def day_number(when: float | None = None) -> int:
    """The UTC day of a POSIX time (default: now) as days since 1970-01-01."""
    return int((time.time() if when is None else when) // 86_400)


def day_of(number: int) -> date:
    """The date of a day number."""
    return _EPOCH + timedelta(days=number)


class UsageCounter:
    """Thread-safe in-memory counts of translations answered, by day, source system, sender, context, status, rule."""

    def __init__(self) -> None:
        self._counts: dict[UsageKey, int] = {}
        self._lock = threading.Lock()
        self._day, self._day_starts, self._day_ends = 0, 0.0, 0.0  # today's number, and its POSIX span

    def _new_day(self, now: float) -> int:
        self._day = day_number(now)
        self._day_starts, self._day_ends = self._day * 86_400.0, (self._day + 1) * 86_400.0
        return self._day

    def count(self, result: Translation, context: str, *, source_system: str | None = None,
              sender: str | None = None, day: int | None = None) -> None:
        """Count one answered translation (the hot path: a dict increment under a lock)."""
        # `_value_` rather than `.value`: the enum property costs more than the rest of this line.
        rule = result.matches[0].rule._value_ if result.matches else "none"
        if day is None:
            now = _clock()
            day = self._day if self._day_starts <= now < self._day_ends else self._new_day(now)
        key = (day, source_system or "", sender or "", context, result.status._value_, rule)
        with self._lock:
            self._counts[key] = self._counts.get(key, 0) + 1

    def add(self, key: UsageKey, n: int = 1) -> None:
        """Add `n` to one key (for callers that count something other than a `Translation`)."""
        with self._lock:
            self._counts[key] = self._counts.get(key, 0) + n

    def __len__(self) -> int:
        """Distinct keys counted and not yet flushed."""
        return len(self._counts)

    def pending(self) -> int:
        """Translations counted and not yet flushed."""
        with self._lock:
            return sum(self._counts.values())

    def take(self) -> dict[UsageKey, int]:
        """The counts so far, leaving the counter empty."""
        with self._lock:
            taken, self._counts = self._counts, {}
        return taken

    def restore(self, counts: Mapping[UsageKey, int]) -> None:
        """Put back counts a failed flush took (bounded by `MAX_PENDING_KEYS`; the excess is dropped and logged)."""
        with self._lock:
            lost = 0
            for key, n in counts.items():
                if key in self._counts or len(self._counts) < MAX_PENDING_KEYS:
                    self._counts[key] = self._counts.get(key, 0) + n
                else:
                    lost += n
        if lost:
            logger.error("translation counts: %d counts dropped after failed flushes (more than %d keys pending)",
                         lost, MAX_PENDING_KEYS)

    def flush(self, connection: Connection) -> int:
        """Add the counts so far into `translation_counts` and clear them; returns how many translations it added.

        Runs in the caller's transaction (the caller commits). If the statement fails, the counts
        are put back for the next flush and the error is raised.
        """
        taken = self.take()
        if not taken:
            return 0
        try:
            return write_counts(connection, taken)
        except BaseException:
            self.restore(taken)
            raise

    def flush_to(self, engine: Engine) -> int:
        """`flush` in a transaction of its own on `engine`; returns how many translations it added."""
        if not self._counts:  # unlocked peek: at worst one flush interval late
            return 0
        taken = self.take()
        try:
            with engine.begin() as connection:
                return write_counts(connection, taken)
        except BaseException:
            self.restore(taken)
            raise


def _rows(counts: Mapping[UsageKey, int], *, iso_days: bool) -> list[tuple]:
    """One row per stored key, in column order: systems canonicalised, text cut to the column sizes, sorted by key."""
    merged: dict[tuple, int] = {}
    systems: dict[str, str] = {}
    for (day, system, sender, context, status, rule), n in counts.items():
        if system not in systems:
            systems[system] = canonical_system(system)[:_SYSTEM_MAX] if system else ""
        key = (day, systems[system], sender[:_SENDER_MAX], context[:_SHORT_MAX], status[:_SHORT_MAX],
               rule[:_SHORT_MAX])
        merged[key] = merged.get(key, 0) + n
    days: dict[int, object] = {}
    rows = []
    for (day, *rest), n in sorted(merged.items()):
        if day not in days:
            days[day] = day_of(day).isoformat() if iso_days else day_of(day)
        rows.append((days[day], *rest, n))
    return rows


#: The upsert, as the SQLite / PostgreSQL dialect `insert(...).on_conflict_do_update(...)` builds it, written
#: out to run at driver level: on SQLite one `executemany`; on PostgreSQL one statement per chunk over arrays
#: (`unnest`), which is 5-10x faster than a statement per row for a large flush.
_COLUMNS = "day, source_system, sender, context, status, rule, count"
_ON_CONFLICT = (f"ON CONFLICT (day, source_system, sender, context, status, rule) "
                f"DO UPDATE SET count = {translation_counts.name}.count + excluded.count")
_SQLITE_UPSERT = f"INSERT INTO {translation_counts.name} ({_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?) {_ON_CONFLICT}"
_POSTGRES_UPSERT = (f"INSERT INTO {translation_counts.name} ({_COLUMNS}) SELECT * FROM unnest(%s::date[], "
                    f"%s::varchar[], %s::varchar[], %s::varchar[], %s::varchar[], %s::varchar[], %s::integer[]) "
                    f"{_ON_CONFLICT}")


def write_counts(connection: Connection, counts: Mapping[UsageKey, int]) -> int:
    """Upsert `counts` into `translation_counts` (adding to what is there); returns the translations added.

    Rows go in key order, so two workers flushing at once take row locks in the same order.
    """
    sqlite = connection.dialect.name == "sqlite"
    rows = _rows(counts, iso_days=sqlite)  # SQLite keeps a Date as ISO text, as SQLAlchemy's Date writes it
    for start in range(0, len(rows), _ROWS_PER_STATEMENT):
        chunk = rows[start:start + _ROWS_PER_STATEMENT]
        if sqlite:
            connection.exec_driver_sql(_SQLITE_UPSERT, chunk)
        else:
            connection.exec_driver_sql(_POSTGRES_UPSERT, tuple(list(column) for column in zip(*chunk)))
    return sum(row[-1] for row in rows)


class UsageFlusher:
    """Flushes a `UsageCounter` into the store every `every` seconds on a daemon thread, and once more on `stop`."""

    def __init__(self, counter: UsageCounter, engine: Engine, every: float = 2.0) -> None:
        self.counter, self.engine, self.every = counter, engine, every
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> UsageFlusher:
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="termmap-usage-flush", daemon=True)
            self._thread.start()
        return self

    def _run(self) -> None:
        while not self._stop.wait(self.every):
            self.flush()

    def flush(self) -> int:
        """One flush now; a failure is logged (the counts wait for the next one), never raised."""
        try:
            return self.counter.flush_to(self.engine)
        except Exception as exc:  # noqa: BLE001 - statistics must never take the worker down
            logger.warning("translation counts not flushed (kept for the next attempt): %s",
                           str(exc).splitlines()[0] if str(exc) else type(exc).__name__)
            return 0

    def stop(self, timeout: float = 10.0) -> int:
        """Stop the thread and flush what is left; returns how many translations the last flush added."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None
        return self.flush()
