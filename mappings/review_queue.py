"""The review queue: every unmapped or unvalidated input, kept as received and counted, never lost.

One entry per (source system, code, normalised text, context): repeats add an occurrence and
the sender, they never add an entry. The entry id is derived from that key, so concurrent
first sightings on several workers converge on the same row (an upsert, not read-then-write).
"""
from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

from sqlalchemy import Connection, Insert, bindparam, select
from sqlalchemy.dialects import postgresql, sqlite

from terminology.normalise import normalise_term

from .tables import review_entries, review_senders

__all__ = ["ReviewKey", "ReviewEntry", "entry_id_for", "record_occurrence", "get_entry"]

_NAMESPACE = uuid.UUID("5b0c5f8e-7f5e-4c1a-9d0e-2f7a3c1b9e11")


@dataclass(frozen=True, slots=True)
class ReviewKey:
    """What makes two inputs the same entry."""

    source_system: str
    source_code: str
    text_norm: str
    context: str

    @classmethod
    def of(cls, system: str | None, code: str | None, text: str | None, context: str) -> ReviewKey:
        return cls(system or "", (code or "").strip(), normalise_term(text or ""), context)


@dataclass(frozen=True, slots=True)
class ReviewEntry:
    id: str
    source_system: str
    source_code: str
    context: str
    original: dict[str, Any]
    target_system: str
    reason: str
    status: str
    occurrences: int
    senders: dict[str, int]
    first_seen: datetime
    last_seen: datetime


def entry_id_for(key: ReviewKey) -> str:
    """The entry id of a key: stable, so every worker names the same entry the same way."""
    return str(uuid.uuid5(_NAMESPACE, "\x1f".join((key.source_system, key.source_code, key.text_norm, key.context))))


def _insert(connection: Connection, table) -> Insert:
    return (postgresql.insert if connection.dialect.name == "postgresql" else sqlite.insert)(table)


def _params(table, columns: tuple[str, ...]) -> dict:
    return {name: bindparam(f"p_{name}", type_=table.c[name].type) for name in columns}


def _build_upserts(connection: Connection) -> tuple[Insert, Insert]:
    """The entry and sender upserts, with bound parameters for every value."""
    entry = _insert(connection, review_entries).values(_params(review_entries, (
        "id", "source_system", "source_code", "text_norm", "context", "original", "target_system", "reason",
        "status", "occurrences", "first_seen", "last_seen")))
    # The id is a function of the key, so it is the arbiter: two first sightings racing on
    # PostgreSQL would otherwise collide on the primary key rather than the unique key.
    entry = entry.on_conflict_do_update(
        index_elements=["id"],
        set_={"occurrences": review_entries.c.occurrences + 1, "last_seen": entry.excluded.last_seen},
    ).returning(review_entries.c.status)
    sender = _insert(connection, review_senders).values(_params(review_senders, (
        "entry_id", "sender", "occurrences", "first_seen", "last_seen")))
    sender = sender.on_conflict_do_update(
        index_elements=["entry_id", "sender"],
        set_={"occurrences": review_senders.c.occurrences + 1, "last_seen": sender.excluded.last_seen},
    )
    return entry, sender


#: Upserts by dialect, built once: building a statement costs several times more than running it.
_UPSERTS: dict[str, tuple[Insert, Insert]] = {}


def _upserts(connection: Connection) -> tuple[Insert, Insert]:
    made = _UPSERTS.get(connection.dialect.name)
    if made is None:
        made = _UPSERTS[connection.dialect.name] = _build_upserts(connection)
    return made


def record_occurrence(
    connection: Connection,
    key: ReviewKey,
    *,
    original: dict[str, Any],
    target_system: str,
    reason: str,
    sender: str | None,
    now: datetime | None = None,
) -> tuple[str, str]:
    """Count one occurrence of `key` (creating its entry if new); returns (entry id, entry status).

    The first occurrence's `original` is kept as received; later ones only count. An entry
    already decided stays decided (it is counted, not reopened). The caller commits.
    """
    now = now or datetime.now(timezone.utc)
    entry_id = entry_id_for(key)
    entry_upsert, sender_upsert = _upserts(connection)
    status = connection.execute(entry_upsert, {
        "p_id": entry_id, "p_source_system": key.source_system, "p_source_code": key.source_code,
        "p_text_norm": key.text_norm, "p_context": key.context, "p_original": original,
        "p_target_system": target_system, "p_reason": reason, "p_status": "open", "p_occurrences": 1,
        "p_first_seen": now, "p_last_seen": now,
    }).scalar_one()
    if sender:
        connection.execute(sender_upsert, {
            "p_entry_id": entry_id, "p_sender": sender, "p_occurrences": 1, "p_first_seen": now, "p_last_seen": now,
        })
    return entry_id, status


def get_entry(connection: Connection, entry_id: str) -> ReviewEntry | None:
    """One review entry with its senders, or None."""
    row = connection.execute(select(review_entries).where(review_entries.c.id == entry_id)).first()
    if row is None:
        return None
    senders = dict(
        connection.execute(
            select(review_senders.c.sender, review_senders.c.occurrences).where(review_senders.c.entry_id == entry_id)
        ).all()
    )
    return ReviewEntry(
        id=row.id,
        source_system=row.source_system,
        source_code=row.source_code,
        context=row.context,
        original=row.original,
        target_system=row.target_system,
        reason=row.reason,
        status=row.status,
        occurrences=row.occurrences,
        senders=senders,
        first_seen=row.first_seen,
        last_seen=row.last_seen,
    )
