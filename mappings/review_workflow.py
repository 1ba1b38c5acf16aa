"""Pharmacist curation: claim review-queue entries, decide them, reopen them; revise curated mappings.

Each entry moves through three states:

    open ──claim / claim_next──▶ claimed ──decide──▶ decided
     ▲                             │                    │
     └──── release, lease expiry ──┘                    │
     └──────────────────── reopen ──────────────────────┘

A claim is a lease (`claimed_by` until `claim_expires`, 15 minutes unless asked otherwise): once
it has expired the entry counts as `open` again, in listings and for claiming. Only the holder
decides (an admin may override); a decision is `mapped` (one or more targets, each an active
concept of its system's active release), `no-map` or `deferred`. `mapped` and `no-map` write a
new version of the curated mapping for the entry's source (`mappings.curated.record_mapping`,
origin `review:<entry id>`), which the translation engine answers from at once; `deferred`
writes none. Every change here appends an audit event (`review.claimed`, `review.released`,
`review.decided`, `review.reopened`; mapping versions add their own `mapping.version`).

Priority, highest first: more occurrences, then older (earlier `first_seen`), then entry id
(only so that the order is total).

Every function takes a `Connection` and leaves committing to the caller; run each call in its
own transaction (`with engine.begin() as connection:`). Writers lock what they change first —
the entry's row on PostgreSQL (`FOR UPDATE`, `SKIP LOCKED` when taking the next entry), the
database's write lock on SQLite (`BEGIN IMMEDIATE`) — so two reviewers never hold one entry and
two edits of one mapping never both pass the stale-version check.

Errors (all `terminology.errors.TermmapError`):

    MappingError
    └── ReviewError              the review workflow refused a step
        ├── UnknownEntry         no review entry with that id                    (404)
        ├── EntryHeld            someone else holds a live claim (names who and until when) (409)
        ├── NotClaimHolder       deciding or releasing an entry you do not hold  (409)
        └── WrongState           e.g. deciding a decided entry, reopening an open one (409)
    └── MappingRetired           retiring a mapping that is already retired      (409)
    InvalidRequest
    └── InvalidDecision          a decision or edit that cannot be recorded as given (422)

`StaleMappingVersion` (412) and `UnknownMapping` (404) come from `mappings.curated`.
"""
from __future__ import annotations

import enum
import hashlib
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any, NamedTuple

from sqlalchemy import Connection, and_, case, exists, func, or_, select, text, update

from terminology import queries
from terminology.errors import InvalidRequest, MappingError
from terminology.model import Concept
from terminology.normalise import normalise_term
from terminology.search import search
from terminology.systems import RXNORM, canonical_system

from .audit import record_event
from .curated import (
    CuratedMapping,
    Decision,
    Relationship,
    Target,
    current_mapping,
    find_current,
    record_mapping,
)
from .tables import review_entries, review_senders

__all__ = [
    "DEFAULT_LEASE",
    "ReviewState",
    "ReviewDecision",
    "ReviewItem",
    "EntryPage",
    "Decided",
    "ReviewCandidate",
    "ReviewError",
    "UnknownEntry",
    "EntryHeld",
    "NotClaimHolder",
    "WrongState",
    "MappingRetired",
    "InvalidDecision",
    "get_item",
    "list_entries",
    "claim_next",
    "claim",
    "release",
    "decide",
    "reopen",
    "candidates_for",
    "validate_targets",
    "mapping_for",
    "revise_mapping",
    "retire_mapping",
    "targets_from",
]

logger = logging.getLogger(__name__)

#: How long a claim lasts unless the caller asks for another lease.
DEFAULT_LEASE = timedelta(minutes=15)
_MAX_LEASE = timedelta(hours=12)


class ReviewState(str, enum.Enum):
    """Where an entry is in the workflow (a claimed entry whose lease expired counts as OPEN)."""

    OPEN = "open"
    CLAIMED = "claimed"
    DECIDED = "decided"


class ReviewDecision(str, enum.Enum):
    """What a pharmacist decided: a mapping, that there is none, or to come back to it later."""

    MAPPED = "mapped"
    NO_MAP = "no-map"
    DEFERRED = "deferred"


# --- errors -------------------------------------------------------------------------------------


class ReviewError(MappingError):
    """The review workflow refused a step."""


class UnknownEntry(ReviewError):
    """No review entry has that id."""

    def __init__(self, entry_id: str) -> None:
        self.entry_id = entry_id
        super().__init__(f"no review entry {entry_id!r}")


class EntryHeld(ReviewError):
    """Someone else holds a live claim on the entry."""

    def __init__(self, entry_id: str, holder: str, until: datetime) -> None:
        self.entry_id, self.holder, self.until = entry_id, holder, until
        super().__init__(f"review entry {entry_id} is claimed by {holder} until {until.isoformat()}")


class NotClaimHolder(ReviewError):
    """Deciding or releasing an entry the reviewer does not hold."""

    def __init__(self, entry_id: str, reviewer: str, holder: str | None, until: datetime | None) -> None:
        self.entry_id, self.reviewer, self.holder, self.until = entry_id, reviewer, holder, until
        held = f"it is claimed by {holder} until {until.isoformat()}" if holder and until else "nobody has claimed it"
        super().__init__(f"{reviewer} does not hold review entry {entry_id} ({held}): claim it first")


class WrongState(ReviewError):
    """A step that the entry's current state does not allow."""

    def __init__(self, entry_id: str, state: str, problem: str) -> None:
        self.entry_id, self.state = entry_id, state
        super().__init__(f"review entry {entry_id} is {state}: {problem}")


class MappingRetired(MappingError):
    """Retiring a mapping whose newest version already says `retired`."""

    def __init__(self, mapping: CuratedMapping) -> None:
        self.mapping_id, self.version = mapping.mapping_id, mapping.version
        super().__init__(f"mapping {mapping.mapping_id} is already retired (version {mapping.version}, by "
                         f"{mapping.author} at {_aware(mapping.created_at).isoformat()})")


class InvalidDecision(InvalidRequest):
    """A decision or mapping edit that cannot be recorded as given (names what is wrong)."""


# --- records ------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ReviewItem:
    """A review entry with its workflow state; `status` is effective (an expired claim reads OPEN).

    `claimed_by`/`claim_expires` are set only while a claim is live. The decision fields keep the
    latest decision until the entry is reopened; `mapping_id` stays, naming the entry's mapping.
    """

    id: str
    status: ReviewState
    source_system: str
    source_code: str
    text_norm: str
    context: str
    target_system: str
    original: dict[str, Any]
    reason: str  # why it was queued: unmapped | unvalidated
    occurrences: int
    first_seen: datetime
    last_seen: datetime
    claimed_by: str | None
    claim_expires: datetime | None
    decision: ReviewDecision | None
    decided_by: str | None
    decided_at: datetime | None
    comment: str | None
    mapping_id: str | None
    requeue_reason: str | None
    suggestion: Any
    senders: dict[str, int] = field(default_factory=dict)

    @property
    def words(self) -> str | None:
        """The sender's own words as received: `text`, else the source display, else None."""
        source = self.original.get("source") or {}
        for value in (self.original.get("text"), source.get("display")):
            if isinstance(value, str) and value.strip():
                return value
        return None


class EntryPage(NamedTuple):
    """One page of entries, how many match in all, and how many match per state (ignoring `status`)."""

    entries: list[ReviewItem]
    total: int
    counts_by_status: dict[str, int]


@dataclass(frozen=True, slots=True)
class Decided:
    """A decided entry and the mapping version its decision wrote (None for `deferred`)."""

    entry: ReviewItem
    mapping: CuratedMapping | None


@dataclass(frozen=True, slots=True)
class ReviewCandidate:
    """A search candidate for an entry, with its is-a parents and (RxNorm products) ingredients."""

    concept: Concept
    term: str
    score: float
    parents: tuple[Concept, ...] = ()
    ingredients: tuple[Concept, ...] = ()


# --- helpers ------------------------------------------------------------------------------------

_e = review_entries


def _now(now: datetime | None) -> datetime:
    return (now or datetime.now(timezone.utc)).astimezone(timezone.utc)


def _aware(value: datetime | None) -> datetime | None:
    """Datetimes as UTC-aware (SQLite hands them back naive, in UTC)."""
    if value is None:
        return None
    return value.replace(tzinfo=timezone.utc) if value.tzinfo is None else value.astimezone(timezone.utc)


def _claimable(now: datetime):
    """SQL: open, or claimed with a lease that has run out."""
    return or_(_e.c.status == ReviewState.OPEN.value,
               and_(_e.c.status == ReviewState.CLAIMED.value,
                    or_(_e.c.claim_expires.is_(None), _e.c.claim_expires <= now)))


def _effective_status(now: datetime):
    """SQL: the stored status, with an expired claim read as open."""
    return case((and_(_e.c.status == ReviewState.CLAIMED.value,
                      or_(_e.c.claim_expires.is_(None), _e.c.claim_expires <= now)), ReviewState.OPEN.value),
                else_=_e.c.status)


_PRIORITY = (_e.c.occurrences.desc(), _e.c.first_seen.asc(), _e.c.id.asc())


def _item(row, now: datetime, senders: dict[str, int] | None = None) -> ReviewItem:
    expires = _aware(row.claim_expires)
    status = ReviewState(row.status)
    live = status is ReviewState.CLAIMED and expires is not None and expires > now
    if status is ReviewState.CLAIMED and not live:
        status = ReviewState.OPEN
    return ReviewItem(
        id=row.id, status=status, source_system=row.source_system, source_code=row.source_code,
        text_norm=row.text_norm, context=row.context, target_system=row.target_system, original=row.original,
        reason=row.reason, occurrences=row.occurrences, first_seen=_aware(row.first_seen),
        last_seen=_aware(row.last_seen), claimed_by=row.claimed_by if live else None,
        claim_expires=expires if live else None,
        decision=ReviewDecision(row.decision) if row.decision else None, decided_by=row.decided_by,
        decided_at=_aware(row.decided_at), comment=row.comment, mapping_id=row.mapping_id,
        requeue_reason=row.requeue_reason, suggestion=row.suggestion, senders=senders or {},
    )


def _senders(connection: Connection, entry_ids: Sequence[str]) -> dict[str, dict[str, int]]:
    found: dict[str, dict[str, int]] = {}
    if not entry_ids:
        return found
    rows = connection.execute(
        select(review_senders.c.entry_id, review_senders.c.sender, review_senders.c.occurrences)
        .where(review_senders.c.entry_id.in_(list(entry_ids))).order_by(review_senders.c.sender)
    )
    for row in rows:
        found.setdefault(row.entry_id, {})[row.sender] = row.occurrences
    return found


def _with_senders(connection: Connection, row, now: datetime) -> ReviewItem:
    return _item(row, now, _senders(connection, [row.id]).get(row.id, {}))


def _state(row) -> dict[str, Any]:
    """The workflow columns of a row, as audit events record them."""
    return {"status": row.status, "claimed_by": row.claimed_by, "claim_expires": _aware(row.claim_expires),
            "decision": row.decision, "decided_by": row.decided_by, "decided_at": _aware(row.decided_at),
            "comment": row.comment, "mapping_id": row.mapping_id}


def _take_write_lock(connection: Connection) -> None:
    """On SQLite, hold the database's write lock from here to commit (BEGIN IMMEDIATE).

    pysqlite only opens a transaction at the first write, so the reads before it would see a
    snapshot another writer can change; taking the lock first makes read-then-write atomic.
    A transaction that has already written holds the lock. PostgreSQL locks rows instead.
    """
    if connection.dialect.name != "sqlite":
        return
    driver = connection.connection.driver_connection
    if not driver.in_transaction:
        connection.exec_driver_sql("BEGIN IMMEDIATE")


def _lock_row(connection: Connection, entry_id: str):
    """The entry's row, locked until commit (PostgreSQL FOR UPDATE; SQLite write lock); None if absent."""
    _take_write_lock(connection)
    query = select(_e).where(_e.c.id == entry_id)
    if connection.dialect.name == "postgresql":
        query = query.with_for_update()
    return connection.execute(query).first()


def _lock_mapping_key(connection: Connection, source_system: str, source_code: str, text_norm: str,
                      context: str, target_system: str) -> None:
    """Serialise writers of one mapping (its next version number and stale check) until commit."""
    _take_write_lock(connection)
    if connection.dialect.name == "postgresql":
        digest = hashlib.sha256("\x1f".join(("mapping", source_system, source_code, text_norm, context,
                                             target_system)).encode()).digest()
        connection.execute(text("SELECT pg_advisory_xact_lock(:key)"),
                           {"key": int.from_bytes(digest[:8], "big", signed=True)})


def _filters(now: datetime, *, sender, context, text_query, source_system, target_system, claimed_by) -> list:
    where = []
    if sender:
        where.append(exists().where(review_senders.c.entry_id == _e.c.id, review_senders.c.sender == sender))
    if context:
        where.append(_e.c.context == context)
    if source_system is not None:
        where.append(_e.c.source_system == (canonical_system(source_system) if source_system else ""))
    if target_system:
        where.append(_e.c.target_system == canonical_system(target_system))
    if text_query and text_query.strip():
        needle = normalise_term(text_query)
        where.append(or_(_e.c.text_norm.contains(needle, autoescape=True), _e.c.source_code == text_query.strip()))
    if claimed_by:
        where.append(and_(_e.c.claimed_by == claimed_by, _e.c.status == ReviewState.CLAIMED.value,
                          _e.c.claim_expires > now))
    return where


def _lease(lease: timedelta | None) -> timedelta:
    lease = DEFAULT_LEASE if lease is None else lease
    if not timedelta(0) < lease <= _MAX_LEASE:
        raise InvalidDecision(f"a claim's lease must be longer than 0 and at most {_MAX_LEASE}; got {lease}")
    return lease


def _claim_row(connection: Connection, row, reviewer: str, expires: datetime, now: datetime) -> ReviewItem | None:
    """Claim a locked row if it is still claimable (or already `reviewer`'s); None if it was not."""
    still = or_(_claimable(now), and_(_e.c.status == ReviewState.CLAIMED.value, _e.c.claimed_by == reviewer))
    claimed = connection.execute(
        update(_e).where(_e.c.id == row.id, still)
        .values(status=ReviewState.CLAIMED.value, claimed_by=reviewer, claim_expires=expires)
        .returning(*_e.c)
    ).first()
    if claimed is None:
        return None
    record_event(connection, actor=reviewer, action="review.claimed", subject_type="review", subject_id=row.id,
                 before=_state(row), after=_state(claimed), now=now)
    return _with_senders(connection, claimed, now)


def _require_reviewer(reviewer: str) -> str:
    if not reviewer or not reviewer.strip():
        raise InvalidDecision("a reviewer name is required")
    return reviewer


# --- reading ------------------------------------------------------------------------------------


def get_item(connection: Connection, entry_id: str, *, now: datetime | None = None) -> ReviewItem:
    """One review entry with its senders and workflow state; `UnknownEntry` if there is none."""
    row = connection.execute(select(_e).where(_e.c.id == entry_id)).first()
    if row is None:
        raise UnknownEntry(entry_id)
    return _with_senders(connection, row, _now(now))


def list_entries(
    connection: Connection,
    *,
    status: ReviewState | str | None = None,
    sender: str | None = None,
    context: str | None = None,
    text: str | None = None,
    source_system: str | None = None,
    target_system: str | None = None,
    claimed_by: str | None = None,
    limit: int = 50,
    offset: int = 0,
    now: datetime | None = None,
) -> EntryPage:
    """Entries matching every filter given, highest priority first, one page of them.

    `status` is the effective state (an expired claim is open); `text` matches within the
    normalised text or equals the source code; `source_system=""` means entries that named none;
    `claimed_by` finds a reviewer's live claims. `counts_by_status` applies every filter but
    `status`, so a UI can show all three tabs' counts from one call.
    """
    now = _now(now)
    if status is not None:
        try:
            status = ReviewState(status)
        except ValueError:
            raise InvalidDecision(f"unknown review status {status!r}: use one of "
                                  f"{', '.join(s.value for s in ReviewState)}") from None
    if limit < 0 or offset < 0:
        raise InvalidDecision("limit and offset must not be negative")
    where = _filters(now, sender=sender, context=context, text_query=text, source_system=source_system,
                     target_system=target_system, claimed_by=claimed_by)
    effective = _effective_status(now)
    counts = {s.value: 0 for s in ReviewState}
    for state, count in connection.execute(
        select(effective.label("state"), func.count()).where(*where).group_by(effective)
    ):
        counts[state] = count
    if status is not None:
        where.append(effective == status.value)
        total = counts[status.value]
    else:
        total = sum(counts.values())
    rows = connection.execute(select(_e).where(*where).order_by(*_PRIORITY).limit(limit).offset(offset)).all()
    senders = _senders(connection, [r.id for r in rows])
    return EntryPage([_item(r, now, senders.get(r.id, {})) for r in rows], total, counts)


# --- claiming -----------------------------------------------------------------------------------


def claim_next(
    connection: Connection,
    reviewer: str,
    *,
    sender: str | None = None,
    context: str | None = None,
    text: str | None = None,
    source_system: str | None = None,
    target_system: str | None = None,
    lease: timedelta | None = None,
    now: datetime | None = None,
) -> ReviewItem | None:
    """Claim the highest-priority claimable entry matching the filters; None when there is none.

    Claimable: open, or claimed with an expired lease (the reviewer's own live claims are not
    offered again). Concurrent callers never get the same entry: PostgreSQL skips rows another
    transaction has locked (`FOR UPDATE SKIP LOCKED`); SQLite takes the write lock first.
    """
    reviewer = _require_reviewer(reviewer)
    now = _now(now)
    expires = now + _lease(lease)
    where = _filters(now, sender=sender, context=context, text_query=text, source_system=source_system,
                     target_system=target_system, claimed_by=None)
    _take_write_lock(connection)
    query = select(_e).where(_claimable(now), *where).order_by(*_PRIORITY).limit(1)
    if connection.dialect.name == "postgresql":
        query = query.with_for_update(skip_locked=True)
    for _attempt in range(5):  # the UPDATE re-checks; with the locks above a retry is not expected
        row = connection.execute(query).first()
        if row is None:
            return None
        claimed = _claim_row(connection, row, reviewer, expires, now)
        if claimed is not None:
            logger.info("review entry %s claimed (next in queue)", row.id)
            return claimed
    return None


def claim(
    connection: Connection, entry_id: str, reviewer: str, *, lease: timedelta | None = None,
    now: datetime | None = None,
) -> ReviewItem:
    """Claim one entry (claiming one's own claim renews its lease).

    `EntryHeld` if someone else holds a live claim (naming who, until when), `WrongState` if it
    is decided (reopen it first), `UnknownEntry` if there is no such entry.
    """
    reviewer = _require_reviewer(reviewer)
    now = _now(now)
    expires = now + _lease(lease)
    row = _lock_row(connection, entry_id)
    if row is None:
        raise UnknownEntry(entry_id)
    current = _item(row, now)
    if current.status is ReviewState.DECIDED:
        raise WrongState(entry_id, "decided", f"{row.decided_by} decided {row.decision} at "
                         f"{_aware(row.decided_at).isoformat()}; reopen it to review it again")
    if current.status is ReviewState.CLAIMED and current.claimed_by != reviewer:
        raise EntryHeld(entry_id, current.claimed_by, current.claim_expires)
    claimed = _claim_row(connection, row, reviewer, expires, now)
    if claimed is None:  # unreachable while the row is locked; kept as a guard
        raise EntryHeld(entry_id, row.claimed_by or "another reviewer", _aware(row.claim_expires) or now)
    return claimed


def release(
    connection: Connection, entry_id: str, reviewer: str, *, override: bool = False, now: datetime | None = None,
) -> ReviewItem:
    """Give up a claim: the entry is open again. Only its holder may, or anyone with `override`."""
    reviewer = _require_reviewer(reviewer)
    now = _now(now)
    row = _lock_row(connection, entry_id)
    if row is None:
        raise UnknownEntry(entry_id)
    current = _item(row, now)
    if row.status != ReviewState.CLAIMED.value:
        raise WrongState(entry_id, current.status.value, "only a claimed entry can be released")
    if row.claimed_by != reviewer and not override:
        if current.status is ReviewState.OPEN:
            raise WrongState(entry_id, "open", f"the claim by {row.claimed_by} expired at "
                             f"{_aware(row.claim_expires).isoformat()}; there is nothing to release")
        raise NotClaimHolder(entry_id, reviewer, current.claimed_by, current.claim_expires)
    released = connection.execute(
        update(_e).where(_e.c.id == entry_id)
        .values(status=ReviewState.OPEN.value, claimed_by=None, claim_expires=None).returning(*_e.c)
    ).one()
    record_event(connection, actor=reviewer, action="review.released", subject_type="review", subject_id=entry_id,
                 before=_state(row), after=_state(released), now=now)
    return _with_senders(connection, released, now)


# --- deciding -----------------------------------------------------------------------------------


def validate_targets(connection: Connection, target_system: str, targets: Sequence[Target]) -> tuple[Target, ...]:
    """The targets as they will be recorded: each an active concept of `target_system`'s active release.

    Missing displays are filled from the release. `InvalidDecision` names every target that is
    of another system, not in the release, inactive, listed twice or has an unknown relationship;
    `UnknownSystem` if `target_system` has no active release.
    """
    system = canonical_system(target_system)
    checked: list[Target] = []
    problems: list[str] = []
    seen: set[str] = set()
    for target in targets:
        code = (target.code or "").strip()
        try:
            relationship = Relationship(target.relationship)
        except ValueError:
            problems.append(f"{code}: unknown relationship {target.relationship!r} (use one of "
                            f"{', '.join(r.value for r in Relationship)})")
            continue
        if canonical_system(target.system or system) != system:
            problems.append(f"{code}: of {target.system}, but this mapping's target system is {system}")
            continue
        if not code:
            problems.append("a target without a code")
            continue
        if code in seen:
            problems.append(f"{code}: listed twice")
            continue
        seen.add(code)
        concept = queries.concept(connection, system, code)
        if concept is None:
            problems.append(f"{code}: not in the active release of {system}")
        elif not concept.active:
            problems.append(f"{code}: inactive in the active release of {system}")
        else:
            checked.append(Target(system, code, target.display or concept.display, relationship))
    if problems:
        raise InvalidDecision("targets must be active concepts of the active release of the target system: "
                              + "; ".join(problems))
    return tuple(checked)


def _targets_for(connection: Connection, decision: Decision | ReviewDecision, target_system: str,
                 targets: Sequence[Target] | None) -> tuple[Target, ...]:
    targets = list(targets or ())
    if decision.value == Decision.MAPPED.value:
        if not targets:
            raise InvalidDecision("a `mapped` decision needs at least one target")
        return validate_targets(connection, target_system, targets)
    if targets:
        raise InvalidDecision(f"a `{decision.value}` decision takes no targets; got {len(targets)}")
    return ()


def mapping_for(connection: Connection, entry: ReviewItem) -> CuratedMapping | None:
    """The current curated mapping for the entry's source, context and target system, or None."""
    return find_current(connection, entry.source_system, entry.source_code or None,
                        None if entry.source_code else entry.text_norm, entry.context, entry.target_system)


def decide(
    connection: Connection,
    entry_id: str,
    reviewer: str,
    decision: ReviewDecision | str,
    *,
    targets: Sequence[Target] | None = None,
    comment: str | None = None,
    based_on: int | None = None,
    override: bool = False,
    now: datetime | None = None,
) -> Decided:
    """Record a decision on an entry the reviewer holds; returns the entry and the mapping version written.

    `mapped` needs targets (see `validate_targets`); `mapped` and `no-map` write a new version
    of the curated mapping keyed by the entry's source code (or, without one, its normalised
    text), context and target system; `deferred` writes none. `based_on` is the mapping version
    the reviewer saw (`StaleMappingVersion` if it has moved on). The holder of a claim may
    decide even after its lease ran out, as long as nobody else claimed the entry since;
    `override` (for admins) decides an entry someone else holds or nobody claimed.
    """
    reviewer = _require_reviewer(reviewer)
    now = _now(now)
    try:
        decision = ReviewDecision(decision)
    except ValueError:
        raise InvalidDecision(f"unknown decision {decision!r}: use one of "
                              f"{', '.join(d.value for d in ReviewDecision)}") from None
    row = _lock_row(connection, entry_id)
    if row is None:
        raise UnknownEntry(entry_id)
    current = _item(row, now)
    if row.status == ReviewState.DECIDED.value:
        raise WrongState(entry_id, "decided", f"{row.decided_by} already decided {row.decision} at "
                         f"{current.decided_at.isoformat()}; reopen it to decide again")
    holds = row.status == ReviewState.CLAIMED.value and row.claimed_by == reviewer
    if not holds and not override:
        raise NotClaimHolder(entry_id, reviewer, current.claimed_by, current.claim_expires)
    recorded = _targets_for(connection, decision, row.target_system, targets)
    mapping = None
    if decision is not ReviewDecision.DEFERRED:
        _lock_mapping_key(connection, row.source_system, row.source_code, "" if row.source_code else row.text_norm,
                          row.context, row.target_system)
        mapping = record_mapping(
            connection, source_system=row.source_system, source_code=row.source_code or None,
            source_text=None if row.source_code else row.text_norm, context=row.context,
            target_system=row.target_system, decision=Decision(decision.value), targets=recorded,
            author=reviewer, reason=comment or f"{decision.value} on review of entry {entry_id}",
            origin=f"review:{entry_id}", based_on=based_on, now=now,
        )
    decided = connection.execute(
        update(_e).where(_e.c.id == entry_id).values(
            status=ReviewState.DECIDED.value, decision=decision.value, decided_by=reviewer, decided_at=now,
            comment=comment, mapping_id=mapping.mapping_id if mapping else row.mapping_id,
            claimed_by=None, claim_expires=None,
        ).returning(*_e.c)
    ).one()
    after = _state(decided) | {"mapping_version": mapping.version if mapping else None,
                               "targets": [f"{t.system}|{t.code}|{t.relationship.value}" for t in recorded]}
    if override and not holds:
        after["override"] = True
    record_event(connection, actor=reviewer, action="review.decided", subject_type="review", subject_id=entry_id,
                 before=_state(row), after=after, now=now)
    logger.info("review entry %s decided %s (mapping %s)", entry_id, decision.value,
                f"{mapping.mapping_id} v{mapping.version}" if mapping else "none")
    return Decided(_with_senders(connection, decided, now), mapping)


def reopen(
    connection: Connection, entry_id: str, reviewer: str, *, comment: str | None = None, now: datetime | None = None,
) -> ReviewItem:
    """Bring a decided entry back to open, to be claimed and decided again.

    The decision fields are cleared (the audit trail keeps them, with `comment` as the reason);
    the curated mapping it wrote stays in force until a new decision writes the next version.
    """
    reviewer = _require_reviewer(reviewer)
    now = _now(now)
    row = _lock_row(connection, entry_id)
    if row is None:
        raise UnknownEntry(entry_id)
    if row.status != ReviewState.DECIDED.value:
        raise WrongState(entry_id, _item(row, now).status.value, "only a decided entry can be reopened")
    reopened = connection.execute(
        update(_e).where(_e.c.id == entry_id).values(
            status=ReviewState.OPEN.value, decision=None, decided_by=None, decided_at=None, comment=None,
            claimed_by=None, claim_expires=None,
        ).returning(*_e.c)
    ).one()
    record_event(connection, actor=reviewer, action="review.reopened", subject_type="review", subject_id=entry_id,
                 before=_state(row), after=_state(reopened) | {"reason": comment}, now=now)
    return _with_senders(connection, reopened, now)


# --- candidates ---------------------------------------------------------------------------------


def candidates_for(connection: Connection, entry: ReviewItem, limit: int = 10) -> list[ReviewCandidate]:
    """Ranked candidates in the entry's target system for its words, with parents and RxNorm ingredients.

    Suggestions only. An entry that came with a code and no words has none.
    """
    words = entry.words or entry.text_norm
    if not words:
        return []
    found = search(connection, words, entry.target_system, limit=limit, context=entry.context)
    enriched = []
    for candidate in found:
        concept = candidate.concept
        parents = tuple(queries.parents(connection, concept.system, concept.code))
        ingredients: tuple[Concept, ...] = ()
        if concept.system == RXNORM and concept.kind not in queries.RXNORM_INGREDIENT_TTYS:
            ingredients = tuple(queries.ingredients(connection, RXNORM, concept.code))
        enriched.append(ReviewCandidate(concept, candidate.term, candidate.score, parents, ingredients))
    return enriched


# --- editing curated mappings directly ----------------------------------------------------------


def _edit(connection: Connection, mapping_id: str, author: str, *, based_on: int, decision: Decision,
          targets: Sequence[Target], reason: str, origin: str, now: datetime | None) -> CuratedMapping:
    author = _require_reviewer(author)
    current = current_mapping(connection, mapping_id)  # UnknownMapping if there is none
    _lock_mapping_key(connection, current.source_system, current.source_code, current.source_text_norm,
                      current.context, current.target_system)
    return record_mapping(
        connection, source_system=current.source_system, source_code=current.source_code or None,
        source_text=None if current.source_code else current.source_text_norm, context=current.context,
        target_system=current.target_system, decision=decision, targets=targets, author=author, reason=reason,
        origin=origin, based_on=based_on, now=now,
    )


def revise_mapping(
    connection: Connection,
    mapping_id: str,
    author: str,
    *,
    based_on: int,
    decision: Decision | str,
    targets: Sequence[Target] | None = None,
    reason: str | None = None,
    origin: str = "api",
    now: datetime | None = None,
) -> CuratedMapping:
    """Write the next version of a mapping (`mapped` with targets, or `no-map`); the old ones stay.

    `based_on` is the version the author edited: `StaleMappingVersion` (naming who changed it
    and when) if that is no longer the newest. A retired mapping can be revived this way.
    """
    try:
        decision = Decision(decision)
    except ValueError:
        decision = None
    if decision not in (Decision.MAPPED, Decision.NO_MAP):
        raise InvalidDecision("a mapping version's decision is `mapped` or `no-map` (retire it to withdraw it)")
    current = current_mapping(connection, mapping_id)
    recorded = _targets_for(connection, decision, current.target_system, targets)
    return _edit(connection, mapping_id, author, based_on=based_on, decision=decision, targets=recorded,
                 reason=reason or f"{decision.value}: edited by {author}", origin=origin, now=now)


def retire_mapping(
    connection: Connection, mapping_id: str, author: str, *, based_on: int, reason: str | None = None,
    origin: str = "api", now: datetime | None = None,
) -> CuratedMapping:
    """Retire a mapping: a new version that says `retired` (translation then ignores the mapping).

    `StaleMappingVersion` as for `revise_mapping`; `MappingRetired` if it already is.
    """
    current = current_mapping(connection, mapping_id)
    if current.decision is Decision.RETIRED:
        raise MappingRetired(current)
    return _edit(connection, mapping_id, author, based_on=based_on, decision=Decision.RETIRED, targets=(),
                 reason=reason or f"retired by {author}", origin=origin, now=now)


def targets_from(items: Sequence[Mapping[str, Any]], default_system: str) -> list[Target]:
    """Targets from plain dicts (`system` defaults to `default_system`, `relationship` to equivalent).

    Unknown relationships are passed through as given so `validate_targets` can name them.
    """
    targets = []
    for item in items:
        targets.append(Target(item.get("system") or default_system, str(item.get("code") or ""),
                              item.get("display"), item.get("relationship") or Relationship.EQUIVALENT.value))
    return targets
