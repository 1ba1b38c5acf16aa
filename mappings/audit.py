"""The audit trail: every change as an append-only, hash-chained event (actor, time, before, after).

Each event's hash covers its own content and the previous event's hash, so altering, removing
or reordering any stored row breaks the chain from that row on; `verify_chain` names the first
broken link. Removing the *last* events leaves a shorter chain that is still intact: to catch
that, an auditor keeps the head a verification reports (`seq:hash`, outside the database) and
passes it to the next one, which checks that the event is still there with that hash.
Events are written in the caller's transaction, next to the change they record.
Appends are serialised (a PostgreSQL transaction-level advisory lock; SQLite has one writer).
"""
from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

from sqlalchemy import Connection, insert, select, text

from .tables import audit_events

__all__ = ["AuditEvent", "record_event", "verify_chain", "parse_head", "event_hash", "GENESIS"]

GENESIS = "0" * 64
_CHAIN_LOCK = 0x7465726D  # "term"


@dataclass(frozen=True, slots=True)
class AuditEvent:
    seq: int
    at: datetime
    actor: str
    action: str
    subject_type: str
    subject_id: str
    before: Any
    after: Any
    prev_hash: str
    hash: str


def _canonical(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), default=str, ensure_ascii=False)


def event_hash(prev_hash: str, at: str, actor: str, action: str, subject_type: str, subject_id: str,
               before: Any, after: Any) -> str:
    """SHA-256 over the previous hash and the event's content, in a fixed canonical form."""
    content = "\x1f".join((prev_hash, at, actor, action, subject_type, subject_id, _canonical(before),
                           _canonical(after)))
    return hashlib.sha256(content.encode()).hexdigest()


def _timestamp(at: datetime) -> str:
    """The time as hashed: UTC, microseconds, independent of how the database returns it."""
    if at.tzinfo is None:
        at = at.replace(tzinfo=timezone.utc)
    return at.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def record_event(connection: Connection, *, actor: str, action: str, subject_type: str, subject_id: str,
                 before: Any = None, after: Any = None, now: datetime | None = None) -> AuditEvent:
    """Append one event to the chain (in the caller's transaction)."""
    if connection.dialect.name == "postgresql":
        connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _CHAIN_LOCK})
    last = connection.execute(select(audit_events.c.hash).order_by(audit_events.c.seq.desc()).limit(1)).scalar()
    prev = last or GENESIS
    at = (now or datetime.now(timezone.utc)).astimezone(timezone.utc)
    before, after = json.loads(_canonical(before)), json.loads(_canonical(after))
    digest = event_hash(prev, _timestamp(at), actor, action, subject_type, subject_id, before, after)
    seq = connection.execute(insert(audit_events).values(
        at=at, actor=actor, action=action, subject_type=subject_type, subject_id=subject_id,
        before=before, after=after, prev_hash=prev, hash=digest,
    )).inserted_primary_key[0]
    return AuditEvent(seq, at, actor, action, subject_type, subject_id, before, after, prev, digest)


def parse_head(value: str) -> tuple[int, str]:
    """`seq:hash` (as a verification reports its head) as (seq, hash); ValueError naming the problem."""
    seq, _, digest = value.strip().partition(":")
    if not seq.isdigit() or len(digest) != 64 or any(c not in "0123456789abcdef" for c in digest):
        raise ValueError(f"an audit head is `<seq>:<64 hex digits>` as a verification reports it, not {value!r}")
    return int(seq), digest


def verify_chain(connection: Connection, batch: int = 10_000, *,
                 head: tuple[int, str] | None = None) -> tuple[int, AuditEvent | None, str | None]:
    """Recompute the chain: (events checked, first broken event or None, what is wrong with it).

    With `head` (seq, hash) from an earlier verification, the chain must still hold that event with
    that hash: a chain that ends before it lost its last events (the problem says so, with no event).
    """
    expected_prev, checked, last_seq = GENESIS, 0, 0
    seen_head = head is None
    while True:
        rows = connection.execute(
            select(audit_events).where(audit_events.c.seq > last_seq).order_by(audit_events.c.seq).limit(batch)
        ).all()
        if not rows:
            if not seen_head:
                return checked, None, (f"the chain ends at event {last_seq} but an earlier verification saw "
                                       f"event {head[0]}: events were removed from its end")
            return checked, None, None
        for row in rows:
            event = AuditEvent(row.seq, row.at, row.actor, row.action, row.subject_type, row.subject_id,
                               row.before, row.after, row.prev_hash, row.hash)
            if event.prev_hash != expected_prev:
                return checked, event, "its link to the previous event does not match (a row was removed or altered)"
            recomputed = event_hash(event.prev_hash, _timestamp(event.at), event.actor, event.action,
                                    event.subject_type, event.subject_id, event.before, event.after)
            if recomputed != event.hash:
                return checked, event, "its content does not match its hash (the row was altered)"
            if head is not None and event.seq == head[0]:
                if event.hash != head[1]:
                    return checked, event, "its hash is not the one an earlier verification recorded for it"
                seen_head = True
            expected_prev, checked, last_seq = event.hash, checked + 1, event.seq
