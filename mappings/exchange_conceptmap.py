"""Curated mappings as a FHIR R4 ConceptMap (fhir.resources R4B models), and a ConceptMap back as curated mappings.

**Export**: the current curated mappings of one (source system, target system, context) —
`mapped` and `no-map`; `retired` ones are left out, a ConceptMap states what holds — as one
ConceptMap with one group:

    element.code         the source code; a text-only mapping has no code, its normalised text is `display`
    element.target       one per target: code, display, equivalence, and a comment naming the
                         mapping, version, author and origin
    equivalence          from the R5 relationship (`R4_EQUIVALENCE`): equivalent -> equivalent,
                         source-is-narrower-than-target -> wider, source-is-broader-than-target -> narrower,
                         related-to -> relatedto, not-related-to -> disjoint
    no-map               one target with equivalence `unmatched` and no code
    context              extension `CONTEXT_EXTENSION` (valueCode allergy | medication): FHIR has no
                         element for it

**Import**: an R4 (`equivalence`) or R5 (`relationship`, `noMap`) ConceptMap — every group and
element — is read as rows of the spreadsheet import (`exchange_table`) and planned and applied
the same way: keyed by source code (or, without a code, the element's display as text), unchanged
mappings left alone, invalid rows named by their path (`group[0].element[3].target[1]`), nothing
written when any is invalid unless `skip_invalid`. R4 equivalences are read back as R5 relationships
(`RELATIONSHIP_OF_EQUIVALENCE`: also equal, subsumes, specializes, inexact); an element whose only
targets have no code and equivalence `unmatched` or `disjoint`, or R5 `noMap`, is a `no-map`. The
context is the one given, else the extension's; a map with neither is refused.
"""
from __future__ import annotations

import logging
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

import orjson
from pydantic import ValidationError
from sqlalchemy import Connection

from terminology.systems import canonical_system

from .curated import CuratedMapping, Decision, Relationship, current_mappings
from .exchange_table import Sheet, SheetRow, Where
from .translation import Context

__all__ = [
    "CONTEXT_EXTENSION",
    "expressible",
    "fhir_display",
    "left_out_note",
    "R4_EQUIVALENCE",
    "RELATIONSHIP_OF_EQUIVALENCE",
    "ReadConceptMap",
    "conceptmap_of",
    "export_conceptmap",
    "read_conceptmap",
]

CONTEXT_EXTENSION = "https://termmap.dev/fhir/StructureDefinition/mapping-context"

#: Our (R5) relationship -> R4 equivalence (`not-related-to` without a code is `unmatched`: see no-map).
R4_EQUIVALENCE = {
    Relationship.EQUIVALENT: "equivalent",
    Relationship.SOURCE_NARROWER: "wider",
    Relationship.SOURCE_BROADER: "narrower",
    Relationship.RELATED: "relatedto",
    Relationship.NOT_RELATED: "disjoint",
}
#: R4 equivalence -> our relationship, for every R4 code that has a target.
RELATIONSHIP_OF_EQUIVALENCE = {
    "equivalent": Relationship.EQUIVALENT,
    "equal": Relationship.EQUIVALENT,
    "wider": Relationship.SOURCE_NARROWER,
    "subsumes": Relationship.SOURCE_NARROWER,
    "narrower": Relationship.SOURCE_BROADER,
    "specializes": Relationship.SOURCE_BROADER,
    "relatedto": Relationship.RELATED,
    "inexact": Relationship.RELATED,
    "unmatched": Relationship.NOT_RELATED,
    "disjoint": Relationship.NOT_RELATED,
}
_NO_TARGET = frozenset({"unmatched", "disjoint"})
_FILE = "ConceptMap"  # where a problem with the resource as a whole is reported
#: A FHIR `code`: no leading, trailing or repeated whitespace (the codes a ConceptMap holds must match it).
_FHIR_CODE = re.compile(r"[^\s]+(\s[^\s]+)*")

logger = logging.getLogger(__name__)


def expressible(mapping: CuratedMapping) -> bool:
    """Whether a ConceptMap can state `mapping`: its source and target codes are valid FHIR codes.

    Codes are opaque to termmap (a sender's `A  B` is its own code, kept as sent), but FHIR's `code`
    type cannot hold repeated whitespace; such mappings are left out of ConceptMaps, and said to be
    (`left_out_note`). The CSV and XLSX exports hold every mapping.
    """
    codes = ([mapping.source_code] if mapping.source_code else []) + [t.code for t in mapping.targets]
    return all(_FHIR_CODE.fullmatch(code) for code in codes)


def left_out_note(mappings: Sequence[CuratedMapping]) -> str:
    """The sentence a ConceptMap's description ends with when `mappings` could not be stated in it ("" for none)."""
    if not mappings:
        return ""
    logger.warning("ConceptMap: %d mapping(s) left out, their codes are not FHIR codes: %s", len(mappings),
                   ", ".join(m.mapping_id for m in mappings[:10]))
    return (f" {len(mappings)} mapping(s) whose codes a FHIR code cannot hold (leading, trailing or repeated "
            "whitespace) are left out: the CSV export holds them.")


def fhir_display(value: str | None) -> str | None:
    """A display as a FHIR string may hold it: one with no visible text is no display."""
    return value if value and value.strip() else None


def _datetime(value: datetime) -> str:
    return (value if value.tzinfo else value.replace(tzinfo=timezone.utc)).isoformat(timespec="seconds")


def _comment(mapping: CuratedMapping) -> str:
    return (f"curated mapping {mapping.mapping_id} v{mapping.version} by {mapping.author} "
            f"on {mapping.created_at:%Y-%m-%d} ({mapping.origin})")


def _element(mapping: CuratedMapping) -> dict[str, Any]:
    element: dict[str, Any] = {"code": mapping.source_code} if mapping.source_code else {
        "display": mapping.source_text_norm}
    comment = _comment(mapping)
    if mapping.decision is Decision.NO_MAP:
        element["target"] = [{"equivalence": "unmatched", "comment": comment}]
        return element
    element["target"] = [
        {"code": t.code, **({"display": t.display} if fhir_display(t.display) else {}),
         "equivalence": R4_EQUIVALENCE[Relationship(t.relationship)], "comment": comment}
        for t in mapping.targets
    ]
    return element


def conceptmap_of(
    mappings: Sequence[CuratedMapping],
    *,
    source_system: str,
    target_system: str,
    context: str,
    url: str | None = None,
    id: str | None = None,  # noqa: A002 - FHIR's name
    version: str | None = None,
    date: datetime | None = None,
) -> dict[str, Any]:
    """The R4 ConceptMap (as JSON) of `mappings` from `source_system` to `target_system` in `context`.

    Mappings of another group, and retired ones, are left out; `date` defaults to the newest mapping's.
    """
    held = [m for m in mappings if m.decision is not Decision.RETIRED and (m.source_system, m.target_system,
                                                                           m.context) == (source_system, target_system, context)]
    left_out = [m for m in held if not expressible(m)]
    held = [m for m in held if expressible(m)]
    newest = date or max((m.created_at for m in held), default=None)
    resource: dict[str, Any] = {
        "resourceType": "ConceptMap",
        **({"id": id} if id else {}),
        "extension": [{"url": CONTEXT_EXTENSION, "valueCode": context}],
        **({"url": url} if url else {}),
        **({"version": version} if version else {}),
        "name": "TermmapCuratedMappings",
        "title": f"termmap curated {context} mappings from {source_system} to {target_system}",
        "status": "active",
        "experimental": False,
        **({"date": _datetime(newest)} if newest else {}),
        "publisher": "termmap",
        "description": (f"Pharmacist-curated {context} mappings, newest version of each; retired mappings are left "
                        "out. Each target's comment names the mapping, version, author and origin."
                        + left_out_note(left_out)),
    }
    if held:
        group = {"source": source_system} if source_system else {}  # text from senders that named no system
        resource["group"] = [{**group, "target": target_system, "element": [_element(m) for m in held]}]
    return resource


def export_conceptmap(
    connection: Connection,
    *,
    source_system: str,
    target_system: str,
    context: str,
    url: str | None = None,
    id: str | None = None,  # noqa: A002
    version: str | None = None,
    date: datetime | None = None,
) -> dict[str, Any]:
    """The R4 ConceptMap of the current curated mappings of one (source system, target system, context)."""
    source, target = canonical_system(source_system), canonical_system(target_system)
    mappings = current_mappings(connection, source_system=source, target_system=target, context=context)
    return conceptmap_of(mappings, source_system=source, target_system=target, context=context, url=url, id=id,
                         version=version, date=date)


# --- import -----------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ReadConceptMap:
    """A ConceptMap read as import rows, with what names it (for the origin of what it writes)."""

    sheet: Sheet
    url: str | None = None
    version: str | None = None
    title: str | None = None


def _refused(problem: str) -> ReadConceptMap:
    return ReadConceptMap(Sheet((), ((_FILE, problem),)))


def _is_r5(resource: dict[str, Any]) -> bool:
    for group in resource.get("group") or []:
        for element in (group or {}).get("element") or []:
            if "noMap" in (element or {}) or any("relationship" in (t or {}) for t in (element or {}).get("target") or []):
                return True
    return False


def _model(resource: dict[str, Any]):
    if _is_r5(resource):
        from fhir.resources.conceptmap import ConceptMap
    else:
        from fhir.resources.R4B.conceptmap import ConceptMap
    return ConceptMap.model_validate(resource)


def _bare(system: Any) -> str:
    """A group's system, canonical, without a `|version`."""
    return canonical_system(str(system).split("|", 1)[0]) if system else ""


def _context(resource: dict[str, Any], given: str | None) -> tuple[str | None, str | None]:
    """(context, problem)."""
    valid = {c.value for c in Context}
    if given:
        return (given, None) if given in valid else (None, f"context must be one of {', '.join(sorted(valid))}, "
                                                                 f"not {given!r}")
    stated = [e.get("valueCode") for e in resource.get("extension") or [] if (e or {}).get("url") == CONTEXT_EXTENSION]
    if stated and stated[0] in valid:
        return stated[0], None
    return None, ("the ConceptMap does not say its context: give context=allergy or context=medication "
                  f"(termmap's own exports carry it in extension {CONTEXT_EXTENSION})")


def _rows(model: Any, context: str) -> list[SheetRow]:
    rows: list[SheetRow] = []
    for g, group in enumerate(model.group or []):
        source, target_system = _bare(group.source), _bare(group.target)
        for e, element in enumerate(group.element or []):
            where: Where = f"group[{g}].element[{e}]"
            base = {"source_system": source, "source_code": element.code or "", "source_text": element.display or "",
                    "context": context, "target_system": target_system, "target_code": "", "target_display": "",
                    "relationship": ""}
            problems: list[str] = []  # a missing group source or target is refused as in a spreadsheet row
            targets = list(element.target or [])
            coded = [(t, target) for t, target in enumerate(targets) if target.code]
            if coded:
                for t, target in coded:
                    relationship, problem = _relationship_of(target)
                    cells = {**base, "decision": "mapped", "target_code": target.code,
                             "target_display": target.display or "", "relationship": relationship}
                    rows.append(SheetRow(f"{where}.target[{t}]", cells, tuple(problems + ([problem] if problem else []))))
                continue
            no_map = bool(getattr(element, "noMap", None)) or any(
                (getattr(target, "equivalence", None) in _NO_TARGET
                 or getattr(target, "relationship", None) == Relationship.NOT_RELATED.value) for target in targets)
            if not no_map:
                problems.append("has no target with a code: give targets, or noMap (R5) / a target with equivalence "
                                "unmatched (R4)")
            rows.append(SheetRow(where, {**base, "decision": "no-map"}, tuple(problems)))
    return rows


def _relationship_of(target: Any) -> tuple[str, str | None]:
    """(R5 relationship code, problem) of one target."""
    relationship = getattr(target, "relationship", None)
    if relationship is not None:
        return str(relationship), None  # an unknown code is refused as in a spreadsheet row
    equivalence = getattr(target, "equivalence", None) or "equivalent"
    chosen = RELATIONSHIP_OF_EQUIVALENCE.get(equivalence)
    if chosen is None:
        return "", f"equivalence {equivalence!r} is not an R4 ConceptMap equivalence code"
    return chosen.value, None


def read_conceptmap(data: bytes | dict[str, Any], *, context: str | None = None) -> ReadConceptMap:
    """A ConceptMap (JSON bytes or parsed) as import rows, one per target; problems name the resource or path."""
    if isinstance(data, bytes | bytearray):
        try:
            resource = orjson.loads(data)
        except orjson.JSONDecodeError as exc:
            return _refused(f"not JSON: {exc}")
    else:
        resource = data
    if not isinstance(resource, dict) or resource.get("resourceType") != "ConceptMap":
        kind = resource.get("resourceType") if isinstance(resource, dict) else type(resource).__name__
        return _refused(f"expected a FHIR ConceptMap resource, not {kind!r}")
    chosen, problem = _context(resource, context)
    if problem:
        return _refused(problem)
    try:
        model = _model(resource)
    except ValidationError as exc:
        details = "; ".join(f"{'.'.join(str(p) for p in error['loc'])}: {error['msg']}" for error in exc.errors()[:5])
        return _refused(f"not a valid ConceptMap: {details}")
    rows = _rows(model, chosen)
    if not rows:
        return ReadConceptMap(Sheet((), ((_FILE, "the ConceptMap has no group elements: nothing to import"),)))
    return ReadConceptMap(Sheet(tuple(rows)), resource.get("url"), resource.get("version"),
                          resource.get("title") or resource.get("name"))
