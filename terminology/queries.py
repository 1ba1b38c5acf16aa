"""Questions to the store, answered from each system's active release only."""
from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import Connection, and_, select

from . import schema
from .errors import UnknownConcept, UnknownSystem
from .model import Association, Concept, Crosswalk, Designation, Relationship
from .normalise import normalise_term
from .releases import active_release_ids
from .systems import RXNORM, canonical_system

__all__ = [
    "SNOMED_IS_A",
    "active_release_id",
    "concept",
    "require_concept",
    "designations",
    "related",
    "inverse_related",
    "parents",
    "associations",
    "crosswalks_from",
    "crosswalks_to",
    "find_by_term",
    "ingredients",
    "RXNORM_INGREDIENT_TTYS",
    "RXNORM_PRODUCT_TTYS",
    "SNOMED_PRODUCT_TAGS",
]

#: SNOMED CT's |Is a| relationship type.
SNOMED_IS_A = "116680003"
#: RxNorm's own is-a (RXNREL RELA `isa`, between RxNorm concepts).
RXNORM_IS_A = "isa"

RXNORM_INGREDIENT_TTYS = frozenset({"IN", "PIN", "MIN"})
RXNORM_PRODUCT_TTYS = frozenset({"SCD", "SBD", "BN", "SCDC", "SBDC", "GPCK", "BPCK", "SCDF", "SBDF", "SCDG", "SBDG"})
#: RXNREL relations walked from a product towards its ingredients.
_TOWARDS_INGREDIENT = ("consists_of", "tradename_of", "has_ingredient", "has_ingredients", "contains", "isa", "has_part")
#: SNOMED CT semantic tags of products.
SNOMED_PRODUCT_TAGS = frozenset({"product", "medicinal product", "medicinal product form", "clinical drug", "real clinical drug"})
#: SNOMED CT |Has active ingredient| and |Has precise active ingredient|.
SNOMED_ACTIVE_INGREDIENT = ("127489000", "762949000")

_c = schema.concepts


def active_release_id(connection: Connection, system: str) -> int:
    """Id of the active release of `system`; `UnknownSystem` when none is loaded."""
    canonical = canonical_system(system)
    release_id = active_release_ids(connection).get(canonical)
    if release_id is None:
        raise UnknownSystem(system)
    return release_id


def _to_concept(system: str, row) -> Concept:
    return Concept(system=system, code=row.code, display=row.display, active=bool(row.active), kind=row.kind)


def concept(connection: Connection, system: str, code: str) -> Concept | None:
    """The concept `code` of the active release of `system`, or None when that release lacks it."""
    canonical = canonical_system(system)
    release_id = active_release_id(connection, canonical)
    row = connection.execute(select(_c).where(_c.c.release_id == release_id, _c.c.code == code.strip())).first()
    return _to_concept(canonical, row) if row else None


def require_concept(connection: Connection, system: str, code: str) -> Concept:
    """As `concept`, but `UnknownConcept` when the code is not there."""
    found = concept(connection, system, code)
    if found is None:
        raise UnknownConcept(canonical_system(system), code)
    return found


def designations(connection: Connection, system: str, code: str) -> list[Designation]:
    """Every term of a concept: preferred first, then by type and term."""
    release_id = active_release_id(connection, system)
    d = schema.designations
    rows = connection.execute(
        select(d.c.term, d.c.type, d.c.language, d.c.preferred)
        .where(d.c.release_id == release_id, d.c.code == code)
        .order_by(d.c.preferred.desc(), d.c.type, d.c.term)
    )
    return [Designation(term=r.term, type=r.type, language=r.language, preferred=bool(r.preferred)) for r in rows]


def _relationships(
    connection: Connection, system: str, code: str, types: Sequence[str] | None, *, inverse: bool
) -> list[Relationship]:
    release_id = active_release_id(connection, system)
    r = schema.relationships
    near, far = (r.c.target_code, r.c.source_code) if inverse else (r.c.source_code, r.c.target_code)
    query = (
        select(r.c.source_code, r.c.type, r.c.target_code, _c.c.display)
        .select_from(r.outerjoin(_c, and_(_c.c.release_id == r.c.release_id, _c.c.code == far)))
        .where(r.c.release_id == release_id, near == code)
        .order_by(r.c.type, _c.c.display)
    )
    if types:
        query = query.where(r.c.type.in_(list(types)))
    return [
        Relationship(source=row.source_code, type=row.type, target=row.target_code, target_display=row.display)
        for row in connection.execute(query)
    ]


def related(connection: Connection, system: str, code: str, types: Sequence[str] | None = None) -> list[Relationship]:
    """Relationships from `code`: `code <type> target`, each with the target's display."""
    return _relationships(connection, system, code, types, inverse=False)


def inverse_related(
    connection: Connection, system: str, code: str, types: Sequence[str] | None = None
) -> list[Relationship]:
    """Relationships to `code`: `source <type> code`; `target_display` here is the source's display."""
    return _relationships(connection, system, code, types, inverse=True)


def parents(connection: Connection, system: str, code: str) -> list[Concept]:
    """Direct is-a parents (SNOMED CT 116680003, RxNorm `isa`)."""
    canonical = canonical_system(system)
    found = related(connection, canonical, code, [SNOMED_IS_A, RXNORM_IS_A])
    return [Concept(canonical, rel.target, rel.target_display or rel.target, True) for rel in found]


def associations(connection: Connection, system: str, code: str) -> list[Association]:
    """Historical links from an inactive or retired `code` (SAME AS, REPLACED BY, RXNCUI remaps ...)."""
    release_id = active_release_id(connection, system)
    a = schema.associations
    rows = connection.execute(
        select(a.c.source_code, a.c.type, a.c.target_code, _c.c.display)
        .select_from(a.outerjoin(_c, and_(_c.c.release_id == a.c.release_id, _c.c.code == a.c.target_code)))
        .where(a.c.release_id == release_id, a.c.source_code == code)
        .order_by(a.c.type, a.c.target_code)
    )
    return [Association(r.source_code, r.type, r.target_code, r.display) for r in rows]


def crosswalks_from(connection: Connection, system: str, code: str) -> list[Crosswalk]:
    """Authoritative pairings of `code` with codes of other systems, from its system's active release."""
    release_id = active_release_id(connection, system)
    x = schema.crosswalks
    rows = connection.execute(
        select(x).where(x.c.release_id == release_id, x.c.code == code).order_by(x.c.other_system, x.c.other_code)
    )
    return [Crosswalk(r.code, r.other_system, r.other_code, r.other_display, r.kind) for r in rows]


def crosswalks_to(connection: Connection, other_system: str, other_code: str) -> list[tuple[str, Crosswalk]]:
    """Pairings, in any active release, that point at `other_system|other_code`: (release system, row)."""
    ids = active_release_ids(connection)
    if not ids:
        return []
    by_id = {release_id: system for system, release_id in ids.items()}
    x = schema.crosswalks
    rows = connection.execute(
        select(x).where(
            x.c.release_id.in_(list(by_id)),
            x.c.other_system == canonical_system(other_system),
            x.c.other_code == other_code,
        )
    )
    return [
        (by_id[r.release_id], Crosswalk(r.code, r.other_system, r.other_code, r.other_display, r.kind)) for r in rows
    ]


def find_by_term(
    connection: Connection, text: str, system: str | None = None, *, prefix: bool = False, limit: int = 50
) -> list[tuple[Concept, str]]:
    """Concepts with a designation equal to (or starting with) the normalised `text`: (concept, matched term)."""
    ids = active_release_ids(connection)
    if system is not None:
        ids = {canonical_system(system): active_release_id(connection, system)}
    if not ids:
        return []
    by_id = {release_id: name for name, release_id in ids.items()}
    d = schema.designations
    needle = normalise_term(text)
    if not needle:
        return []
    match = d.c.term_norm.startswith(needle, autoescape=True) if prefix else d.c.term_norm == needle
    rows = connection.execute(
        select(d.c.release_id, d.c.term, _c.c.code, _c.c.display, _c.c.active, _c.c.kind)
        .select_from(d.join(_c, and_(_c.c.release_id == d.c.release_id, _c.c.code == d.c.code)))
        .where(d.c.release_id.in_(list(by_id)), match)
        .order_by(_c.c.active.desc(), d.c.preferred.desc(), d.c.term)
        .limit(limit)
    )
    return [(_to_concept(by_id[row.release_id], row), row.term) for row in rows]


def ingredients(connection: Connection, system: str, code: str) -> list[Concept]:
    """The ingredients of a product, sorted by display; empty for a concept that is not a product.

    RxNorm: RXNREL walked from the product (consists_of, tradename_of, has_ingredient, contains, isa,
    has_part) to IN concepts; PIN/MIN only when no IN is reachable. SNOMED CT: |Has active
    ingredient| targets, or |Has precise active ingredient| when a product has none of the former.
    """
    canonical = canonical_system(system)
    if canonical == RXNORM:
        return _rxnorm_ingredients(connection, code)
    rels = related(connection, canonical, code, SNOMED_ACTIVE_INGREDIENT)
    base = [r for r in rels if r.type == SNOMED_ACTIVE_INGREDIENT[0]] or rels
    found = [concept(connection, canonical, r.target) for r in base]
    return sorted({c.code: c for c in found if c is not None}.values(), key=lambda c: c.display)


def _rxnorm_ingredients(connection: Connection, rxcui: str, depth: int = 4) -> list[Concept]:
    seen, frontier, found = {rxcui}, [rxcui], {}
    for _ in range(depth):
        following = []
        for code in frontier:
            for rel in related(connection, RXNORM, code, _TOWARDS_INGREDIENT):
                if rel.target in seen:
                    continue
                seen.add(rel.target)
                target = concept(connection, RXNORM, rel.target)
                if target is None:
                    continue
                if target.kind in RXNORM_INGREDIENT_TTYS:
                    found[target.code] = target
                    if target.kind == "MIN":
                        following.append(target.code)  # a MIN has_part its INs
                else:
                    following.append(target.code)
        frontier = following
    ins = [c for c in found.values() if c.kind == "IN"]
    return sorted(ins or found.values(), key=lambda c: c.display)
