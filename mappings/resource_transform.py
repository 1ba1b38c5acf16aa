"""Target codings appended to FHIR resources held as plain JSON dicts; nothing else in them changes.

Where termmap looks (each a CodeableConcept, translated in its context):

    AllergyIntolerance                    code, reaction[].substance                     allergy
    MedicationStatement / -Request /      medicationCodeableConcept (R4),                 medication
      -Administration / -Dispense         medication.concept (R5 CodeableReference)
    Medication                            code, ingredient[].itemCodeableConcept (R4),    medication
                                          ingredient[].item.concept (R5)

Resources of these types inside `contained` are looked at too; a Bundle's entries are walked
(nested Bundles included) and every other entry passes through untouched.

What may be added, and nothing else:

    CodeableConcept.coding[]     one coding per match, after the originals, each carrying a
                                 `mapping-provenance` extension (rule, relationship, validated,
                                 release, curated mapping id and version)
    CodeableConcept.extension[]  `review-entry` (valueString: the review-queue entry id) when the
                                 answer is unmapped or unvalidated and an entry was counted
    Resource.meta.tag[]          termmap `unvalidated`, once per resource (the entry's resource,
                                 or the resource that holds a contained one)

Decisions a clinician would check:

* One coding per CodeableConcept is translated: the first coding with a code whose system
  termmap has an active release for (an NDC counts when RxNorm is loaded), else the first
  coding with a code; its `text` goes with it. Trying every coding would count one clinical
  statement several times in the review queue; the untried codings stay in the resource.
* A CodeableConcept that already holds a coding in the target system is left as it is (the
  sender has already said what it means there), even where termmap would say more.
* A match equal (system and code) to a coding already present is not appended twice, nor is
  a tag or extension that is already there: transforming an output again adds nothing.
* A CodeableConcept with neither a code, a text nor a display has nothing to translate and is
  left as it is.

The caller owns the transaction: review-queue counts are written on `connection` and roll
back with it. The whole document is checked before anything is translated, and its concepts are
translated in the review queue's lock order (`mappings.engine.queue_order`), then written back in
document order: two documents sharing codes in opposite orders do not deadlock.
"""
from __future__ import annotations

import enum
import logging
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Connection

from terminology.errors import InvalidRequest, UnknownTargetSystem
from terminology.releases import active_release_ids
from terminology.systems import NDC, RXNORM, SNOMED, TERMMAP, canonical_system

from .engine import queue_order, translate
from .translation import (
    Context,
    Match,
    SourceCoding,
    Status,
    TranslateRequest,
    Translation,
)

__all__ = [
    "PROVENANCE_URL",
    "REVIEW_ENTRY_URL",
    "UNVALIDATED_TAG",
    "SUPPORTED_TYPES",
    "Outcome",
    "TransformReport",
    "transform",
    "check_document",
    "choose_source",
]

logger = logging.getLogger(__name__)

PROVENANCE_URL = "https://termmap.dev/fhir/StructureDefinition/mapping-provenance"
REVIEW_ENTRY_URL = "https://termmap.dev/fhir/StructureDefinition/review-entry"
UNVALIDATED_TAG = {"system": TERMMAP, "code": "unvalidated", "display": "termmap could not validate a mapping"}

_MEDICATION = ((("medicationCodeableConcept",), Context.MEDICATION), (("medication", "concept"), Context.MEDICATION))
#: resourceType -> the paths of its CodeableConcepts ("*" = every element of a list) and their context.
_CONCEPTS: dict[str, tuple[tuple[tuple[str, ...], Context], ...]] = {
    "AllergyIntolerance": ((("code",), Context.ALLERGY), (("reaction", "*", "substance"), Context.ALLERGY)),
    "MedicationStatement": _MEDICATION,
    "MedicationRequest": _MEDICATION,
    "MedicationAdministration": _MEDICATION,
    "MedicationDispense": _MEDICATION,
    "Medication": (
        (("code",), Context.MEDICATION),
        (("ingredient", "*", "itemCodeableConcept"), Context.MEDICATION),
        (("ingredient", "*", "item", "concept"), Context.MEDICATION),
    ),
}
SUPPORTED_TYPES = frozenset(_CONCEPTS)
_MAX_BUNDLE_DEPTH = 8


class Outcome(str, enum.Enum):
    """What happened to one CodeableConcept."""

    MAPPED = "mapped"  # validated target codings appended
    UNVALIDATED = "unvalidated"  # unvalidated target codings appended; review entry + tag
    UNMAPPED = "unmapped"  # nothing appended; review entry (if one was counted) + tag
    ALREADY_CODED = "already-coded"  # already held a coding in the target system: untouched
    SKIPPED = "skipped"  # neither code, text nor display: untouched


@dataclass
class TransformReport:
    """Counts per outcome, and the review entries the unmapped and unvalidated concepts were counted on."""

    counts: dict[Outcome, int] = field(default_factory=lambda: {outcome: 0 for outcome in Outcome})
    review_entries: list[str] = field(default_factory=list)
    resources: int = 0  # resources of a supported type that were looked at

    def count(self, outcome: Outcome) -> None:
        self.counts[outcome] += 1


def check_document(document: Any) -> str:
    """The document's resourceType, if termmap can transform it; `InvalidRequest` saying why not otherwise."""
    if not isinstance(document, dict):
        raise InvalidRequest("the body is not a FHIR resource: a JSON object with a resourceType is needed")
    kind = document.get("resourceType")
    if not isinstance(kind, str) or not kind:
        raise InvalidRequest("the body is not a FHIR resource: it has no resourceType")
    if kind != "Bundle" and kind not in SUPPORTED_TYPES:
        raise InvalidRequest(
            f"resourceType {kind!r} is not transformed: send one of {', '.join(sorted(SUPPORTED_TYPES))}, "
            "or a Bundle holding them"
        )
    return kind


def transform(
    connection: Connection,
    document: dict[str, Any],
    target_system: str,
    sender: str | None = None,
    *,
    observe: Callable[[Translation, Context], None] | None = None,
) -> TransformReport:
    """Append target codings to `document` (a resource or Bundle) in place; returns what was done.

    `observe` is called with every translation (for metrics). Raises `InvalidRequest` naming
    the path of anything malformed where termmap would write, and `UnknownTargetSystem`.
    """
    check_document(document)
    if not target_system or not target_system.strip():
        raise InvalidRequest("target_system is required")
    loaded = set(active_release_ids(connection))
    target = canonical_system(target_system)
    if target not in loaded and target != SNOMED:  # as the engine: SNOMED CT answers negations without a release
        raise UnknownTargetSystem(target_system)
    if RXNORM in loaded:
        loaded.add(NDC)
    job = _Job(connection, target_system, target, sender, frozenset(loaded), observe, TransformReport())
    job.document(document, "", 0)  # finds and checks every concept, translating none yet
    job.translate_all()
    job.apply()
    logger.debug("transform: %d resources, %s", job.report.resources,
                ", ".join(f"{o.value} {n}" for o, n in job.report.counts.items()))
    return job.report


def choose_source(concept: dict[str, Any], loaded: frozenset[str]) -> SourceCoding | None:
    """The coding to translate: the first coded one of a loaded system, else the first coded one, else None."""
    coded = [c for c in concept.get("coding") or () if _text(c.get("code"))]
    for coding in coded:
        if _text(coding.get("system")) and canonical_system(coding["system"]) in loaded:
            return _source(coding)
    if coded:
        return _source(coded[0])
    return None


def _source(coding: dict[str, Any]) -> SourceCoding:
    return SourceCoding(coding.get("system"), coding.get("code"), coding.get("display"))


def _text(value: Any) -> bool:
    return isinstance(value, str) and bool(value.strip())


@dataclass
class _Concept:
    """One CodeableConcept found in a document: its checked codings and the request that translates it."""

    concept: dict[str, Any]
    codings: list[dict[str, Any]]
    request: TranslateRequest | None  # None: nothing to translate, for `outcome`'s reason
    outcome: Outcome | None = None  # ALREADY_CODED or SKIPPED when there is no request
    answer: Translation | None = None


@dataclass
class _Job:
    connection: Connection
    target_system: str
    target: str
    sender: str | None
    loaded: frozenset[str]
    observe: Callable[[Translation, Context], None] | None
    report: TransformReport
    #: (resource, its path, its concepts and its contained resources'), in document order
    planned: list[tuple[dict[str, Any], str, list[_Concept]]] = field(default_factory=list)

    def document(self, document: dict[str, Any], path: str, depth: int) -> None:
        if document.get("resourceType") == "Bundle":
            self.bundle(document, path, depth)
        elif document.get("resourceType") in SUPPORTED_TYPES:
            self.resource(document, path)

    def bundle(self, bundle: dict[str, Any], path: str, depth: int) -> None:
        if depth >= _MAX_BUNDLE_DEPTH:
            raise InvalidRequest(f"{path or 'Bundle'}: Bundles nested more than {_MAX_BUNDLE_DEPTH} deep")
        entries = bundle.get("entry")
        if entries is None:
            return
        if not isinstance(entries, list):
            raise InvalidRequest(f"{_join(path, 'entry')}: a list of entries is needed")
        for index, entry in enumerate(entries):
            where = _join(path, f"entry[{index}]")
            if not isinstance(entry, dict):
                raise InvalidRequest(f"{where}: a Bundle entry must be a JSON object")
            resource = entry.get("resource")
            if resource is None:
                continue
            if not isinstance(resource, dict) or not isinstance(resource.get("resourceType"), str):
                raise InvalidRequest(f"{where}.resource: not a FHIR resource (no resourceType)")
            self.document(resource, f"{where}.resource", depth + 1)

    def resource(self, resource: dict[str, Any], path: str) -> None:
        """Plan the resource's concepts (and its contained resources'): what each will be translated with."""
        self.report.resources += 1
        planned = [self.plan(concept, where, context) for concept, where, context in self._concepts(resource, path)]
        contained = resource.get("contained")
        if contained is not None:
            if not isinstance(contained, list):
                raise InvalidRequest(f"{_join(path, 'contained')}: a list of resources is needed")
            for index, inner in enumerate(contained):
                where = _join(path, f"contained[{index}]")
                if not isinstance(inner, dict):
                    raise InvalidRequest(f"{where}: a contained resource must be a JSON object")
                if inner.get("resourceType") not in SUPPORTED_TYPES:
                    continue
                planned.extend(self.plan(concept, at, context) for concept, at, context in self._concepts(inner, where))
        self.planned.append((resource, path, planned))

    def _concepts(self, resource: dict[str, Any], path: str) -> Iterator[tuple[dict[str, Any], str, Context]]:
        for steps, context in _CONCEPTS[resource["resourceType"]]:
            for concept, where in _follow(resource, steps, path):
                yield concept, where, context

    def plan(self, concept: dict[str, Any], path: str, context: Context) -> _Concept:
        """One CodeableConcept, checked, with the request that will translate it (or why there is none)."""
        codings = _check_concept(concept, path)
        if any(_text(c.get("code")) and _text(c.get("system")) and canonical_system(c["system"]) == self.target
               for c in codings):
            return _Concept(concept, codings, None, Outcome.ALREADY_CODED)
        source = choose_source(concept, self.loaded)
        text = concept.get("text")
        if source is None:
            displays = [c for c in codings if _text(c.get("display"))]
            source = SourceCoding(displays[0].get("system"), None, displays[0]["display"]) if displays else None
        if source is None and not _text(text):
            return _Concept(concept, codings, None, Outcome.SKIPPED)
        request = TranslateRequest(source or SourceCoding(), text, self.target_system, context, self.sender)
        return _Concept(concept, codings, request)

    def translate_all(self) -> None:
        """Translate every planned concept in the review queue's lock order (`mappings.engine.queue_order`), so
        that two documents sharing codes in opposite orders wait for each other instead of deadlocking."""
        requested = [one for _, _, planned in self.planned for one in planned if one.request is not None]
        for one in sorted(requested, key=lambda p: queue_order(p.request)):
            one.answer = translate(self.connection, one.request)
            if self.observe is not None:
                self.observe(one.answer, one.request.context)

    def apply(self) -> None:
        """Append what each answer allows, in document order; tag a resource once if any concept is not mapped."""
        for resource, path, planned in self.planned:
            outcomes = [self.concept(one) for one in planned]
            if any(outcome in (Outcome.UNVALIDATED, Outcome.UNMAPPED) for outcome in outcomes):
                _add_tag(resource, path)

    def concept(self, planned: _Concept) -> Outcome:
        """Append what one CodeableConcept's answer allows; its outcome."""
        result = planned.answer
        if result is None:
            self.report.count(planned.outcome)
            return planned.outcome
        concept, codings = planned.concept, planned.codings
        present = {(canonical_system(c.get("system") or ""), c.get("code")) for c in codings}
        appended = [m for m in result.matches if (m.system, m.code) not in present]
        if appended:
            concept.setdefault("coding", []).extend(_coding(m) for m in appended)
        if result.status is Status.MAPPED:
            self.report.count(Outcome.MAPPED)
            return Outcome.MAPPED
        if result.review is not None:
            _add_once(concept, "extension", {"url": REVIEW_ENTRY_URL, "valueString": result.review.id})
            self.report.review_entries.append(result.review.id)
        outcome = Outcome.UNVALIDATED if result.status is Status.UNVALIDATED else Outcome.UNMAPPED
        self.report.count(outcome)
        return outcome


def _follow(node: Any, steps: tuple[str, ...], path: str) -> Iterator[tuple[dict[str, Any], str]]:
    """The objects at `steps` below `node` ("*" walks a list); a present value of the wrong shape is an error."""
    if not steps:
        if not isinstance(node, dict):
            raise InvalidRequest(f"{path}: a CodeableConcept must be a JSON object")
        yield node, path
        return
    step, rest = steps[0], steps[1:]
    if step == "*":
        if not isinstance(node, list):
            raise InvalidRequest(f"{path}: a list is needed")
        for index, item in enumerate(node):
            yield from _follow(item, rest, f"{path}[{index}]")
        return
    if not isinstance(node, dict):
        raise InvalidRequest(f"{path}: a JSON object is needed")
    if step in node:
        yield from _follow(node[step], rest, _join(path, step))


def _check_concept(concept: dict[str, Any], path: str) -> list[dict[str, Any]]:
    """The concept's codings, after checking every field termmap reads or writes has its FHIR JSON type."""
    codings = concept.get("coding", [])
    if not isinstance(codings, list):
        raise InvalidRequest(f"{_join(path, 'coding')}: a list of codings is needed")
    for index, coding in enumerate(codings):
        where = _join(path, f"coding[{index}]")
        if not isinstance(coding, dict):
            raise InvalidRequest(f"{where}: a Coding must be a JSON object")
        for name in ("system", "code", "display"):
            if name in coding and not isinstance(coding[name], str):
                raise InvalidRequest(f"{where}.{name}: a string is needed")
    if "text" in concept and not isinstance(concept["text"], str):
        raise InvalidRequest(f"{_join(path, 'text')}: a string is needed")
    if "extension" in concept and not isinstance(concept["extension"], list):
        raise InvalidRequest(f"{_join(path, 'extension')}: a list of extensions is needed")
    return codings


def _coding(match: Match) -> dict[str, Any]:
    """A target coding with its provenance (FHIR JSON order: extension, system, code, display)."""
    provenance: list[dict[str, Any]] = [
        {"url": "rule", "valueCode": match.rule.value},
        {"url": "relationship", "valueCode": match.relationship.value},
        {"url": "validated", "valueBoolean": match.validated},
    ]
    if match.release:
        provenance.append({"url": "release", "valueString": match.release})
    if match.mapping is not None:
        provenance.append({"url": "mapping", "valueString": match.mapping[0]})
        provenance.append({"url": "mappingVersion", "valueInteger": match.mapping[1]})
    coding: dict[str, Any] = {
        "extension": [{"url": PROVENANCE_URL, "extension": provenance}],
        "system": match.system,
        "code": match.code,
    }
    if match.display:
        coding["display"] = match.display
    return coding


def _add_tag(resource: dict[str, Any], path: str) -> None:
    meta = resource.get("meta")
    if meta is None:
        resource["meta"] = {"tag": [dict(UNVALIDATED_TAG)]}
        return
    if not isinstance(meta, dict):
        raise InvalidRequest(f"{_join(path, 'meta')}: a JSON object is needed")
    tags = meta.get("tag")
    if tags is None:
        meta["tag"] = [dict(UNVALIDATED_TAG)]
        return
    if not isinstance(tags, list):
        raise InvalidRequest(f"{_join(path, 'meta.tag')}: a list of codings is needed")
    if not any(isinstance(t, dict) and t.get("system") == TERMMAP and t.get("code") == "unvalidated" for t in tags):
        tags.append(dict(UNVALIDATED_TAG))


def _add_once(holder: dict[str, Any], key: str, item: dict[str, Any]) -> None:
    items = holder.get(key)
    if items is None:
        holder[key] = [item]
    elif item not in items:
        items.append(item)


def _join(path: str, step: str) -> str:
    return f"{path}.{step}" if path else step
