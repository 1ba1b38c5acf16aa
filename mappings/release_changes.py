"""Release changes: a newly active release re-queues the curated mappings it makes doubtful.

    report = requeue_after_release(connection, SNOMED)   # after `termmap load snomed ...`

For the active release of `system`, every current curated mapping with decision `mapped` that
has a target in `system` the release holds as inactive, retired or not at all goes back on the
review queue. Its entry — keyed as translate keys it, `ReviewKey.of(source system, code or
normalised text, context)` — is set to `open` with reason `release-change`; `requeue_reason`
names the release, each doubtful target and why; `suggestion` holds the replacements the
release's historical associations offer (SNOMED CT SAME AS / REPLACED BY / POSSIBLY EQUIVALENT
TO ..., RxNorm REMAPPED TO), best first. **The mapping itself is not touched**: translate keeps
answering it until a pharmacist decides. Nothing is silently repointed.

Why a target is doubtful:

    inactive         the release holds the concept, inactive
    retired          the release lacks the code but has a historical association from it
                     (an RXCUI retired into RXNCUI)
    not in release   the release lacks the code and says nothing about it

`suggestion` (JSON):

    {"release": "http://snomed.info/sct|INT 20260301", "release_id": 7,
     "mapping_id": "...", "mapping_version": 3,
     "targets": [{"code": "323389000", "display": "Benzylpenicillin", "why": "inactive"}],
     "replacements": [{"for": "323389000", "system": "http://snomed.info/sct", "code": "373270004",
                       "display": "...", "association": "REPLACED BY", "active": true}]}

Idempotent: an entry already re-queued for this release with the same doubtful targets is left
as it is — even when a pharmacist has decided it since — so running this after every load
re-queues nothing twice; a later release, or other doubtful targets, re-queue it again. A new
entry (a mapping imported rather than reviewed has none) counts no occurrences. A claim on the
entry is released. One audit event (`review.requeued`) per entry re-queued. The caller commits.
"""
from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

from sqlalchemy import Connection, select, update
from sqlalchemy.dialects import postgresql, sqlite

from terminology import queries, schema
from terminology.model import Concept
from terminology.releases import active_release, active_release_ids
from terminology.systems import canonical_system

from .audit import record_event
from .curated import CuratedMapping, Decision, current_mappings
from .review_queue import ReviewKey, entry_id_for
from .tables import review_entries

__all__ = [
    "REQUEUE_REASON",
    "Replacement",
    "DoubtfulTarget",
    "Requeued",
    "RequeueReport",
    "requeue_after_release",
    "release_concepts",
]

logger = logging.getLogger(__name__)

#: The review entry's `reason` when a release change re-queued it.
REQUEUE_REASON = "release-change"
INACTIVE, RETIRED, ABSENT = "inactive", "retired", "not in release"

#: Historical associations, best replacement first; any other type follows, by name.
_PREFERENCE = ("SAME AS", "REPLACED BY", "REMAPPED TO", "POSSIBLY EQUIVALENT TO", "POSSIBLY REPLACED BY",
               "ALTERNATIVE", "MOVED TO", "WAS A", "REFERS TO")
_BATCH = 500


@dataclass(frozen=True, slots=True)
class Replacement:
    """A replacement the release suggests for a doubtful target (`active` None: the release lacks it)."""

    system: str
    code: str
    display: str | None
    association: str
    active: bool | None


@dataclass(frozen=True, slots=True)
class DoubtfulTarget:
    code: str
    display: str | None
    why: str  # inactive | retired | not in release
    replacements: tuple[Replacement, ...]


@dataclass(frozen=True, slots=True)
class Requeued:
    """A mapping put back on the queue: its entry, the mapping (unchanged) and what is doubtful."""

    entry_id: str
    mapping_id: str
    mapping_version: int
    source_system: str
    source_code: str
    source_text_norm: str
    context: str
    targets: tuple[DoubtfulTarget, ...]


@dataclass(frozen=True, slots=True)
class RequeueReport:
    system: str
    release: str | None  # `system|version` of the active release; None when none is loaded
    checked: int  # current `mapped` mappings with a target in `system`
    requeued: tuple[Requeued, ...]
    already_queued: int  # doubtful, but re-queued for this release before

    def summary(self) -> str:
        """One line for people: what was checked and re-queued."""
        if self.release is None:
            return f"release changes: no active release of {self.system}; nothing checked"
        return (f"release changes ({self.release}): {self.checked} curated mapping(s) checked, "
                f"{len(self.requeued)} re-queued for review, {self.already_queued} already queued")


def release_concepts(connection: Connection, system: str, codes: Iterable[str]) -> dict[str, Concept]:
    """The concepts (active or not) the active release of `system` holds among `codes`, by code; {} without one."""
    system = canonical_system(system)
    release_id = active_release_ids(connection).get(system)
    wanted = sorted({code.strip() for code in codes if code and code.strip()})
    if release_id is None or not wanted:
        return {}
    c = schema.concepts
    found: dict[str, Concept] = {}
    for start in range(0, len(wanted), _BATCH):
        rows = connection.execute(
            select(c.c.code, c.c.display, c.c.active, c.c.kind)
            .where(c.c.release_id == release_id, c.c.code.in_(wanted[start:start + _BATCH]))
        )
        for row in rows:
            found[row.code] = Concept(system, row.code, row.display, bool(row.active), row.kind)
    return found


def _replacements(connection: Connection, system: str, code: str) -> tuple[Replacement, ...]:
    links = queries.associations(connection, system, code)
    states = release_concepts(connection, system, [link.target for link in links])
    rank = {name: index for index, name in enumerate(_PREFERENCE)}
    ordered = sorted(links, key=lambda link: (rank.get(link.type, len(rank)), link.type, link.target))
    return tuple(
        Replacement(system, link.target, link.target_display, link.type,
                    states[link.target].active if link.target in states else None)
        for link in ordered
    )


def _doubtful(connection: Connection, system: str, mapping: CuratedMapping,
              concepts: dict[str, Concept]) -> tuple[DoubtfulTarget, ...]:
    found = []
    for target in mapping.targets:
        if target.system != system:
            continue
        concept = concepts.get(target.code)
        if concept is not None and concept.active:
            continue
        replacements = _replacements(connection, system, target.code)
        why = INACTIVE if concept is not None else (RETIRED if replacements else ABSENT)
        found.append(DoubtfulTarget(target.code, target.display, why, replacements))
    return tuple(found)


def _reason(release: str, targets: tuple[DoubtfulTarget, ...]) -> str:
    parts = []
    for target in targets:
        named = f"{target.code} ({target.display})" if target.display else target.code
        text = f"target {named} is {target.why}" if target.why != ABSENT else f"target {named} is not in the release"
        if target.replacements:
            text += "; suggested: " + ", ".join(f"{r.association} {r.code}" + (f" {r.display}" if r.display else "")
                                               for r in target.replacements)
        parts.append(text)
    return f"release {release}: " + "; ".join(parts)


def _suggestion(release_label: str, release_id: int, mapping: CuratedMapping,
                targets: tuple[DoubtfulTarget, ...]) -> dict[str, Any]:
    return {
        "release": release_label,
        "release_id": release_id,
        "mapping_id": mapping.mapping_id,
        "mapping_version": mapping.version,
        "targets": [{"code": t.code, "display": t.display, "why": t.why} for t in targets],
        "replacements": [{"for": t.code, "system": r.system, "code": r.code, "display": r.display,
                          "association": r.association, "active": r.active}
                         for t in targets for r in t.replacements],
    }


def _already_queued(row: Any, release_id: int, targets: tuple[DoubtfulTarget, ...]) -> bool:
    """The entry was re-queued for this release, for these same doubtful targets."""
    if row is None or row.reason != REQUEUE_REASON or not isinstance(row.suggestion, dict):
        return False
    before = {(t.get("code"), t.get("why")) for t in row.suggestion.get("targets", [])}
    return row.suggestion.get("release_id") == release_id and before == {(t.code, t.why) for t in targets}


def requeue_after_release(
    connection: Connection, system: str, *, actor: str = "release-change", now: datetime | None = None
) -> RequeueReport:
    """Re-queue every current mapping the active release of `system` makes doubtful (see the module docstring)."""
    system = canonical_system(system)
    release = active_release(connection, system)
    if release is None:
        return RequeueReport(system, None, 0, (), 0)
    now = now or datetime.now(timezone.utc)
    mapped = [m for m in current_mappings(connection, target_system=system)
              if m.decision is Decision.MAPPED and any(t.system == system for t in m.targets)]
    concepts = release_concepts(connection, system, [t.code for m in mapped for t in m.targets if t.system == system])
    requeued, already = [], 0
    for mapping in mapped:
        targets = _doubtful(connection, system, mapping, concepts)
        if not targets:
            continue
        key = ReviewKey.of(mapping.source_system, mapping.source_code or None,
                           None if mapping.source_code else mapping.source_text_norm, mapping.context)
        entry_id = entry_id_for(key)
        row = connection.execute(select(review_entries).where(review_entries.c.id == entry_id)).first()
        if _already_queued(row, release.id, targets):
            already += 1
            continue
        requeue = {
            "status": "open", "reason": REQUEUE_REASON, "requeue_reason": _reason(release.label, targets),
            "suggestion": _suggestion(release.label, release.id, mapping, targets),
            "target_system": mapping.target_system, "mapping_id": mapping.mapping_id,
            "claimed_by": None, "claim_expires": None,
        }
        if row is None:
            original: dict[str, Any] = {"source": {"system": mapping.source_system}}
            if mapping.source_code:
                original["source"]["code"] = mapping.source_code
            else:
                original["text"] = mapping.source_text_norm
            dialect_insert = postgresql.insert if connection.dialect.name == "postgresql" else sqlite.insert
            upsert = dialect_insert(review_entries).values(
                id=entry_id, source_system=key.source_system, source_code=key.source_code, text_norm=key.text_norm,
                context=key.context, original=original, occurrences=0, first_seen=now, last_seen=now, **requeue,
            )
            # A first sighting racing in from translate on another worker: the requeue still wins.
            connection.execute(upsert.on_conflict_do_update(index_elements=["id"], set_=requeue))
        else:
            connection.execute(update(review_entries).where(review_entries.c.id == entry_id).values(**requeue))
        before = None if row is None else {"status": row.status, "reason": row.reason,
                                           "requeue_reason": row.requeue_reason}
        after = {key_: requeue[key_] for key_ in ("status", "reason", "requeue_reason", "suggestion", "mapping_id")}
        record_event(connection, actor=actor, action="review.requeued", subject_type="review", subject_id=entry_id,
                     before=before, after=after, now=now)
        requeued.append(Requeued(entry_id, mapping.mapping_id, mapping.version, mapping.source_system,
                                 mapping.source_code, mapping.source_text_norm, mapping.context, targets))
    logger.info("release %s: %d curated mappings checked, %d re-queued, %d already queued",
                release.label, len(mapped), len(requeued), already)
    return RequeueReport(system, release.label, len(mapped), tuple(requeued), already)
