"""The translation engine: an ordered list of rules, each answer naming the rule, release and mapping.

1. curated     a pharmacist-approved mapping (newest version) for this source, context and target. Validated.
2. negation    "no known allergy" statements -> SNOMED CT situations (see `negation`). Validated.
3. historical  inactive SNOMED CT concept -> SAME AS / REPLACED BY target (validated; other associations
               unvalidated); retired RXCUI -> current RXCUI (RXNCUI; validated when it is one).
   (NDC)       an NDC resolves to its RXCUI through RXNSAT (crosswalk, validated) before anything else.
4. crosswalk   RxNorm <-> SNOMED CT through RXNCONSO SNOMEDCT_US atoms; SNOMED map refsets. Validated.
5. ingredient  context `allergy`: a product means its ingredients (RxNorm via RXNREL to IN/PIN/MIN;
               SNOMED CT "has active ingredient"). Validated, source-is-narrower-than-target.
   identity    the source already is a concept of the target system.
   local-table a local table's own pre-existing target: unvalidated until a pharmacist approves it.
6. lexical     the normalised text equals a target designation. Never validated.
7. unmapped    no match: ranked candidates (suggestions only).

Every answer that is not `mapped` counts one occurrence on its review-queue entry. The caller
owns the transaction (so an idempotent replay can roll the count back with the response).
"""
from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import replace

from sqlalchemy import URL, Connection

from terminology import queries
from terminology.errors import UnknownTargetSystem
from terminology.model import Concept
from terminology.queries import RXNORM_PRODUCT_TTYS, SNOMED_PRODUCT_TAGS
from terminology.releases import active_release_ids, list_releases
from terminology.search import search
from terminology.systems import NDC, RXNORM, SNOMED, canonical_system

from .cache import TranslationCache, cache_key
from .curated import Decision, Relationship, find_current
from .negation import NEGATION_CONCEPTS, Negation, negation_for_code, recognise_negation
from .review_queue import ReviewKey, record_occurrence
from .translation import (
    Context,
    Match,
    ReviewRef,
    Rule,
    Status,
    Suggestion,
    TranslateRequest,
    Translation,
    normalise_ndc,
)

__all__ = ["translate", "answer_from_cache", "queue_order"]

logger = logging.getLogger(__name__)

_VALIDATED_ASSOCIATIONS = frozenset({"SAME AS", "REPLACED BY"})
NEGATION_RULESET = "termmap negation rules v1"


#: `system|version` of each release seen, by (store URL, release id): a release's system and version never
#: change once it is written, so this process reads each label once, not once per translation.
_LABELS: dict[tuple[URL, int], str] = {}


class _Releases:
    """The active releases (ids read once per transaction) and their labels."""

    def __init__(self, connection: Connection) -> None:
        self.ids = active_release_ids(connection)
        self._connection = connection

    def label(self, system: str) -> str | None:
        release_id = self.ids.get(system)
        if release_id is None:
            return None
        store = self._connection.engine.url  # an immutable, hashable URL: no rendering on the hot path
        if (store, release_id) not in _LABELS:
            _LABELS.update(((store, r.id), r.label) for r in list_releases(self._connection))
        return _LABELS.get((store, release_id))

    def has(self, system: str) -> bool:
        return system in self.ids


def translate(
    connection: Connection, request: TranslateRequest, *, candidates: int = 5, cache: TranslationCache | None = None
) -> Translation:
    """Translate one coded or free-text entry; never loses it (see the module docstring).

    With a `cache`, an answer computed before is replayed (with this request's `original`);
    an unvalidated or unmapped replay still counts its occurrence on the review entry.
    """
    key = cache_key(request) if cache is not None else None
    known = cache.get(key) if cache is not None else None
    if known is None:
        generation = cache.generation if cache is not None else None
        known = _decide(connection, request, candidates)
        if cache is not None:
            cache.put(key, known, generation)
    return _queue(connection, request, known)


def answer_from_cache(cache: TranslationCache, request: TranslateRequest) -> Translation | None:
    """A cached answer that needs no store write (mapped, or a curated no-map), or None."""
    known = cache.get(cache_key(request))
    if known is None or (known.status is not Status.MAPPED and known.decision is None):
        return None
    return replace(known, original=request.original())


def _decide(connection: Connection, request: TranslateRequest, candidates: int) -> Translation:
    """The answer to `request`, without its review-queue reference (see `_queue`)."""
    releases = _Releases(connection)
    target = canonical_system(request.target_system)
    if not releases.has(target) and target != SNOMED:
        raise UnknownTargetSystem(request.target_system)
    source_system = canonical_system(request.source.system) if request.source.system else ""
    code = (request.source.code or "").strip()
    context = request.context.value

    curated = _curated(connection, source_system, code, request.words, context, target)
    if curated is not None:
        return _answer(connection, request, curated[0], decision=curated[1])

    negation = _negation(connection, releases, request, source_system, code)
    if negation:
        return _answer(connection, request, negation)

    if not releases.has(target):
        raise UnknownTargetSystem(request.target_system)

    matches = _by_code(connection, releases, source_system, code, target, request.context) if code else []
    if not matches and request.words:
        matches = _lexical(connection, releases, request.words, target)
    return _answer(connection, request, matches, candidates=candidates)


def _curated(connection, source_system, code, words, context, target) -> tuple[list[Match], str | None] | None:
    mapping = None
    if code:
        mapping = find_current(connection, source_system, code, None, context, target)
    if mapping is None and words:
        mapping = find_current(connection, source_system, None, words, context, target)
    if mapping is None or mapping.decision is Decision.RETIRED:
        return None
    ref = (mapping.mapping_id, mapping.version)
    matches = [
        Match(t.system, t.code, t.display, Relationship(t.relationship), True, Rule.CURATED,
              f"curated mapping {mapping.mapping_id} v{mapping.version}", ref,
              (f"curated by {mapping.author} ({mapping.origin})",))
        for t in mapping.targets
    ]
    return matches, (mapping.decision.value if mapping.decision is Decision.NO_MAP else None)


def _negation(connection, releases: _Releases, request: TranslateRequest, source_system: str, code: str) -> list[Match]:
    kind = recognise_negation(request.words) or recognise_negation(code) if request.context is Context.ALLERGY else None
    if kind is None and source_system == SNOMED and code:
        kind = negation_for_code(code)
    if kind is None:
        return []
    concept = _negation_concept(connection, releases, kind)
    release = releases.label(SNOMED) if releases.has(SNOMED) else None
    steps = (f"negation: {kind.value}",)
    if canonical_system(request.target_system) != SNOMED:
        steps += ("answered in SNOMED CT: the target system has no concept for a negated allergy",)
    return [Match(SNOMED, concept.code, concept.display, Relationship.EQUIVALENT, True, Rule.NEGATION,
                  release or NEGATION_RULESET, None, steps)]


def _negation_concept(connection, releases: _Releases, kind: Negation):
    """The concept for `kind` in the loaded edition: the first listed one it holds, else the first listed."""
    options = NEGATION_CONCEPTS[kind]
    if releases.has(SNOMED):
        for option in reversed(options) if _is_us_edition(releases) else options:
            found = queries.concept(connection, SNOMED, option.code)
            if found is not None and found.active:
                return type(option)(found.code, found.display)
    return options[0]


def _is_us_edition(releases: _Releases) -> bool:
    label = releases.label(SNOMED) or ""
    return "US" in label.split("|", 1)[-1]


def _by_code(connection, releases: _Releases, system: str, code: str, target: str, context: Context) -> list[Match]:
    """Matches for a coded source: resolve history / NDC first, then reach the target system."""
    if not system or not releases.has(system) and system != NDC:
        return []
    matches: list[Match] = []
    for resolved_system, resolved_code, steps, validated, concept in _resolve(connection, releases, system, code):
        matches.extend(_reach(connection, releases, resolved_system, resolved_code, target, context, steps, validated,
                              concept))
    return _dedupe(matches)


def _resolve(
    connection, releases: _Releases, system: str, code: str
) -> Iterable[tuple[str, str, tuple[str, ...], bool, Concept | None]]:
    """The current code(s) a source code stands for, with the steps taken, whether they are validated, and
    the concept when it was already read on the way (else None: `_reach` reads it)."""
    if system == NDC:
        if not releases.has(RXNORM):
            return
        ndc = normalise_ndc(code)
        for owner, row in queries.crosswalks_to(connection, NDC, ndc):
            if owner == RXNORM and not row.kind.endswith(":suppressed"):
                yield RXNORM, row.code, (f"crosswalk: NDC {ndc} -> RXCUI {row.code} ({row.kind})",), True, None
        return
    concept = queries.concept(connection, system, code)
    if concept is not None and concept.active:
        yield system, code, (), True, concept
        return
    associations = queries.associations(connection, system, code)
    if system == RXNORM:
        several = len(associations) > 1
        for a in associations:
            yield RXNORM, a.target, (f"historical: retired RXCUI {code} {a.type} {a.target}",), not several, None
        return
    for a in associations:
        validated = a.type in _VALIDATED_ASSOCIATIONS
        yield system, a.target, (f"historical: {code} {a.type} {a.target}",), validated, None


def _reach(connection, releases, system, code, target, context, steps, validated, concept=None) -> list[Match]:
    if concept is None:
        concept = queries.concept(connection, system, code)
    if concept is None:
        return []
    is_allergy = context is Context.ALLERGY
    rule_for_history = Rule.HISTORICAL if any(s.startswith("historical") for s in steps) else None

    if system == target:
        if is_allergy and _is_product(concept):
            return [_with(m, steps, validated) for m in _ingredients(connection, releases, concept)]
        rule = rule_for_history or (Rule.CROSSWALK if steps else Rule.IDENTITY)
        return [Match(target, concept.code, concept.display, Relationship.EQUIVALENT, validated, rule,
                      releases.label(target), None, steps or ("identity",))]

    if system == RXNORM and target == SNOMED:
        sources = [concept]
        extra: tuple[str, ...] = ()
        if is_allergy and concept.kind in RXNORM_PRODUCT_TTYS:
            ingredients = queries.ingredients(connection, RXNORM, concept.code)
            sources, extra = ingredients, (f"ingredient: {concept.kind} {concept.code} -> {', '.join(c.code for c in ingredients)}",)
        matches = []
        for source in sources:
            for found in _rxnorm_to_snomed(connection, releases, source, steps + extra, validated):
                matches.append(found if not extra else _as_ingredient(found))
        return matches

    if system == SNOMED and target == RXNORM:
        sources = [concept]
        extra = ()
        if is_allergy and _is_product(concept):
            sources = queries.ingredients(connection, SNOMED, concept.code)
            extra = (f"ingredient: product {concept.code} -> {', '.join(c.code for c in sources)}",)
        matches = []
        for source in sources:
            for owner, row in queries.crosswalks_to(connection, SNOMED, source.code):
                if owner != RXNORM or row.kind.endswith(":suppressed"):
                    continue
                rx = queries.concept(connection, RXNORM, row.code)
                if rx is None:
                    continue
                step = steps + extra + (f"crosswalk: SNOMED CT {source.code} -> RXCUI {rx.code} ({row.kind})",)
                if is_allergy and rx.kind in RXNORM_PRODUCT_TTYS:
                    matches.extend(_with(m, step, validated) for m in _ingredients(connection, releases, rx))
                    continue
                relationship = Relationship.SOURCE_NARROWER if extra else Relationship.EQUIVALENT
                matches.append(Match(RXNORM, rx.code, rx.display, relationship, validated,
                                     Rule.INGREDIENT if extra else (rule_for_history or Rule.CROSSWALK),
                                     releases.label(RXNORM), None, step))
        return matches

    # Anything else: a release's own crosswalk rows (SNOMED map refsets, a local table's own targets).
    matches = []
    for row in queries.crosswalks_from(connection, system, code):
        if canonical_system(row.other_system) != target or row.kind.endswith(":suppressed"):
            continue
        local = row.kind == "local-table"
        found = queries.concept(connection, target, row.other_code) if releases.has(target) else None
        matches.append(Match(
            target, row.other_code, found.display if found else row.other_display, Relationship.EQUIVALENT,
            validated and not local, Rule.LOCAL_TABLE if local else (rule_for_history or Rule.CROSSWALK),
            releases.label(system), None, steps + (f"{'local table' if local else 'crosswalk'}: {row.kind}",),
        ))
    return matches


def _is_product(concept: Concept) -> bool:
    if concept.system == RXNORM:
        return concept.kind in RXNORM_PRODUCT_TTYS
    if concept.system == SNOMED:
        return concept.kind in SNOMED_PRODUCT_TAGS
    return False


def _ingredients(connection, releases, concept: Concept) -> list[Match]:
    """A product's ingredients in its own system, as ingredient-rule matches."""
    found = queries.ingredients(connection, concept.system, concept.code)
    step = f"ingredient: {concept.kind} {concept.code} -> {', '.join(c.code for c in found)}"
    return [Match(c.system, c.code, c.display, Relationship.SOURCE_NARROWER, True, Rule.INGREDIENT,
                  releases.label(c.system), None, (step,)) for c in found]


def _rxnorm_to_snomed(connection, releases, concept: Concept, steps, validated) -> list[Match]:
    matches = []
    for row in queries.crosswalks_from(connection, RXNORM, concept.code):
        if row.other_system != SNOMED or row.kind.endswith(":suppressed"):
            continue
        found = queries.concept(connection, SNOMED, row.other_code) if releases.has(SNOMED) else None
        if found is not None and not found.active:
            continue  # RxNorm still points at a concept this SNOMED release has retired
        matches.append(Match(SNOMED, row.other_code, found.display if found else row.other_display,
                             Relationship.EQUIVALENT, validated, Rule.CROSSWALK, releases.label(RXNORM), None,
                             steps + (f"crosswalk: RXCUI {concept.code} -> SNOMED CT {row.other_code} ({row.kind})",)))
    return matches


def _as_ingredient(match: Match) -> Match:
    return Match(match.system, match.code, match.display, Relationship.SOURCE_NARROWER, match.validated,
                 Rule.INGREDIENT, match.release, match.mapping, match.steps)


def _with(match: Match, steps: tuple[str, ...], validated: bool) -> Match:
    return Match(match.system, match.code, match.display, match.relationship, match.validated and validated,
                 match.rule, match.release, match.mapping, steps + match.steps)


def _lexical(connection, releases, words: str, target: str) -> list[Match]:
    found = queries.find_by_term(connection, words, target, limit=10)
    seen: dict[str, Match] = {}
    for concept, term in found:
        if concept.code in seen or not concept.active:
            continue
        seen[concept.code] = Match(target, concept.code, concept.display, Relationship.EQUIVALENT, False,
                                   Rule.LEXICAL, releases.label(target), None, (f"lexical: text equals {term!r}",))
    return list(seen.values())


def _dedupe(matches: list[Match]) -> list[Match]:
    best: dict[tuple[str, str], Match] = {}
    for match in matches:
        key = (match.system, match.code)
        if key not in best or (match.validated and not best[key].validated):
            best[key] = match
    return list(best.values())


def _answer(connection, request: TranslateRequest, matches: list[Match], *, decision: str | None = None,
            candidates: int = 5) -> Translation:
    original = request.original()
    if decision == Decision.NO_MAP.value:
        return Translation(Status.UNMAPPED, original, (), (), None, "a pharmacist decided this has no target", decision)
    if matches and all(m.validated for m in matches):
        return Translation(Status.MAPPED, original, tuple(matches))
    if matches:
        return Translation(Status.UNVALIDATED, original, tuple(matches), (), None,
                           "not validated: queued for a pharmacist's review")
    suggestions: tuple[Suggestion, ...] = ()
    if request.words:
        suggestions = tuple(
            Suggestion(c.concept.system, c.concept.code, c.concept.display, c.score)
            for c in search(connection, request.words, canonical_system(request.target_system), limit=candidates,
                            context=request.context.value)
        )
    return Translation(Status.UNMAPPED, original, (), suggestions, None,
                       "no mapping found: the original is kept and queued for review")


def queue_order(request: TranslateRequest) -> tuple[str, str, str, str, str]:
    """Where `request`'s review entry falls in one global order (its review key, then the target).

    A caller translating many entries in one transaction translates them in this order: every
    transaction then takes the review-queue row locks in the same order, so two concurrent batches
    that share entries wait for each other instead of deadlocking.
    """
    source_system = canonical_system(request.source.system) if request.source.system else ""
    key = ReviewKey.of(source_system, request.source.code, request.words, request.context.value)
    return key.source_system, key.source_code, key.text_norm, key.context, request.target_system


def _queue(connection: Connection, request: TranslateRequest, known: Translation) -> Translation:
    """`known` for this request: with its own `original`, and counted on its review entry unless validated."""
    answer = replace(known, original=request.original())
    if answer.status is Status.MAPPED or answer.decision is not None:
        return answer
    source_system = canonical_system(request.source.system) if request.source.system else ""
    key = ReviewKey.of(source_system, request.source.code, request.words, request.context.value)
    entry_id, entry_status = record_occurrence(
        connection, key, original=answer.original, target_system=canonical_system(request.target_system),
        reason=answer.status.value, sender=request.sender,
    )
    return replace(answer, review=ReviewRef(entry_id, entry_status))
