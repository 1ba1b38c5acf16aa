"""Candidate search: designations that resemble a text, ranked by rapidfuzz. Suggestions only.

A `Candidate` carries a score; it never becomes a mapping by itself (curation decides).
The store is narrowed first (exact normalised term, then terms sharing the text's rarest-looking
token), then scored; the scoring itself is a pure function.
"""
from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from rapidfuzz import fuzz, utils
from sqlalchemy import Connection, and_, select

from . import schema
from .model import Concept
from .normalise import normalise_term
from .releases import active_release_ids
from .systems import canonical_system

__all__ = ["Candidate", "rank_candidates", "search"]


@dataclass(frozen=True, slots=True)
class Candidate:
    """A concept that resembles the text, with the matched term and a 0-100 score."""

    concept: Concept
    term: str
    score: float


def rank_candidates(text: str, found: Iterable[tuple[Concept, str]], limit: int = 10) -> list[Candidate]:
    """Best `limit` candidates for `text`, one per concept, highest score first, ties by display."""
    query = normalise_term(text)
    best: dict[tuple[str, str], Candidate] = {}
    for concept, term in found:
        score = float(fuzz.WRatio(query, normalise_term(term), processor=utils.default_process))
        if concept.active is False:
            score *= 0.9  # an inactive concept is a worse suggestion than an active one
        key = (concept.system, concept.code)
        if key not in best or score > best[key].score:
            best[key] = Candidate(concept, term, round(score, 1))
    ranked = sorted(best.values(), key=lambda c: (-c.score, c.concept.display, c.concept.code))
    return ranked[:limit]


def _release_filter(connection: Connection, system: str | None) -> dict[int, str]:
    ids = active_release_ids(connection)
    if system is not None:
        canonical = canonical_system(system)
        ids = {canonical: ids[canonical]} if canonical in ids else {}
    return {release_id: name for name, release_id in ids.items()}


def search(
    connection: Connection, text: str, system: str | None = None, *, limit: int = 10, pool: int = 2000
) -> list[Candidate]:
    """Ranked candidates for `text` among the active releases (of `system` when given)."""
    by_id = _release_filter(connection, system)
    needle = normalise_term(text)
    if not by_id or not needle:
        return []
    d, c = schema.designations, schema.concepts
    tokens = sorted(set(needle.split()), key=len, reverse=True)[:2]
    # Exact term, then terms holding a whole token, then terms holding a token's 4-letter stem
    # (a misspelling seldom starts wrong: "amoxycilin" still finds "amoxicillin").
    stems = [token[:4] for token in tokens if len(token) > 4]
    conditions = [d.c.term_norm == needle] + [
        d.c.term_norm.contains(part, autoescape=True) for part in dict.fromkeys(tokens + stems)
    ]
    found: list[tuple[Concept, str]] = []
    for condition in conditions:
        rows = connection.execute(
            select(d.c.release_id, d.c.term, c.c.code, c.c.display, c.c.active, c.c.kind)
            .select_from(d.join(c, and_(c.c.release_id == d.c.release_id, c.c.code == d.c.code)))
            .where(d.c.release_id.in_(list(by_id)), condition)
            .limit(pool)
        )
        found.extend(
            (Concept(by_id[r.release_id], r.code, r.display, bool(r.active), r.kind), r.term) for r in rows
        )
        if len(found) >= pool:
            break
    return rank_candidates(text, found, limit)

