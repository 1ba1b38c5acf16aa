"""Curated mappings: pharmacist decisions, append-only. A change is a new version; nothing is overwritten.

A mapping is identified by its source — (system, code) or, for text-only inputs, (system,
normalised text) — its context and its target system. Each version records the decision
(`mapped` with one or more targets, `no-map`, or `retired`), who made it, when, why and where
it came from (a review entry, an imported file or ConceptMap).
"""
from __future__ import annotations

import enum
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timezone

from sqlalchemy import Connection, and_, bindparam, func, insert, select

from terminology.errors import StaleMappingVersion, UnknownMapping
from terminology.normalise import normalise_term

from .audit import record_event
from .tables import mapping_targets, mapping_versions

__all__ = [
    "Relationship",
    "Decision",
    "Target",
    "CuratedMapping",
    "record_mapping",
    "current_mapping",
    "find_current",
    "history",
    "summary",
    "current_mappings",
    "mapping_groups",
]


class Relationship(str, enum.Enum):
    """FHIR R5 ConceptMap relationship codes (R4 equivalence is derived from these at the edge)."""

    EQUIVALENT = "equivalent"
    SOURCE_NARROWER = "source-is-narrower-than-target"
    SOURCE_BROADER = "source-is-broader-than-target"
    RELATED = "related-to"
    NOT_RELATED = "not-related-to"


class Decision(str, enum.Enum):
    MAPPED = "mapped"
    NO_MAP = "no-map"
    RETIRED = "retired"


@dataclass(frozen=True, slots=True)
class Target:
    system: str
    code: str
    display: str | None
    relationship: Relationship = Relationship.EQUIVALENT


@dataclass(frozen=True, slots=True)
class CuratedMapping:
    mapping_id: str
    version: int
    source_system: str
    source_code: str
    source_text_norm: str
    context: str
    target_system: str
    decision: Decision
    targets: tuple[Target, ...]
    author: str
    reason: str
    origin: str
    created_at: datetime


def _load(connection: Connection, rows) -> list[CuratedMapping]:
    rows = list(rows)
    if not rows:
        return []
    targets: dict[int, list[Target]] = {}
    for t in connection.execute(
        select(mapping_targets).where(mapping_targets.c.version_row.in_([r.id for r in rows]))
    ):
        targets.setdefault(t.version_row, []).append(Target(t.system, t.code, t.display, Relationship(t.relationship)))
    return [
        CuratedMapping(
            mapping_id=r.mapping_id,
            version=r.version,
            source_system=r.source_system,
            source_code=r.source_code,
            source_text_norm=r.source_text_norm,
            context=r.context,
            target_system=r.target_system,
            decision=Decision(r.decision),
            targets=tuple(targets.get(r.id, ())),
            author=r.author,
            reason=r.reason,
            origin=r.origin,
            created_at=r.created_at,
        )
        for r in rows
    ]


def history(connection: Connection, mapping_id: str) -> list[CuratedMapping]:
    """Every version of a mapping, oldest first; `UnknownMapping` if there is none."""
    found = _load(
        connection,
        connection.execute(
            select(mapping_versions).where(mapping_versions.c.mapping_id == mapping_id).order_by(mapping_versions.c.version)
        ),
    )
    if not found:
        raise UnknownMapping(mapping_id)
    return found


def current_mapping(connection: Connection, mapping_id: str) -> CuratedMapping:
    """The newest version of a mapping."""
    return history(connection, mapping_id)[-1]


#: The newest version for a source (code, or normalised text with code ''), context and target. Built
#: once: every translation asks, and building the statement costs more than running it.
_LATEST = (
    select(mapping_versions)
    .where(
        mapping_versions.c.source_system == bindparam("source_system"),
        mapping_versions.c.source_code == bindparam("code"),
        mapping_versions.c.source_text_norm == bindparam("text_norm"),
        mapping_versions.c.context == bindparam("context"),
        mapping_versions.c.target_system == bindparam("target_system"),
    )
    .order_by(mapping_versions.c.version.desc())
    .limit(1)
)


def find_current(
    connection: Connection, source_system: str, source_code: str | None, text: str | None, context: str, target_system: str
) -> CuratedMapping | None:
    """The newest version of the mapping for this source, context and target, or None.

    A code identifies the source when there is one; otherwise the normalised text does.
    """
    if source_code:
        code, text_norm = source_code.strip(), ""
    else:
        code, text_norm = "", normalise_term(text or "")
    found = _load(connection, connection.execute(_LATEST, {
        "source_system": source_system, "code": code, "text_norm": text_norm, "context": context,
        "target_system": target_system,
    }))
    return found[0] if found else None


def record_mapping(
    connection: Connection,
    *,
    source_system: str,
    source_code: str | None,
    source_text: str | None,
    context: str,
    target_system: str,
    decision: Decision,
    targets: Sequence[Target],
    author: str,
    reason: str,
    origin: str,
    based_on: int | None = None,
    now: datetime | None = None,
) -> CuratedMapping:
    """Write a new version of the mapping for this source (version 1 if it has none yet).

    `based_on` is the version the author saw; if the mapping has moved on since, the edit is
    refused with `StaleMappingVersion` naming who changed it and when. The caller commits.
    """
    existing = find_current(connection, source_system, source_code, source_text, context, target_system)
    if existing is not None and based_on is not None and based_on != existing.version:
        raise StaleMappingVersion(
            existing.mapping_id, based_on, existing.version, existing.author, existing.created_at.isoformat()
        )
    mapping_id = existing.mapping_id if existing else str(uuid.uuid4())
    version = (existing.version + 1) if existing else 1
    now = now or datetime.now(timezone.utc)
    code = (source_code or "").strip()
    row_id = connection.execute(
        insert(mapping_versions).values(
            mapping_id=mapping_id,
            version=version,
            source_system=source_system,
            source_code=code,
            source_text_norm="" if code else normalise_term(source_text or ""),
            context=context,
            target_system=target_system,
            decision=decision.value,
            author=author,
            reason=reason,
            origin=origin,
            created_at=now,
        )
    ).inserted_primary_key[0]
    if targets:
        connection.execute(
            insert(mapping_targets),
            [
                {"version_row": row_id, "system": t.system, "code": t.code,
                 "display": t.display if t.display and t.display.strip() else None,  # no visible text: none
                 "relationship": Relationship(t.relationship).value}
                for t in targets
            ],
        )
    written = current_mapping(connection, mapping_id)
    record_event(connection, actor=author, action="mapping.version", subject_type="mapping", subject_id=mapping_id,
                 before=summary(existing) if existing else None, after=summary(written), now=now)
    return written


def summary(mapping: CuratedMapping) -> dict:
    """A mapping version as the audit trail and exports show it."""
    return {
        "mapping_id": mapping.mapping_id, "version": mapping.version, "source_system": mapping.source_system,
        "source_code": mapping.source_code, "source_text_norm": mapping.source_text_norm, "context": mapping.context,
        "target_system": mapping.target_system, "decision": mapping.decision.value,
        "targets": [{"system": t.system, "code": t.code, "display": t.display,
                     "relationship": Relationship(t.relationship).value} for t in mapping.targets],
        "author": mapping.author, "reason": mapping.reason, "origin": mapping.origin,
    }


def count_versions(connection: Connection) -> int:
    """How many mapping versions exist (all mappings)."""
    return connection.execute(select(func.count()).select_from(mapping_versions)).scalar_one()


def current_mappings(
    connection: Connection,
    *,
    source_system: str | None = None,
    target_system: str | None = None,
    context: str | None = None,
) -> list[CuratedMapping]:
    """The newest version of every mapping (of one source system, target system or context when given), by source."""
    v = mapping_versions
    where = [column == value for column, value in
             ((v.c.source_system, source_system), (v.c.target_system, target_system), (v.c.context, context))
             if value is not None]
    newest = select(v.c.mapping_id, func.max(v.c.version).label("version")).where(*where).group_by(v.c.mapping_id)
    newest = newest.subquery()
    rows = (
        select(v)
        .join(newest, and_(v.c.mapping_id == newest.c.mapping_id, v.c.version == newest.c.version))
        .order_by(v.c.source_system, v.c.context, v.c.target_system, v.c.source_code, v.c.source_text_norm)
    )
    return _load(connection, connection.execute(rows))


def mapping_groups(connection: Connection) -> list[tuple[str, str, str]]:
    """Every (source system, target system, context) that has at least one mapping version."""
    v = mapping_versions
    query = select(v.c.source_system, v.c.target_system, v.c.context).distinct().order_by(
        v.c.source_system, v.c.target_system, v.c.context)
    return [tuple(row) for row in connection.execute(query)]
