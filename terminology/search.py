"""Candidate search: concepts whose designations resemble a text, ranked for a pharmacist. Suggestions only.

A `Candidate` carries a score; it never becomes a mapping by itself (curation decides).

    search(connection, "Amoxycilin 500mg cap", SNOMED, context="allergy")

How a text is searched:

1. **Query forms** (`clinical_text`): the text's canonical words (spelling, plural, salts, dose forms and
   strength recognised), with clinical abbreviations expanded ("PCN" -> penicillin) as one variant and the
   literal words as another; when RxNorm is active, a brand name in the text adds a variant with its
   ingredients ("Tylenol" -> acetaminophen, through RXNREL `tradename_of`; see `candidate_index.BrandIndex`).
2. **Candidates** from each active release's in-memory index (`candidate_index.ReleaseIndex`): designations
   sharing words with a variant (or near spellings, completions, compounds), weighted by IDF, filtered by
   the context's kinds, at most `pool` per release.
3. **Score** (`score_terms`, pure): similarity (the best of rapidfuzz WRatio, token_sort_ratio, and ratio
   without spaces) of the cores (allergen words only) and of the full words (with strength, form, salt),
   mixed 85/15 for allergy, 50/50 for medication, 80/20 without context; the best variant counts; an
   expanded variant counts x0.98, a brand variant x0.95; an inactive concept x0.9, a kind the context only
   tolerates x0.9. One candidate per concept, with its best term; ties by display, then code.

**Context -> kinds** (`CONTEXT_KINDS`; a kind not listed is excluded):

    context      preferred (x1.0)                                   tolerated (x0.9)
    allergy      AGENT: SNOMED substance, organism, physical        -
                 object, physical force; RxNorm IN, PIN, MIN
                 PRODUCT_CLASS: SNOMED "Product containing X"
                 (tags medicinal product, product)
                 ALLERGY_CONDITION: SNOMED finding / disorder /
                 situation that says allergy, intolerance ...
                 UNKNOWN (local tables)
    medication   PRODUCT: SNOMED clinical drug, medicinal product  AGENT (an ingredient when no product fits)
                 form ...; RxNorm SCD, SBD, SCDC, SBDC, SCDF,
                 SBDF, SCDG, SBDG, GPCK, BPCK; BRAND: RxNorm BN;
                 PRODUCT_CLASS; UNKNOWN
    None         every kind                                         -

So an allergy never gets a clinical drug (SCD "Amoxicillin 500 MG Oral Tablet") as a candidate, and a
medication gets products first.
"""
from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np
from rapidfuzz import fuzz, process
from sqlalchemy import Connection, select

from . import schema
from .candidate_index import (
    ActiveRelease,
    Kind,
    active_releases,
    brand_index,
    designation_key,
    doc_forms,
    kind_of,
    release_index,
)
from .clinical_text import core_words, query_variants
from .model import Concept
from .systems import RXNORM, canonical_system

__all__ = ["Candidate", "CONTEXT_KINDS", "QueryForm", "query_forms", "rank_candidates", "score_term", "search"]

#: context -> (preferred kinds, tolerated kinds). See the module docstring.
CONTEXT_KINDS: dict[str | None, tuple[frozenset[Kind], frozenset[Kind]]] = {
    "allergy": (frozenset({Kind.AGENT, Kind.PRODUCT_CLASS, Kind.ALLERGY_CONDITION, Kind.UNKNOWN}), frozenset()),
    "medication": (frozenset({Kind.PRODUCT, Kind.BRAND, Kind.PRODUCT_CLASS, Kind.UNKNOWN}), frozenset({Kind.AGENT})),
    None: (frozenset(Kind), frozenset()),
}
#: How much the full words (strength, form, salt) weigh against the core, by context.
_FULL_WEIGHT = {"allergy": 0.15, "medication": 0.5, None: 0.2}
_EXPANDED, _BRAND, _TOLERATED, _INACTIVE = 0.98, 0.95, 0.9, 0.9


@dataclass(frozen=True, slots=True)
class Candidate:
    """A concept that resembles the text, with the matched term and a 0-100 score."""

    concept: Concept
    term: str
    score: float


@dataclass(frozen=True, slots=True)
class QueryForm:
    """One way of reading the text: its full words and core words (space-joined), and what it is worth."""

    words: tuple[str, ...]
    full: str
    core: str
    weight: float


def _context(context: object) -> str | None:
    value = getattr(context, "value", context)
    if value is None:
        return None
    value = str(value).strip().casefold()
    if value not in CONTEXT_KINDS:
        raise ValueError(f"unknown search context {context!r}: expected one of allergy, medication")
    return value


def query_forms(text: str, brands: Iterable = ()) -> list[QueryForm]:
    """The forms a text is searched in: abbreviations expanded, literal, then each brand expansion."""
    forms: dict[tuple[str, ...], QueryForm] = {}

    def add(words: Sequence[str], weight: float) -> None:
        words = tuple(words)
        if words and (words not in forms or forms[words].weight < weight):
            forms[words] = QueryForm(words, " ".join(words), " ".join(core_words(list(words))), weight)

    variants = query_variants(text)
    for words, expanded in variants:
        add(words, _EXPANDED if expanded else 1.0)
    for brand in brands:
        for words, _ in variants:
            replaced = brand.expand(words)
            if replaced:
                add(replaced, _BRAND)
    return sorted(forms.values(), key=lambda form: -form.weight)


def _similarity(queries: Sequence[str], terms: Sequence[str]) -> np.ndarray:
    """queries x terms, 0-100: the best of rapidfuzz WRatio, token_sort_ratio (word order is free) and the
    ratio of the texts without spaces (a compound written as one word or two: "soybean", "soy bean")."""
    best = process.cdist(queries, terms, scorer=fuzz.WRatio, dtype=np.float32)
    np.maximum(best, process.cdist(queries, terms, scorer=fuzz.token_sort_ratio, dtype=np.float32), out=best)
    compact = process.cdist([q.replace(" ", "") for q in queries], [t.replace(" ", "") for t in terms],
                            scorer=fuzz.ratio, dtype=np.float32)
    return np.maximum(best, compact, out=best)


def score_terms(
    forms: Sequence[QueryForm], fulls: Sequence[str], cores: Sequence[str], context: str | None = None
) -> np.ndarray:
    """0-100 per designation (its full and core words): how well it answers the best of the query forms."""
    if not forms or not fulls:
        return np.zeros(len(fulls), dtype=np.float32)
    mix = _FULL_WEIGHT[context]
    core = _similarity([form.core for form in forms], cores)
    full = _similarity([form.full for form in forms], fulls)
    weights = np.array([form.weight for form in forms], dtype=np.float32)[:, None]
    return (((1 - mix) * core + mix * full) * weights).max(axis=0)


def score_term(forms: Sequence[QueryForm], full: str, core: str, context: str | None = None) -> float:
    """0-100: how well one designation (its full and core words) answers the best of the query forms."""
    return float(score_terms(forms, [full], [core], context)[0])


def _kind_factor(kind: Kind, context: str | None) -> float | None:
    preferred, tolerated = CONTEXT_KINDS[context]
    if kind in preferred:
        return 1.0
    if kind in tolerated:
        return _TOLERATED
    return None


def rank_candidates(
    text: str, found: Iterable[tuple[Concept, str]], limit: int = 10, *, context: str | None = None
) -> list[Candidate]:
    """Best `limit` candidates for `text` among (concept, term) pairs, one per concept, best first, ties by display."""
    context = _context(context)
    forms = query_forms(text)
    best: dict[tuple[str, str], Candidate] = {}
    for concept, term in found:
        full, core = doc_forms(designation_key(term, concept.kind))
        factor = _kind_factor(kind_of(canonical_system(concept.system), concept.kind, full.split()), context)
        if factor is None or not full:
            continue
        score = score_term(forms, full, core, context) * factor
        if concept.active is False:
            score *= _INACTIVE  # an inactive concept is a worse suggestion than an active one
        key = (concept.system, concept.code)
        if key not in best or score > best[key].score:
            best[key] = Candidate(concept, term, round(score, 1))
    ranked = sorted(best.values(), key=lambda c: (-c.score, c.concept.display, c.concept.code))
    return ranked[:limit]


def _allowed(context: str | None) -> np.ndarray | None:
    """Kind -> allowed? as a lookup table for the index (None: every kind)."""
    return None if context is None else _FACTORS[context] > 0


#: context -> Kind -> score factor (0: excluded), as lookup tables.
_FACTORS = {
    context: np.array([(_kind_factor(Kind(k), context) or 0.0) for k in range(max(Kind) + 1)], dtype=np.float32)
    for context in CONTEXT_KINDS
}


def search(
    connection: Connection,
    text: str,
    system: str | None = None,
    *,
    limit: int = 10,
    context: str | None = None,
    pool: int = 300,
) -> list[Candidate]:
    """Ranked candidates for `text` among the active releases (of `system` when given), for `context`.

    `context` is "allergy", "medication" (or a `Context`), or None for every kind of concept. The first
    search of a release builds its index (about 14 s for a full SNOMED CT release; see `candidate_index.warm`).
    """
    context = _context(context)
    if not text or not text.strip() or limit < 1:
        return []
    releases = active_releases(connection)
    brands = [brand_index(connection, r) for r in releases if r.system == RXNORM]
    if system is not None:
        wanted = canonical_system(system)
        releases = [r for r in releases if r.system == wanted]
    if not releases:
        return []
    forms = query_forms(text, brands)
    if not forms:
        return []
    variants = [list(form.words) for form in forms]
    allowed = _allowed(context)
    scored: dict[tuple[int, int], tuple[float, ActiveRelease, int]] = {}
    for release in releases:
        index = release_index(connection, release)
        docs, _ = index.retrieve(variants, allowed, pool)
        if not len(docs):
            continue
        factors = _FACTORS[context][index.doc_kind[docs]]
        factors = factors * np.where(index.concept_active[index.doc_concept[docs]], 1.0, _INACTIVE)
        fulls, cores = zip(*(doc_forms(index.key(doc)) for doc in docs.tolist()))
        scores = np.round(score_terms(forms, fulls, cores, context) * factors, 1)
        for doc, score in zip(docs.tolist(), scores.tolist()):
            if score <= 0:
                continue
            key = (release.id, int(index.doc_concept[doc]))
            if key not in scored or score > scored[key][0]:
                scored[key] = (score, release, doc)
    if not scored:
        return []
    # Displays decide ties, so fetch the ties at the cut too (a bounded number of them).
    ranked = sorted(scored.items(), key=lambda item: -item[1][0])
    cut = ranked[min(limit, len(ranked)) - 1][1][0]
    chosen = [item for item in ranked if item[1][0] >= cut][: limit * 3]
    return _candidates(connection, chosen, limit)


def _candidates(connection: Connection, chosen, limit: int) -> list[Candidate]:
    """Candidates for the chosen (concept, designation) pairs: display from the store, term as written."""
    c, d = schema.concepts, schema.designations
    by_release: dict[ActiveRelease, dict[str, tuple[float, str]]] = {}
    for (_, concept), (score, release, doc) in chosen:
        index = release_index(connection, release)
        by_release.setdefault(release, {})[index.code(concept)] = (score, index.key(doc))
    found: list[Candidate] = []
    for release, wanted in by_release.items():
        rows = connection.execute(
            select(d.c.code, d.c.term, d.c.type, c.c.display, c.c.active, c.c.kind)
            .select_from(d.join(c, (c.c.release_id == d.c.release_id) & (c.c.code == d.c.code)))
            .where(d.c.release_id == release.id, d.c.code.in_(list(wanted)))
            .order_by(d.c.preferred.desc(), d.c.term)
        ).all()
        concepts: dict[str, Concept] = {}
        terms: dict[str, str] = {}
        for row in rows:
            if row.code not in concepts:
                concepts[row.code] = Concept(release.system, row.code, row.display, bool(row.active), row.kind)
            if row.code in terms:
                continue
            if designation_key(row.term, row.kind if row.type == "fsn" else None) == wanted[row.code][1]:
                terms[row.code] = row.term
        for code, (score, _) in wanted.items():
            concept = concepts.get(code)
            if concept is not None:
                found.append(Candidate(concept, terms.get(code, concept.display), float(score)))
    found.sort(key=lambda cand: (-cand.score, cand.concept.display, cand.concept.code))
    return found[:limit]
