"""Reports for auditors, as plain data: what could not be mapped, how much is mapped, what changed, who did what.

Every report is a function of a `Connection` and keyword filters, returning frozen dataclasses
(no pandas, no HTTP, no commit): the JSON API, the CSV / XLSX exports, the CLI and the web UI's
report page all call these. Times are UTC-aware `datetime`s, days `date`s.

    unmapped_report(connection, *, since, until, sender, context, state, source_system, reason,
                    limit=None, offset=0)                            -> list[UnmappedRow]
    count_unmapped(connection, <the same filters>)                   -> int
    coverage_report(connection, *, by="day"|"week", since, until, source_system, sender, context)
                                                                      -> Coverage
    audit_query(connection, *, actor, since, until, action, subject, code, limit=100, offset=0)
                                                                      -> AuditPage
    verify_audit(connection)                                          -> AuditVerification
    release_impact(connection, system, *, release_id=None, previous_id=None, limit=500,
                   search_entries=50, candidates=5)                  -> ReleaseImpact

For files and charts: `unmapped_table(rows)` and `coverage_table(coverage)` give the flat rows a
spreadsheet holds (`UNMAPPED_COLUMNS`, `COVERAGE_COLUMNS`; senders as one `name: n; ...` cell);
`coverage_rows(coverage)` the same rows as records; `as_json(value)` any record as the JSON API
sends it. Bad filter values raise `InvalidRequest`; an unknown system `UnknownSystem`.

**Dates.** `since` and `until` take a `date` or a `datetime` and are both inclusive: a date means
the whole UTC day, a naive datetime is UTC. Days in `translation_counts` are UTC days.

**Unmapped report.** Every review entry ever created — unmapped, unvalidated, or re-queued by a
release change — decided or not, one row each, most occurrences first. An entry is in a date range
when the span it was seen in (`first_seen` .. `last_seen`) overlaps the range: the store keeps the
first and last sighting, not each one. `state` is the workflow state now (a claim whose lease has
expired counts as `open`, as the review queue treats it).

**Coverage.** From `translation_counts` (see `mappings.usage`): the translations answered, by
period (UTC day, or ISO week starting Monday) and source system and sender, as counts and shares
of `mapped`, `unvalidated` and `unmapped`, with subtotals per system, per sender and per period,
and a grand total. A week cut by `since` / `until` counts only its days inside the range.

**Audit query and code search.** Filters combine with AND; newest event first, paged by
`limit` (at most `MAX_AUDIT_PAGE`) and `offset`. `action` is exact, or a prefix when it ends with
`.*` (`review.*`). `subject` is a subject id exactly (a mapping id, a review entry id, a key id, a
release id). `code` finds events whose subject id is the code, or whose `before` / `after` JSON
holds it as a whole JSON string (`"372687004"`, so 37268700 does not match): a `LIKE` over the
stored JSON text. It uses no index, so it reads every event the other filters leave: bound it
with `since` / `until` / `actor` / `action` on a large trail; the page it returns is bounded.

**Release impact.** For a release of a system (default: the active one) against the release
activated before it: the current curated `mapped` mappings with a target that was active and is
not any more (`inactive`, `retired` — absent but with a historical association — or `not in
release`), with the replacements the new release's historical associations suggest, best first;
and the open review entries (not decided) the new release may now answer: their normalised
text equals a designation it did not have before (`exact-match`), their source code became an
active concept of it (`source-code`), or — for the most frequent `search_entries` entries only,
and only when the release is the active one — its candidate search ranks concepts the previous
release did not hold as active (`new-candidates`). At most `limit` entries are listed.
"""
from __future__ import annotations

import dataclasses
import json
from collections import defaultdict
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, timezone
from typing import Any

import orjson
from sqlalchemy import (
    Connection,
    String,
    Text,
    and_,
    any_,
    bindparam,
    case,
    cast,
    exists,
    func,
    or_,
    select,
    type_coerce,
)
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.types import NullType

from terminology import schema
from terminology.errors import InvalidRequest, UnknownSystem
from terminology.model import Release, ReleaseStatus
from terminology.releases import to_release
from terminology.search import search
from terminology.systems import canonical_system

from .audit import AuditEvent, verify_chain
from .curated import Decision
from .tables import (
    audit_events,
    mapping_targets,
    mapping_versions,
    review_entries,
    review_senders,
    translation_counts,
)

__all__ = [
    "STATES",
    "CONTEXTS",
    "STATUSES",
    "MAX_AUDIT_PAGE",
    "UnmappedRow",
    "unmapped_report",
    "count_unmapped",
    "unmapped_table",
    "senders_text",
    "UNMAPPED_COLUMNS",
    "COVERAGE_COLUMNS",
    "CoverageRow",
    "Coverage",
    "coverage_report",
    "coverage_rows",
    "coverage_table",
    "AuditRow",
    "AuditPage",
    "audit_query",
    "AuditVerification",
    "verify_audit",
    "ReleaseRef",
    "Replacement",
    "AffectedTarget",
    "ConceptHit",
    "ImpactedEntry",
    "ReleaseImpact",
    "release_impact",
    "as_json",
]

STATES = ("open", "claimed", "decided")
CONTEXTS = ("allergy", "medication")
STATUSES = ("mapped", "unvalidated", "unmapped")
MAX_AUDIT_PAGE = 1_000
_BATCH = 500
_LOOKUP_BATCH = 5_000  # codes / texts per IN (...) lookup: under SQLite's 32,766 and PostgreSQL's 65,535 parameters
#: Historical associations, best replacement first (as `mappings.release_changes` ranks them).
_PREFERENCE = ("SAME AS", "REPLACED BY", "REMAPPED TO", "POSSIBLY EQUIVALENT TO", "POSSIBLY REPLACED BY",
               "ALTERNATIVE", "MOVED TO", "WAS A", "REFERS TO")
ACTIVE, INACTIVE, RETIRED, ABSENT = "active", "inactive", "retired", "not in release"

Day = date | datetime | None


# --- shared ---------------------------------------------------------------------------------------


def _utc(value: datetime | None) -> datetime | None:
    """A datetime as UTC-aware (naive ones, as SQLite returns them, are UTC)."""
    if value is None:
        return None
    return value.replace(tzinfo=timezone.utc) if value.tzinfo is None else value.astimezone(timezone.utc)


def _raw_time(value: Any) -> datetime | None:
    """A stored time as UTC-aware: SQLite hands back ISO text (UTC), PostgreSQL an aware datetime."""
    if value is None:
        return None
    if isinstance(value, str):  # SQLAlchemy writes SQLite times as naive UTC text; parsing with an offset
        try:                    # is 5x faster than .replace(tzinfo=...) afterwards
            return datetime.fromisoformat(value + "+00:00")
        except ValueError:
            value = datetime.fromisoformat(value)
    zone = value.tzinfo
    if zone is None:
        return value.replace(tzinfo=timezone.utc)
    if zone is timezone.utc or getattr(zone, "key", None) in _UTC_KEYS:  # psycopg: ZoneInfo("Etc/UTC")
        return value
    return value.astimezone(timezone.utc)


_UTC_KEYS = frozenset({"UTC", "Etc/UTC", "Etc/UCT", "UCT", "Etc/Universal", "Universal", "Etc/Zulu", "Zulu"})


def _among(connection: Connection, column, values: Sequence[str]):
    """SQL: `column` is one of `values` (PostgreSQL: one array parameter, `= ANY(...)`; SQLite: `IN (...)`)."""
    if connection.dialect.name == "postgresql":
        return column == any_(bindparam(None, list(values), type_=ARRAY(String)))
    return column.in_(values)


def _chunks(connection: Connection, values: Iterable[str]) -> Iterator[list[str]]:
    """Sorted distinct values in lookup-sized pieces (one piece on PostgreSQL, which binds them as one array)."""
    wanted = sorted({v for v in values if v})
    size = max(len(wanted), 1) if connection.dialect.name == "postgresql" else _LOOKUP_BATCH
    for start in range(0, len(wanted), size):
        yield wanted[start:start + size]


def _raw(column):
    """The column as the driver returns it: no SQLAlchemy result processing (the per-row cost of a big report)."""
    return type_coerce(column, NullType())


def _start(since: Day) -> datetime | None:
    if since is None:
        return None
    if isinstance(since, datetime):
        return _utc(since)
    return datetime.combine(since, time.min, tzinfo=timezone.utc)


def _end(until: Day) -> tuple[datetime | None, bool]:
    """(bound, inclusive): a date's bound is the next midnight, exclusive."""
    if until is None:
        return None, True
    if isinstance(until, datetime):
        return _utc(until), True
    return datetime.combine(until + timedelta(days=1), time.min, tzinfo=timezone.utc), False


def _day(value: Day) -> date | None:
    if value is None or not isinstance(value, datetime):
        return value
    return _utc(value).date()


def _choice(name: str, value: str | None, allowed: Sequence[str]) -> str | None:
    if value is None or value == "":
        return None
    if value not in allowed:
        raise InvalidRequest(f"{name} must be one of {', '.join(allowed)}, not {value!r}")
    return value


def _system(value: str | None) -> str | None:
    return canonical_system(value) if value and value.strip() else None


def as_json(value: Any) -> Any:
    """Any report value as JSON-ready data: dataclasses to dicts, datetimes to ISO 8601 (UTC), tuples to lists.

    It is exactly what the JSON API sends: the value through orjson and back (orjson writes these
    records natively, so an API handler can also hand them to `orjson.dumps` directly).
    """
    return orjson.loads(orjson.dumps(value))


# --- unmapped-code report -------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class UnmappedRow:
    """One review entry: what was received, how often and from whom, and what became of it."""

    entry_id: str
    source_system: str  # canonical; '' when the sender named none
    source_code: str  # as the queue keys it (trimmed); '' when only text came
    original_code: str | None  # `original.source.code` exactly as first received
    original_display: str | None  # `original.source.display`
    original_text: str | None  # `original.text`
    context: str
    target_system: str
    reason: str  # unmapped | unvalidated | release-change
    state: str  # open | claimed | decided (an expired claim is open)
    claimed_by: str | None  # while a claim is live
    occurrences: int
    senders: dict[str, int]  # sender -> occurrences, most first
    first_seen: datetime
    last_seen: datetime
    decision: str | None  # mapped | no-map | deferred
    decided_by: str | None
    decided_at: datetime | None
    mapping_id: str | None
    comment: str | None
    requeue_reason: str | None


def _live_claim(now: datetime):
    e = review_entries
    return and_(e.c.status == "claimed", e.c.claim_expires.is_not(None), e.c.claim_expires > now)


def _state_sql(now: datetime):
    e = review_entries
    return case((_live_claim(now), "claimed"), (e.c.status == "decided", "decided"), else_="open")


def _unmapped_where(*, since: Day, until: Day, sender: str | None, context: str | None, state: str | None,
                    source_system: str | None, reason: str | None, now: datetime) -> list:
    e = review_entries
    where = []
    start = _start(since)
    end, inclusive = _end(until)
    if start is not None:
        where.append(e.c.last_seen >= start)
    if end is not None:
        where.append(e.c.first_seen <= end if inclusive else e.c.first_seen < end)
    if sender:
        where.append(exists().where(review_senders.c.entry_id == e.c.id, review_senders.c.sender == sender))
    if context := _choice("context", context, CONTEXTS):
        where.append(e.c.context == context)
    if state := _choice("state", state, STATES):
        if state == "decided":
            where.append(e.c.status == "decided")
        elif state == "claimed":
            where.append(_live_claim(now))
        else:
            where.append(and_(e.c.status != "decided", ~_live_claim(now)))
    if (system := _system(source_system)) is not None:
        where.append(e.c.source_system == system)
    if reason:
        where.append(e.c.reason == reason)
    return where


def unmapped_report(
    connection: Connection,
    *,
    since: Day = None,
    until: Day = None,
    sender: str | None = None,
    context: str | None = None,
    state: str | None = None,
    source_system: str | None = None,
    reason: str | None = None,
    limit: int | None = None,
    offset: int = 0,
    now: datetime | None = None,
) -> list[UnmappedRow]:
    """Every review entry matching the filters, most occurrences first (then oldest, then id).

    `limit` None returns them all. See the module docstring for how dates and states filter.
    """
    now = _utc(now) or datetime.now(timezone.utc)
    e = review_entries
    where = _unmapped_where(since=since, until=until, sender=sender, context=context, state=state,
                            source_system=source_system, reason=reason, now=now)
    query = (
        select(e.c.id, e.c.source_system, e.c.source_code, cast(e.c.original, Text), e.c.context, e.c.target_system,
               e.c.reason, _state_sql(now), e.c.claimed_by, e.c.occurrences, _raw(e.c.first_seen),
               _raw(e.c.last_seen), e.c.decision, e.c.decided_by, _raw(e.c.decided_at), e.c.mapping_id, e.c.comment,
               e.c.requeue_reason)
        .where(*where)
        .order_by(e.c.occurrences.desc(), e.c.first_seen.asc(), e.c.id.asc())
    )
    if limit is not None:
        query = query.limit(max(0, limit))
    if offset:
        query = query.offset(max(0, offset))
    rows = connection.execute(query).all()
    if not rows:
        return []
    ids = query.with_only_columns(e.c.id)
    senders = _senders_of(connection, ids if limit is not None or offset else ids.order_by(None), len(rows))
    found = []
    for (entry_id, system, code, original, context, target, reason, state, claimed_by, occurrences, first_seen,
         last_seen, decision, decided_by, decided_at, mapping_id, comment, requeue_reason) in rows:
        original = orjson.loads(original) if original else {}
        if not isinstance(original, dict):
            original = {}
        source = original.get("source")
        if not isinstance(source, dict):
            source = {}
        found.append(UnmappedRow(
            entry_id, system, code, source.get("code"), source.get("display"), original.get("text"), context, target,
            reason, state, claimed_by if state == "claimed" else None, occurrences, senders.get(entry_id, {}),
            _raw_time(first_seen), _raw_time(last_seen), decision, decided_by, _raw_time(decided_at), mapping_id,
            comment, requeue_reason,
        ))
    return found


def _senders_of(connection: Connection, ids_query, count: int) -> dict[str, dict[str, int]]:
    """sender -> occurrences for the entries `ids_query` selects, most occurrences first, then by name."""
    s = review_senders
    if count <= _BATCH:
        ids = [row[0] for row in connection.execute(ids_query)]
        chosen = s.c.entry_id.in_(ids)
    else:  # the whole report: let the database join rather than bind thousands of ids
        chosen = s.c.entry_id.in_(ids_query)
    rows = connection.execute(
        select(s.c.entry_id, s.c.sender, s.c.occurrences).where(chosen)
        .order_by(s.c.entry_id, s.c.occurrences.desc(), s.c.sender)
    ).all()
    found: dict[str, dict[str, int]] = {}
    for entry_id, sender, occurrences in rows:
        found.setdefault(entry_id, {})[sender] = occurrences
    return found


def count_unmapped(connection: Connection, *, since: Day = None, until: Day = None, sender: str | None = None,
                   context: str | None = None, state: str | None = None, source_system: str | None = None,
                   reason: str | None = None, now: datetime | None = None) -> int:
    """How many entries `unmapped_report` would return with these filters (for paging)."""
    now = _utc(now) or datetime.now(timezone.utc)
    where = _unmapped_where(since=since, until=until, sender=sender, context=context, state=state,
                            source_system=source_system, reason=reason, now=now)
    return connection.execute(select(func.count()).select_from(review_entries).where(*where)).scalar_one()


#: Columns of the unmapped report as a table (CSV / XLSX), in order.
UNMAPPED_COLUMNS = tuple(f.name for f in dataclasses.fields(UnmappedRow))


def senders_text(senders: Mapping[str, int]) -> str:
    """Senders as one cell: `ed-feed: 3; pharmacy-feed: 1` (most occurrences first)."""
    return "; ".join(f"{name}: {count}" for name, count in senders.items())


def unmapped_table(rows: Iterable[UnmappedRow]) -> list[dict[str, Any]]:
    """The rows as flat dicts for a spreadsheet: the JSON values, senders as `senders_text`, None as None."""
    rows = list(rows)
    flat = as_json(rows)
    for values, row in zip(flat, rows):
        values["senders"] = senders_text(row.senders)
    return flat


# --- coverage -------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class CoverageRow:
    """Translations answered in one period (None: the whole range) for one source system and sender.

    `source_system` / `sender` None means "all" (a subtotal); '' means none was named.
    """

    level: str  # system-sender | system | sender | period | total
    period: date | None  # the day, or the Monday of the ISO week
    source_system: str | None
    sender: str | None
    mapped: int
    unvalidated: int
    unmapped: int
    total: int
    mapped_share: float
    unvalidated_share: float
    unmapped_share: float


@dataclass(frozen=True, slots=True)
class Coverage:
    """Coverage by period: detail rows, subtotals by system, by sender and by period, and the grand total."""

    by: str  # day | week
    since: date | None
    until: date | None
    rows: tuple[CoverageRow, ...]  # per period, source system and sender
    systems: tuple[CoverageRow, ...]  # per period and source system
    senders: tuple[CoverageRow, ...]  # per period and sender
    periods: tuple[CoverageRow, ...]  # per period
    total: CoverageRow  # the whole range


def _share(part: int, total: int) -> float:
    return round(part / total, 4) if total else 0.0


def _coverage_row(level: str, period: date | None, system: str | None, sender: str | None,
                  counts: Mapping[str, int]) -> CoverageRow:
    mapped, unvalidated, unmapped = (counts.get(s, 0) for s in STATUSES)
    total = mapped + unvalidated + unmapped
    return CoverageRow(level, period, system, sender, mapped, unvalidated, unmapped, total, _share(mapped, total),
                       _share(unvalidated, total), _share(unmapped, total))


def _as_date(value: Any) -> date:
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    return date.fromisoformat(str(value)[:10])


def coverage_report(
    connection: Connection,
    *,
    by: str = "day",
    since: Day = None,
    until: Day = None,
    source_system: str | None = None,
    sender: str | None = None,
    context: str | None = None,
) -> Coverage:
    """Mapped / unvalidated / unmapped translations per period, source system and sender, with subtotals."""
    by = _choice("by", by or "day", ("day", "week")) or "day"
    t = translation_counts
    start, end = _day(since), _day(until)
    where = []
    if start is not None:
        where.append(t.c.day >= start)
    if end is not None:
        where.append(t.c.day <= end)
    if (system := _system(source_system)) is not None:
        where.append(t.c.source_system == system)
    if sender is not None and sender != "":
        where.append(t.c.sender == sender)
    if context := _choice("context", context, CONTEXTS):
        where.append(t.c.context == context)
    rows = connection.execute(
        select(t.c.day, t.c.source_system, t.c.sender, t.c.status, func.sum(t.c["count"]))
        .where(*where).group_by(t.c.day, t.c.source_system, t.c.sender, t.c.status)
    )
    detail: dict[tuple, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    periods: dict[date, date] = {}
    for day, system_, sender_, status, count in rows:
        if day not in periods:
            as_date = _as_date(day)
            periods[day] = as_date - timedelta(days=as_date.weekday()) if by == "week" else as_date
        detail[(periods[day], system_, sender_)][status] += int(count)
    by_system: dict[tuple, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    by_sender: dict[tuple, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    by_period: dict[date, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    total: dict[str, int] = defaultdict(int)
    for (period, system_, sender_), counts in detail.items():
        for status, count in counts.items():
            by_system[(period, system_)][status] += count
            by_sender[(period, sender_)][status] += count
            by_period[period][status] += count
            total[status] += count
    return Coverage(
        by=by, since=start, until=end,
        rows=tuple(_coverage_row("system-sender", p, s, n, c) for (p, s, n), c in sorted(detail.items())),
        systems=tuple(_coverage_row("system", p, s, None, c) for (p, s), c in sorted(by_system.items())),
        senders=tuple(_coverage_row("sender", p, None, n, c) for (p, n), c in sorted(by_sender.items())),
        periods=tuple(_coverage_row("period", p, None, None, c) for p, c in sorted(by_period.items())),
        total=_coverage_row("total", None, None, None, total),
    )


#: Columns of the coverage report as a table (CSV / XLSX), in order.
COVERAGE_COLUMNS = tuple(f.name for f in dataclasses.fields(CoverageRow))


def coverage_rows(coverage: Coverage) -> list[CoverageRow]:
    """Every row of every level, in table order: detail, by system, by sender, by period, then the total."""
    return [*coverage.rows, *coverage.systems, *coverage.senders, *coverage.periods, coverage.total]


def coverage_table(coverage: Coverage) -> list[dict[str, Any]]:
    """`coverage_rows` as flat JSON-ready dicts (a spreadsheet's rows)."""
    return as_json(coverage_rows(coverage))


# --- audit trail ----------------------------------------------------------------------------------


#: An audit event as the reports show it (the audit module's own record type).
AuditRow = AuditEvent


@dataclass(frozen=True, slots=True)
class AuditPage:
    """One page of events, newest first; `next_offset` None when it is the last."""

    events: tuple[AuditRow, ...]
    limit: int
    offset: int
    next_offset: int | None


def _audit_row(row: Any) -> AuditRow:
    return AuditRow(row.seq, _utc(row.at), row.actor, row.action, row.subject_type, row.subject_id, row.before,
                    row.after, row.prev_hash, row.hash)


def audit_query(
    connection: Connection,
    *,
    actor: str | None = None,
    since: Day = None,
    until: Day = None,
    action: str | None = None,
    subject: str | None = None,
    code: str | None = None,
    limit: int = 100,
    offset: int = 0,
) -> AuditPage:
    """Audit events matching every filter given, newest first (see the module docstring on `action` and `code`)."""
    if not 1 <= limit <= MAX_AUDIT_PAGE:
        raise InvalidRequest(f"limit must be between 1 and {MAX_AUDIT_PAGE}, not {limit}")
    if offset < 0:
        raise InvalidRequest(f"offset must not be negative, not {offset}")
    a = audit_events
    where = []
    if actor:
        where.append(a.c.actor == actor)
    start = _start(since)
    end, inclusive = _end(until)
    if start is not None:
        where.append(a.c.at >= start)
    if end is not None:
        where.append(a.c.at <= end if inclusive else a.c.at < end)
    if action:
        if action.endswith(".*"):
            where.append(a.c.action.startswith(action[:-1], autoescape=True))
        else:
            where.append(a.c.action == action)
    if subject:
        where.append(a.c.subject_id == subject)
    if code:
        if len(code) > 128:
            raise InvalidRequest("code is longer than any code termmap stores (128 characters)")
        quoted = json.dumps(code)  # as the JSON column stores a string: quoted, non-ASCII escaped
        where.append(or_(a.c.subject_id == code,
                         cast(a.c.before, Text).contains(quoted, autoescape=True),
                         cast(a.c.after, Text).contains(quoted, autoescape=True)))
    rows = connection.execute(
        select(a).where(*where).order_by(a.c.seq.desc()).limit(limit + 1).offset(offset)
    ).all()
    more = len(rows) > limit
    return AuditPage(tuple(_audit_row(r) for r in rows[:limit]), limit, offset, offset + limit if more else None)


@dataclass(frozen=True, slots=True)
class AuditVerification:
    """The chain recomputed: intact, or the first event whose link or content does not match."""

    intact: bool
    checked: int  # events verified before the first broken one (all of them when intact)
    events: int  # events stored
    broken: AuditRow | None
    problem: str | None
    #: `seq:hash` of the last event: keep it outside the database and pass it to the next verification,
    #: which then also detects events removed from the end of the chain.
    head: str | None = None


def verify_audit(connection: Connection, head: tuple[int, str] | None = None) -> AuditVerification:
    """Recompute the audit chain (`mappings.audit.verify_chain`) and say where it first breaks, if it does.

    `head`: (seq, hash) an earlier verification reported; the chain must still hold it.
    """
    events = connection.execute(select(func.count()).select_from(audit_events)).scalar_one()
    checked, broken, problem = verify_chain(connection, head=head)
    row = None
    if broken is not None:
        row = AuditRow(broken.seq, _utc(broken.at), broken.actor, broken.action, broken.subject_type,
                       broken.subject_id, broken.before, broken.after, broken.prev_hash, broken.hash)
    last = connection.execute(select(audit_events.c.seq, audit_events.c.hash)
                              .order_by(audit_events.c.seq.desc()).limit(1)).first()
    return AuditVerification(problem is None, checked, events, row, problem,
                             f"{last.seq}:{last.hash}" if last else None)


# --- release impact -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ReleaseRef:
    id: int
    system: str
    version: str
    label: str  # `system|version`
    status: str
    activated_at: datetime | None


@dataclass(frozen=True, slots=True)
class Replacement:
    """A replacement the new release's historical associations suggest (`active` None: it lacks the code)."""

    code: str
    display: str | None
    association: str
    active: bool | None


@dataclass(frozen=True, slots=True)
class AffectedTarget:
    """A current curated mapping's target that was active in the previous release and is not in this one."""

    mapping_id: str
    mapping_version: int
    source_system: str
    source_code: str
    source_text_norm: str
    context: str
    target_code: str
    target_display: str | None
    was: str | None  # active (None: no previous release to compare with)
    now: str  # inactive | retired | not in release
    replacements: tuple[Replacement, ...]


@dataclass(frozen=True, slots=True)
class ConceptHit:
    code: str
    display: str
    term: str  # the designation that matched
    score: float | None  # candidate score (0-100); None for an exact match


@dataclass(frozen=True, slots=True)
class ImpactedEntry:
    """An open review entry the new release may now answer, and why."""

    entry_id: str
    source_system: str
    source_code: str
    text_norm: str
    context: str
    target_system: str
    state: str
    occurrences: int
    why: str  # exact-match | source-code | new-candidates
    concepts: tuple[ConceptHit, ...]


@dataclass(frozen=True, slots=True)
class ReleaseImpact:
    system: str
    release: ReleaseRef
    previous: ReleaseRef | None
    mappings_checked: int  # current `mapped` mappings with a target in `system`
    targets: tuple[AffectedTarget, ...]
    entries: tuple[ImpactedEntry, ...]
    entries_searched: int  # open entries whose candidates were searched (bounded by `search_entries`)
    truncated: bool  # more entries were impacted than `limit` lists


def _ref(release: Release) -> ReleaseRef:
    return ReleaseRef(release.id, release.system, release.version, release.label, release.status.value,
                      _utc(release.activated_at))


def _releases_to_compare(connection: Connection, system: str, release_id: int | None,
                         previous_id: int | None) -> tuple[Release, Release | None]:
    r = schema.releases
    rows = [to_release(row) for row in connection.execute(select(r).where(r.c.system == system))]
    by_id = {release.id: release for release in rows}
    if release_id is None:
        release = next((x for x in rows if x.status is ReleaseStatus.ACTIVE), None)
        if release is None:
            raise UnknownSystem(system)
    elif release_id in by_id and by_id[release_id].activated_at is not None:
        release = by_id[release_id]
    else:
        raise InvalidRequest(f"release {release_id} is not a release of {system} that was ever activated")
    if previous_id is not None:
        if previous_id not in by_id or previous_id == release.id:
            raise InvalidRequest(f"release {previous_id} is not another release of {system}")
        return release, by_id[previous_id]
    earlier = [x for x in rows if x.activated_at is not None and x.id != release.id
               and (_utc(x.activated_at), x.id) < (_utc(release.activated_at), release.id)]
    return release, max(earlier, key=lambda x: (_utc(x.activated_at), x.id)) if earlier else None


def _states(connection: Connection, release_id: int | None, codes: Iterable[str]) -> dict[str, tuple[bool, str]]:
    """code -> (active, display) for the codes one release holds."""
    if release_id is None:
        return {}
    c = schema.concepts
    found = {}
    for chunk in _chunks(connection, codes):
        for row in connection.execute(select(c.c.code, c.c.active, c.c.display)
                                      .where(c.c.release_id == release_id, _among(connection, c.c.code, chunk))):
            found[row.code] = (bool(row.active), row.display)
    return found


def _associations(connection: Connection, release_id: int, codes: Iterable[str]) -> dict[str, list[Replacement]]:
    a, c = schema.associations, schema.concepts
    links: dict[str, list[tuple]] = defaultdict(list)
    for chunk in _chunks(connection, codes):
        rows = connection.execute(
            select(a.c.source_code, a.c.type, a.c.target_code, c.c.display, c.c.active)
            .select_from(a.outerjoin(c, and_(c.c.release_id == a.c.release_id, c.c.code == a.c.target_code)))
            .where(a.c.release_id == release_id, _among(connection, a.c.source_code, chunk))
        )
        for row in rows:
            links[row.source_code].append((row.type, row.target_code, row.display,
                                           None if row.active is None else bool(row.active)))
    rank = {name: index for index, name in enumerate(_PREFERENCE)}
    return {
        code: [Replacement(target, display, kind, active)
               for kind, target, display, active in sorted(found, key=lambda x: (rank.get(x[0], len(rank)), x[0], x[1]))]
        for code, found in links.items()
    }


def _current_targets(connection: Connection, system: str) -> list[Any]:
    """The targets in `system` of the newest version of every curated mapping whose decision is `mapped`.

    One query (as `curated.current_mappings` picks the newest version), not the mapping records:
    a large formulary has thousands of mappings and this report needs only their targets.
    """
    v, t = mapping_versions, mapping_targets
    newest = (select(v.c.mapping_id, func.max(v.c.version).label("version"))
              .where(v.c.target_system == system).group_by(v.c.mapping_id).subquery())
    return connection.execute(
        select(v.c.mapping_id, v.c.version, v.c.source_system, v.c.source_code, v.c.source_text_norm, v.c.context,
               t.c.code, t.c.display)
        .select_from(v.join(newest, and_(v.c.mapping_id == newest.c.mapping_id, v.c.version == newest.c.version))
                     .join(t, t.c.version_row == v.c.id))
        .where(v.c.decision == Decision.MAPPED.value, t.c.system == system)
        .order_by(v.c.source_system, v.c.context, v.c.source_code, v.c.source_text_norm, t.c.code)
    ).all()


def _affected_targets(connection: Connection, system: str, release: Release,
                      previous: Release | None) -> tuple[int, list[AffectedTarget]]:
    targets = _current_targets(connection, system)
    codes = {row.code for row in targets}
    now = _states(connection, release.id, codes)
    before = _states(connection, previous.id, codes) if previous else {}
    doubtful = {code for code in codes if not (code in now and now[code][0])
                and (previous is None or (code in before and before[code][0]))}
    replacements = _associations(connection, release.id, doubtful) if doubtful else {}
    found = []
    for row in targets:
        if row.code not in doubtful:
            continue
        links = tuple(replacements.get(row.code, ()))
        state = INACTIVE if row.code in now else (RETIRED if links else ABSENT)
        found.append(AffectedTarget(
            row.mapping_id, row.version, row.source_system, row.source_code, row.source_text_norm, row.context,
            row.code, row.display, ACTIVE if previous is not None else None, state, links,
        ))
    return len({row.mapping_id for row in targets}), found


def _designations(connection: Connection, release_id: int, texts: Iterable[str]) -> dict[str, dict[str, tuple]]:
    """text_norm -> {code: (display, term)} for the active concepts of one release with that designation."""
    d, c = schema.designations, schema.concepts
    found: dict[str, dict[str, tuple]] = defaultdict(dict)
    for chunk in _chunks(connection, texts):
        # Driven by the (release_id, term_norm) index: a join from the queue lets SQLite's planner scan instead.
        rows = connection.execute(
            select(d.c.term_norm, d.c.code, c.c.display, d.c.term)
            .select_from(d.join(c, and_(c.c.release_id == d.c.release_id, c.c.code == d.c.code)))
            .where(d.c.release_id == release_id, _among(connection, d.c.term_norm, chunk), c.c.active.is_(True))
        )
        for row in rows:
            found[row.term_norm].setdefault(row.code, (row.display, row.term))
    return found


def _entry_fields(row: Any, now: datetime) -> dict[str, Any]:
    claimed = row.status == "claimed" and row.claim_expires is not None and _utc(row.claim_expires) > now
    return dict(entry_id=row.id, source_system=row.source_system, source_code=row.source_code,
                text_norm=row.text_norm, context=row.context, target_system=row.target_system,
                state="claimed" if claimed else "open", occurrences=row.occurrences)


def _open_entries(connection: Connection, ids: Iterable[str]) -> dict[str, Any]:
    e, found = review_entries, {}
    for chunk in _chunks(connection, ids):
        for row in connection.execute(select(e).where(_among(connection, e.c.id, chunk))):
            found[row.id] = row
    return found


def release_impact(
    connection: Connection,
    system: str,
    *,
    release_id: int | None = None,
    previous_id: int | None = None,
    limit: int = 500,
    search_entries: int = 50,
    candidates: int = 5,
    now: datetime | None = None,
) -> ReleaseImpact:
    """What a release of `system` changes for curated mappings and the open review queue (module docstring)."""
    system = canonical_system(system)
    now = _utc(now) or datetime.now(timezone.utc)
    release, previous = _releases_to_compare(connection, system, release_id, previous_id)
    checked, targets = _affected_targets(connection, system, release, previous)
    e = review_entries

    impacted: list[tuple[str, str, tuple[ConceptHit, ...]]] = []  # (entry id, why, concepts)
    undecided = e.c.status != "decided"
    texts = connection.execute(select(e.c.id, e.c.text_norm)
                               .where(undecided, e.c.target_system == system, e.c.text_norm != "")).all()
    now_terms = _designations(connection, release.id, (t.text_norm for t in texts))
    before_terms = _designations(connection, previous.id, now_terms) if previous else {}
    for entry_id, text_norm in texts:
        new = {code: hit for code, hit in now_terms.get(text_norm, {}).items()
               if code not in before_terms.get(text_norm, {})}
        if new:
            impacted.append((entry_id, "exact-match", tuple(ConceptHit(code, display, term, None)
                                                           for code, (display, term) in sorted(new.items()))))
    listed = {entry_id for entry_id, _, _ in impacted}

    coded = connection.execute(select(e.c.id, e.c.source_code)
                               .where(undecided, e.c.source_system == system, e.c.source_code != "")).all()
    now_codes = _states(connection, release.id, (r.source_code for r in coded))
    before_codes = _states(connection, previous.id, (r.source_code for r in coded)) if previous else {}
    for entry_id, code in coded:
        active, display = now_codes.get(code, (False, ""))
        if active and entry_id not in listed and not before_codes.get(code, (False, ""))[0]:
            impacted.append((entry_id, "source-code", (ConceptHit(code, display, display, None),)))
            listed.add(entry_id)

    searched = 0
    if release.status is ReleaseStatus.ACTIVE and previous is not None and search_entries > 0:
        rows = connection.execute(
            select(e.c.id, e.c.original, e.c.text_norm, e.c.context)
            .where(e.c.status != "decided", e.c.target_system == system, e.c.text_norm != "")
            .order_by(e.c.occurrences.desc(), e.c.first_seen.asc(), e.c.id.asc()).limit(search_entries)
        ).all()
        found: dict[str, list] = {}
        for row in rows:
            if row.id in listed:
                continue
            searched += 1
            original = row.original if isinstance(row.original, dict) else {}
            words = original.get("text") or (original.get("source") or {}).get("display") or row.text_norm
            found[row.id] = search(connection, words, system, limit=candidates, context=row.context)
        codes = {hit.concept.code for hits in found.values() for hit in hits}
        earlier = _states(connection, previous.id, codes) if previous else {}
        for entry_id, hits in found.items():
            new = tuple(ConceptHit(h.concept.code, h.concept.display, h.term, h.score) for h in hits
                        if not earlier.get(h.concept.code, (False, ""))[0])
            if new:
                impacted.append((entry_id, "new-candidates", new))

    rows = _open_entries(connection, [entry_id for entry_id, _, _ in impacted])
    ordered = sorted((x for x in impacted if x[0] in rows),
                     key=lambda x: (-rows[x[0]].occurrences, _utc(rows[x[0]].first_seen), x[0]))
    entries = tuple(ImpactedEntry(**_entry_fields(rows[entry_id], now), why=why, concepts=concepts)
                    for entry_id, why, concepts in ordered[:limit])
    return ReleaseImpact(system, _ref(release), _ref(previous) if previous else None, checked, tuple(targets),
                         entries, searched, len(ordered) > limit)
