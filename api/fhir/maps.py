"""termmap's ConceptMaps: which curated mappings each holds, its id and canonical url; ConceptMaps read in.

A served ConceptMap is a view, never a stored document: the current curated mappings (newest
version of each, decision `mapped` or `no-map`; `retired` left out) from one source system to one
target system in one context. Its identity follows from those three:

    id   {context}-{source}-to-{target}        e.g. allergy-allergens-5d1c0f3e-to-snomed
    url  https://termmap.dev/fhir/ConceptMap/{id}

where a system is `snomed`, `rxnorm` or `ndc`, and any other system the last segment of its URI
(lower-cased, at most 15 characters) plus the first 8 hex digits of the SHA-256 of the URI, so
ids stay stable, unique and within FHIR's 64 characters. `version` counts the mapping versions
ever written to the map (it only grows), `date` is the newest of them.

An uploaded ConceptMap is split into curated mapping versions whose origin is
`import:conceptmap:{url}|{version}`; its own url then also names "the mappings that import still
decides" for `$translate?url=`.
"""
from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, func, select

from mappings.curated import (
    CuratedMapping,
    Decision,
    Relationship,
    current_mappings,
    mapping_groups,
)
from mappings.exchange_conceptmap import R4_EQUIVALENCE, RELATIONSHIP_OF_EQUIVALENCE
from mappings.tables import mapping_versions
from terminology.systems import NDC, RXNORM, SNOMED, canonical_system

from .outcome import OutcomeError

__all__ = [
    "CANONICAL_BASE",
    "MapKey",
    "MapTarget",
    "MapElement",
    "Selection",
    "map_id",
    "map_keys",
    "key_for_id",
    "mappings_of",
    "select_map",
    "import_origin",
    "imported_from",
    "imported_keys",
    "elements_of",
    "R4_EQUIVALENCE",
    "equivalence_of",
    "strip_version",
    "map_history",
]

CANONICAL_BASE = "https://termmap.dev/fhir/ConceptMap/"
_SHORT = {SNOMED: "snomed", RXNORM: "rxnorm", NDC: "ndc"}

#: The R4 equivalence tables are the exchange module's: one place, so upload, export and $translate agree.
_FROM_R4 = RELATIONSHIP_OF_EQUIVALENCE


def equivalence_of(relationship: Relationship, *, has_concept: bool = True) -> str:
    """The R4 equivalence code for one of our relationships."""
    if relationship is Relationship.NOT_RELATED and not has_concept:
        return "unmatched"
    return R4_EQUIVALENCE[relationship]


def strip_version(canonical: str) -> str:
    """A canonical without its `|version`."""
    return canonical.split("|", 1)[0]


@dataclass(frozen=True, slots=True, order=True)
class MapKey:
    """What one served ConceptMap holds: mappings from `source` to `target` in `context`."""

    source: str
    target: str
    context: str

    @property
    def id(self) -> str:
        return map_id(self)

    @property
    def url(self) -> str:
        return CANONICAL_BASE + self.id


def _system_slug(system: str) -> str:
    if system in _SHORT:
        return _SHORT[system]
    tail = re.sub(r"[^a-z0-9]+", "-", system.rstrip("/").rsplit("/", 1)[-1].lower()).strip("-")[:15].strip("-")
    return f"{tail or 'system'}-{hashlib.sha256(system.encode()).hexdigest()[:8]}"


def map_id(key: MapKey) -> str:
    """The ConceptMap id of `key` (see the module docstring)."""
    return f"{key.context}-{_system_slug(key.source)}-to-{_system_slug(key.target)}"


def map_keys(connection: Connection) -> list[MapKey]:
    """Every map that has at least one mapping version (current or not)."""
    return sorted(MapKey(source, target, context) for source, target, context in mapping_groups(connection))


def key_for_id(connection: Connection, id_: str) -> MapKey | None:
    return next((key for key in map_keys(connection) if key.id == id_), None)


def mappings_of(connection: Connection, key: MapKey, *, origin_prefix: str | None = None) -> list[CuratedMapping]:
    """The current mappings `key` holds (retired ones left out); only one import's when `origin_prefix` is given."""
    found = current_mappings(connection, source_system=key.source, target_system=key.target, context=key.context)
    return [m for m in found if m.decision is not Decision.RETIRED
            and (origin_prefix is None or m.origin.startswith(origin_prefix))]


_IMPORT = "import:conceptmap:"


def import_origin(url: str, version: str | None) -> str:
    """The `origin` of mappings imported from ConceptMap `url|version`."""
    return f"{_IMPORT}{url}|{version or ''}"


def imported_from(origin: str) -> str | None:
    """The ConceptMap `url|version` (or `url`) an imported mapping's origin names; None for other origins."""
    return origin[len(_IMPORT):].rstrip("|") if origin.startswith(_IMPORT) else None


def imported_keys(connection: Connection, url: str) -> list[MapKey]:
    """The maps holding mappings once imported from ConceptMap `url` (any version)."""
    v = mapping_versions
    prefix = import_origin(url, None)
    rows = connection.execute(
        select(v.c.source_system, v.c.target_system, v.c.context)
        .where(v.c.origin.startswith(prefix, autoescape=True))
        .distinct()
    )
    return sorted(MapKey(*row) for row in rows)


@dataclass(frozen=True, slots=True)
class Selection:
    """The stored maps a `$translate?url=` names: keys, and (for an imported url) the origin they must still have."""

    url: str
    keys: tuple[MapKey, ...]
    origin_prefix: str | None = None


def select_map(connection: Connection, url: str) -> Selection:
    """The stored map(s) `url` names: one of ours, or an imported ConceptMap's url; 404 otherwise."""
    bare = strip_version(url)
    if bare.startswith(CANONICAL_BASE):
        key = key_for_id(connection, bare[len(CANONICAL_BASE):])
        if key is not None:
            return Selection(bare, (key,))
    keys = imported_keys(connection, bare)
    if keys:
        return Selection(bare, tuple(keys), import_origin(bare, None))
    raise OutcomeError(404, "not-found", f"no ConceptMap with url {bare!r}: termmap serves its curated mappings at "
                       f"{CANONICAL_BASE}{{id}} (see GET ConceptMap), and knows the urls of ConceptMaps it imported")


# --- ConceptMaps read in (uploaded, or inline in a $translate request) ---------------------------------------


@dataclass(frozen=True, slots=True)
class MapTarget:
    code: str | None
    display: str | None
    relationship: Relationship
    comment: str | None = None


@dataclass(frozen=True, slots=True)
class MapElement:
    """One source code of a ConceptMap with its targets (`no_map`: the map says it has none)."""

    source_system: str
    source_code: str | None
    source_display: str | None
    target_system: str | None
    targets: tuple[MapTarget, ...]
    no_map: bool = False


def _system_of(value: Any) -> str | None:
    return canonical_system(strip_version(str(value))) if value else None


def elements_of(conceptmap: Any) -> list[MapElement]:
    """The elements of an R4 (R4B model) or R5 ConceptMap, with R4 equivalences read as R5 relationships."""
    found = []
    for group in conceptmap.group or []:
        source, target = _system_of(group.source), _system_of(group.target)
        for element in group.element or []:
            targets = tuple(_target(t) for t in element.target or [])
            real = tuple(t for t in targets if t.code)
            no_map = bool(getattr(element, "noMap", None)) or (
                not real and any(t.relationship is Relationship.NOT_RELATED for t in targets))
            found.append(MapElement(source or "", element.code, element.display, target, real, no_map))
    return found


def _target(target: Any) -> MapTarget:
    relationship = getattr(target, "relationship", None)
    if relationship is None:
        equivalence = getattr(target, "equivalence", None) or "equivalent"
        chosen = _FROM_R4.get(equivalence)
        if chosen is None:
            raise OutcomeError(422, "invalid", f"ConceptMap equivalence {equivalence!r} is not an R4 equivalence code")
    else:
        try:
            chosen = Relationship(relationship)
        except ValueError:
            raise OutcomeError(422, "invalid", f"ConceptMap relationship {relationship!r} is not an R5 "
                               "relationship code") from None
    return MapTarget(target.code, target.display, chosen, target.comment)


def map_history(connection: Connection, key: MapKey) -> tuple[int, Any]:
    """(how many mapping versions were ever written to `key`, when the newest was)."""
    v = mapping_versions
    count, newest = connection.execute(
        select(func.count(), func.max(v.c.created_at)).where(
            v.c.source_system == key.source, v.c.target_system == key.target, v.c.context == key.context)
    ).one()
    return count, newest
