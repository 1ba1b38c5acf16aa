"""ConceptMap/$translate (R4 and R5, GET and POST): termmap's translation engine behind FHIR's operation.

In-parameters
    R4  code + system (+ version), coding or codeableConcept (one of them); targetsystem (also
        targetSystem) or target (only the implicit `{system}?fhir_vs` value sets); url, conceptMap,
        conceptMapVersion (ignored); source (ignored: termmap chooses maps by system); reverse.
    R5  sourceCode + system (also sourceSystem; version / sourceVersion), sourceCoding or
        sourceCodeableConcept; or, to translate backwards, targetCode + targetSystem, targetCoding or
        targetCodeableConcept (then system / sourceSystem filters the answers); targetSystem or
        targetScope (`?fhir_vs` only); url, conceptMap, conceptMapVersion (ignored), sourceScope (ignored).
    Both, termmap's own:
        context   allergy | medication (default allergy): an allergy to a product is an allergy to its
                  ingredients, so the two contexts can answer differently
        sender    who sent the entry (counted on the review-queue entry)
        tx-resource  a ConceptMap used for this request only (not stored), as the HL7 terminology
                  test suite sends it; `conceptMap` does the same
    A codeableConcept's text is translated too (e.g. "NKDA"); with several codings, the first one the
    engine maps (validated) is answered, else the first.

Which knowledge answers
    an inline ConceptMap (tx-resource / conceptMap; the one whose url is `url`, if given)
    > the stored map `url` names (ours, or an imported ConceptMap's url; only its mappings answer)
    > the whole engine (curated, negation, historical, crosswalk, ingredient, local table, lexical).
    Backwards translation (R4 reverse=true, R5 target*) reads curated mappings and inline maps only.

Out-parameters
    result    true only for a validated answer: an engine `mapped` answer, a curated mapping, or a
              match in the caller's own inline map (its provenance says validated: false, since
              termmap did not validate it); never when every match is `not-related-to`.
              An unvalidated engine answer is `result: false` with its matches and a message.
    message   why result is false, or a hint
    match*    R4: equivalence (equivalent, wider, narrower, relatedto, disjoint; unmatched for a
              no-map), concept, source (uri of the map or rule). R5: relationship, concept, originMap.
              Backwards: concept is the given code, `source` the Coding it is mapped from.
              Each carries a part `termmap-provenance`: rule (code), release (string, `system|version`),
              mapping (string, `id|version` of the curated mapping), validated (boolean), step* (string).
              source / originMap: a curated mapping's map `https://termmap.dev/fhir/ConceptMap/{id}`;
              an imported one's ConceptMap `url|version`; other rules `https://termmap.dev/fhir/rules/{rule}`.
    termmap-original  (when result is false) the entry as received, a CodeableConcept: its codings and text
    termmap-review    (when queued) parts id (string), status (code: open | claimed | decided),
                      reason (code: unmapped | unvalidated), termmap-candidate* (parts concept (Coding),
                      score (decimal)): ranked suggestions for the reviewer, never matches.
"""
from __future__ import annotations

import logging
from contextlib import nullcontext
from dataclasses import dataclass, field, replace
from functools import partial
from typing import Any

from fastapi import APIRouter, Request, Response
from sqlalchemy import Connection, Engine
from starlette.concurrency import run_in_threadpool

from mappings.curated import (
    CuratedMapping,
    Decision,
    Relationship,
    current_mapping,
    find_current,
)
from mappings.engine import translate
from mappings.translation import (
    Context,
    SourceCoding,
    Status,
    TranslateRequest,
    Translation,
)
from terminology.systems import canonical_system

from ..auth import Permission
from ..idempotency import run_once
from ..metrics import PendingCounts
from .codesystem import check_version
from .maps import (
    CANONICAL_BASE,
    MapKey,
    Selection,
    elements_of,
    equivalence_of,
    imported_from,
    map_keys,
    mappings_of,
    select_map,
    strip_version,
)
from .outcome import OutcomeError
from .parameters import InParams, add_operation, parameters_response, read_params
from .versions import FHIR_JSON, FhirVersion

__all__ = ["add_translate_routes", "TranslateCall", "RULES_BASE"]

logger = logging.getLogger(__name__)

RULES_BASE = "https://termmap.dev/fhir/rules/"
_INLINE_RULE = "request-conceptmap"


@dataclass(frozen=True, slots=True)
class TranslateCall:
    """One $translate call, whatever the FHIR version."""

    codings: tuple[SourceCoding, ...]  # what to translate (backwards: the target-side code)
    text: str | None
    target_system: str | None  # forwards: the system sought; backwards: the source system sought (a filter)
    context: Context = Context.ALLERGY
    context_given: bool = False
    sender: str | None = None
    reverse: bool = False
    url: str | None = None
    inline: tuple[Any, ...] = ()  # ConceptMap models sent with the request
    version: str | None = None  # the source system version asked for


# --- reading the call --------------------------------------------------------------------------------------


#: What the review queue keeps of a source (its column sizes): longer is no real code, and is refused.
_LIMITS = {"code": 128, "system": 255, "sender": 255}


def _fits(value: str | None, what: str, name: str) -> str | None:
    if value is not None and len(value) > _LIMITS[what]:
        raise OutcomeError(422, "too-long", f"{name}: a {what} is at most {_LIMITS[what]} characters", expression=name)
    return value


def _coding(value: dict[str, Any], name: str) -> SourceCoding:
    coding = SourceCoding(_fits(value.get("system"), "system", name), _fits(value.get("code"), "code", name),
                          value.get("display"))
    if coding.code and not coding.system:
        raise OutcomeError(422, "required", f"{name}: code {coding.code!r} has no system", expression=name)
    if not coding.code and not coding.display:
        raise OutcomeError(422, "required", f"{name}: a Coding to translate needs a code (and system)",
                           expression=name)
    return coding


def _concept(value: dict[str, Any], name: str) -> tuple[tuple[SourceCoding, ...], str | None]:
    codings = tuple(_coding(c, f"{name}.coding") for c in value.get("coding") or [])
    text = value.get("text")
    if not codings and not (text and text.strip()):
        raise OutcomeError(422, "required", f"{name} has neither a coding nor text", expression=name)
    return codings, text


def _system_of_scope(scope: str, name: str) -> str:
    """The code system of an implicit all-codes value set (`{system}?fhir_vs`)."""
    if scope.endswith("?fhir_vs"):
        return scope[: -len("?fhir_vs")]
    raise OutcomeError(422, "not-supported", f"{name}: termmap translates into code systems, not value sets; name the "
                       f"system with targetsystem (or use the implicit value set '{{system}}?fhir_vs')",
                       expression=name)


def _input(params: InParams, code_name: str, system_names: tuple[str, ...], coding_name: str,
           concept_name: str) -> tuple[tuple[SourceCoding, ...], str | None, list[str]]:
    code = _fits(params.string(code_name, kind="code"), "code", code_name)
    system = _fits(params.string(*system_names, kind="uri"), "system", system_names[0])
    coding, concept = params.coding(coding_name), params.codeable_concept(concept_name)
    given = [n for n, v in ((code_name, code), (coding_name, coding), (concept_name, concept)) if v is not None]
    if len(given) > 1:
        raise OutcomeError(422, "business-rule", f"give one of {code_name} (with {system_names[0]}), {coding_name} or "
                           f"{concept_name}, not {' and '.join(given)}")
    if code is not None:
        if not system:
            raise OutcomeError(422, "required", f"{code_name} {code!r} needs its code system: give {system_names[0]}",
                               expression=code_name)
        return (SourceCoding(system, code, None),), None, given
    if coding is not None:
        return (_coding(coding, coding_name),), None, given
    if concept is not None:
        codings, text = _concept(concept, concept_name)
        return codings, text, given
    return (), None, given


def _common(params: InParams) -> dict[str, Any]:
    if params.has_any("dependency"):
        raise OutcomeError(422, "not-supported", "termmap's mappings have no dependencies: remove 'dependency'",
                           expression="dependency")
    context = params.string("context", kind="code")
    if context is not None and context not in {c.value for c in Context}:
        raise OutcomeError(422, "invalid", f"context must be one of {', '.join(c.value for c in Context)}, not "
                           f"{context!r}", expression="context")
    inline = tuple(r for r in params.resources("tx-resource", "conceptMap") if r.get_resource_type() == "ConceptMap")
    return {"context": Context(context or Context.ALLERGY.value), "context_given": context is not None,
            "sender": _fits(params.string("sender"), "sender", "sender"), "url": params.string("url", kind="uri"),
            "inline": inline}


def _target(params: InParams, system_names: tuple[str, ...], scope_name: str) -> str | None:
    target, scope = params.string(*system_names, kind="uri"), params.string(scope_name, kind="uri")
    if scope is not None:
        from_scope = _system_of_scope(scope, scope_name)
        if target and canonical_system(target) != canonical_system(from_scope):
            raise OutcomeError(422, "business-rule",
                               f"{system_names[0]} {target!r} and {scope_name} {scope!r} disagree")
        target = target or from_scope
    return target


def read_r4(params: InParams) -> TranslateCall:
    codings, text, given = _input(params, "code", ("system",), "coding", "codeableConcept")
    if not given:
        raise OutcomeError(422, "required", "nothing to translate: give code and system, coding or codeableConcept")
    return TranslateCall(codings, text, _target(params, ("targetsystem", "targetSystem"), "target"),
                         reverse=bool(params.boolean("reverse")), version=params.string("version"), **_common(params))


def read_r5(params: InParams) -> TranslateCall:
    forwards = _input(params, "sourceCode", ("system", "sourceSystem"), "sourceCoding", "sourceCodeableConcept")
    if forwards[2]:
        if params.has_any("targetCode", "targetCoding", "targetCodeableConcept"):
            raise OutcomeError(422, "business-rule", "give a source* or a target* input to translate, not both")
        codings, text, _ = forwards
        return TranslateCall(codings, text, _target(params, ("targetSystem",), "targetScope"),
                             version=params.string("version", "sourceVersion"), **_common(params))
    backwards = _input(params, "targetCode", ("targetSystem",), "targetCoding", "targetCodeableConcept")
    if backwards[2]:
        codings, text, _ = backwards
        sought = params.string("system", "sourceSystem", kind="uri")
        return TranslateCall(codings, text, sought, reverse=True, **_common(params))
    hint = " (R5 names them sourceCode, sourceCoding, sourceCodeableConcept)" if params.has_any(
        "code", "coding", "codeableConcept") else ""
    raise OutcomeError(422, "required", "nothing to translate: give one of sourceCode (with system), sourceCoding, "
                       "sourceCodeableConcept, targetCode (with targetSystem), targetCoding, "
                       f"targetCodeableConcept{hint}")


# --- answers -----------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Found:
    """One match to render, whichever knowledge produced it."""

    system: str | None
    code: str | None  # None: the map says there is no target (a no-map)
    display: str | None
    relationship: Relationship
    origin: str  # the map or rule: source (R4) / originMap (R5)
    rule: str
    validated: bool
    release: str | None = None
    mapping: str | None = None  # "id|version" of a curated mapping
    steps: tuple[str, ...] = ()
    source: SourceCoding | None = None  # backwards: the code it is mapped from


@dataclass
class Answer:
    result: bool
    found: list[Found] = field(default_factory=list)
    message: str | None = None
    translation: Translation | None = None  # the engine's answer, when the engine answered


def _is_match(found: list[Found]) -> bool:
    return any(f.code and f.relationship is not Relationship.NOT_RELATED for f in found)


def _message(found: list[Found], where: str) -> str | None:
    if _is_match(found):
        return None
    return f"{where} says this code has no target" if found else f"no match in {where}"


def _curated_origin(key: MapKey, origin: str) -> str:
    """A curated mapping's map: the imported ConceptMap's url|version, else termmap's own map of `key`."""
    return imported_from(origin) or key.url


def _curated(key: MapKey, mapping: CuratedMapping, *, backwards_from: str | None = None) -> list[Found]:
    """A curated mapping's targets as matches (a no-map as one match without a concept).

    Backwards, only the targets whose code is `backwards_from`, each naming the mapping's source.
    """
    origin, ref = _curated_origin(key, mapping.origin), f"{mapping.mapping_id}|{mapping.version}"
    steps = (f"curated by {mapping.author} ({mapping.origin})",)
    if backwards_from is not None:
        source = SourceCoding(key.source, mapping.source_code, None)
        return [Found(t.system, t.code, t.display, t.relationship, origin, "curated", True, None, ref, steps, source)
                for t in mapping.targets if t.code == backwards_from and mapping.source_code]
    if mapping.decision is Decision.NO_MAP:
        return [Found(None, None, None, Relationship.NOT_RELATED, origin, "curated", True, None, ref, steps)]
    return [Found(t.system, t.code, t.display, t.relationship, origin, "curated", True, None, ref, steps)
            for t in mapping.targets]


def _from_engine(call: TranslateCall, coding: SourceCoding | None, result: Translation,
                 connection: Connection) -> Answer:
    source_system = canonical_system(coding.system) if coding and coding.system else ""
    key = MapKey(source_system, canonical_system(call.target_system or ""), call.context.value)
    found = []
    for m in result.matches:
        origin = RULES_BASE + m.rule.value
        if m.rule.value == "curated":
            origin = _curated_origin(key, current_mapping(connection, m.mapping[0]).origin) if m.mapping else key.url
        found.append(Found(m.system, m.code, m.display, m.relationship, origin, m.rule.value, m.validated, m.release,
                           f"{m.mapping[0]}|{m.mapping[1]}" if m.mapping else None, m.steps))
    if result.decision == Decision.NO_MAP.value:
        mapping = _no_map_mapping(connection, call, coding, key)
        found.extend(_curated(key, mapping) if mapping else [
            Found(None, None, None, Relationship.NOT_RELATED, key.url, "curated", True)])
    validated = result.status is Status.MAPPED and _is_match(found)
    message = None
    review = f" as entry {result.review.id}" if result.review else ""
    if result.status is Status.UNVALIDATED:
        rules = ", ".join(sorted({m.rule.value for m in result.matches if not m.validated}))
        message = (f"{len(result.matches)} match(es) found, not validated (rule: {rules}): not for clinical use "
                   f"until a pharmacist approves; queued for review{review}")
    elif result.status is Status.UNMAPPED:
        message = (result.message or "no mapping found") + (f" (review entry {result.review.id})" if review else "")
    elif not validated:
        message = "every match says the source is not related to a target"
    return Answer(validated, found, message, result)


def _no_map_mapping(connection: Connection, call: TranslateCall, coding: SourceCoding | None,
                    key: MapKey) -> CuratedMapping | None:
    """The curated no-map decision the engine answered with (the engine's answer does not name it)."""
    found = None
    if coding and coding.code:
        found = find_current(connection, key.source, coding.code, None, key.context, key.target)
    words = call.text if call.text and call.text.strip() else (coding.display if coding else None)
    if found is None and words:
        found = find_current(connection, key.source, None, words, key.context, key.target)
    return found


def _from_stored(connection: Connection, call: TranslateCall, selection: Selection) -> Answer:
    """Forwards through the stored map(s) `url` named: only their mappings answer."""
    found: list[Found] = []
    words = [c.display for c in call.codings if not c.code and c.display]
    words += [call.text] if call.text and call.text.strip() else []
    for key in selection.keys:
        if (call.target_system and canonical_system(call.target_system) != key.target) or (
                call.context_given and call.context.value != key.context):
            continue
        asks = [(c.code, None) for c in call.codings if c.code and canonical_system(c.system or "") == key.source]
        for code, text in asks + [(None, w) for w in words]:
            mapping = find_current(connection, key.source, code, text, key.context, key.target)
            if mapping is None or mapping.decision is Decision.RETIRED or (
                    selection.origin_prefix and not mapping.origin.startswith(selection.origin_prefix)):
                continue
            found.extend(_curated(key, mapping))
    return Answer(_is_match(found), found, _message(found, f"ConceptMap {selection.url}"))


def _backwards_stored(connection: Connection, call: TranslateCall, keys: list[MapKey],
                      origin_prefix: str | None = None) -> Answer:
    """Backwards through curated mappings: which sources are mapped to the given code."""
    found: list[Found] = []
    sought = canonical_system(call.target_system) if call.target_system else None
    for coding in (c for c in call.codings if c.code):
        target = canonical_system(coding.system or "")
        for key in keys:
            if key.target != target or (sought and key.source != sought) or (
                    call.context_given and key.context != call.context.value):
                continue
            for mapping in mappings_of(connection, key, origin_prefix=origin_prefix):
                found.extend(_curated(key, mapping, backwards_from=coding.code))
    return Answer(_is_match(found), found, None if found else "no curated mapping has this code as its target")


def _from_inline(call: TranslateCall, maps: list[Any]) -> Answer:
    """Through the ConceptMap(s) sent with the request (not stored; termmap has not validated them)."""
    found: list[Found] = []
    sought = canonical_system(call.target_system) if call.target_system else None
    for conceptmap in maps:
        origin = "|".join(str(v) for v in (conceptmap.url, conceptmap.version) if v) or "urn:termmap:inline-conceptmap"
        for element in elements_of(conceptmap):
            for coding in call.codings:
                system = canonical_system(coding.system) if coding.system else None
                if call.reverse:
                    if sought and element.source_system != sought:
                        continue
                    source = SourceCoding(element.source_system, element.source_code, element.source_display)
                    found.extend(Found(element.target_system, t.code, t.display, t.relationship, origin, _INLINE_RULE,
                                       False, source=source)
                                 for t in element.targets
                                 if t.code == coding.code and (system is None or element.target_system == system))
                    continue
                if element.source_code != coding.code or (system and element.source_system not in ("", system)) or (
                        sought and element.target_system and element.target_system != sought):
                    continue
                if element.no_map:
                    found.append(Found(None, None, None, Relationship.NOT_RELATED, origin, _INLINE_RULE, False))
                found.extend(Found(element.target_system, t.code, t.display, t.relationship, origin, _INLINE_RULE,
                                   False) for t in element.targets)
    return Answer(_is_match(found), found, _message(found, "the ConceptMap sent with the request"))


# --- rendering ---------------------------------------------------------------------------------------------


def _coding_json(system: str | None, code: str | None, display: str | None) -> dict[str, str]:
    return {k: v for k, v in (("system", system), ("code", code), ("display", display)) if v}


def _provenance(f: Found) -> dict[str, Any]:
    parts: list[dict[str, Any]] = [{"name": "rule", "valueCode": f.rule}]
    if f.release:
        parts.append({"name": "release", "valueString": f.release})
    if f.mapping:
        parts.append({"name": "mapping", "valueString": f.mapping})
    parts.append({"name": "validated", "valueBoolean": f.validated})
    parts.extend({"name": "step", "valueString": step} for step in f.steps if step)
    return {"name": "termmap-provenance", "part": parts}


def _match(version: FhirVersion, f: Found) -> dict[str, Any]:
    parts: list[dict[str, Any]] = []
    if version.is_r4:
        parts.append({"name": "equivalence", "valueCode": equivalence_of(f.relationship, has_concept=bool(f.code))})
    else:
        parts.append({"name": "relationship", "valueCode": f.relationship.value})
    if f.code:
        parts.append({"name": "concept", "valueCoding": _coding_json(f.system, f.code, f.display)})
    if version.is_r4 and f.source is None:
        parts.append({"name": "source", "valueUri": f.origin})
    else:
        parts.append({"name": "originMap", "valueCanonical": f.origin})
    if f.source is not None:
        parts.append({"name": "source", "valueCoding": _coding_json(f.source.system, f.source.code, f.source.display)})
    parts.append(_provenance(f))
    return {"name": "match", "part": parts}


def _original(call: TranslateCall) -> dict[str, Any]:
    concept: dict[str, Any] = {}
    codings = [_coding_json(c.system, c.code, c.display) for c in call.codings]
    if codings:
        concept["coding"] = codings
    if call.text:
        concept["text"] = call.text
    return {"name": "termmap-original", "valueCodeableConcept": concept}


def _review(result: Translation) -> dict[str, Any] | None:
    if result.review is None:
        return None
    parts: list[dict[str, Any]] = [
        {"name": "id", "valueString": result.review.id},
        {"name": "status", "valueCode": result.review.status},
        {"name": "reason", "valueCode": result.status.value},
    ]
    for candidate in result.candidates:
        parts.append({"name": "termmap-candidate", "part": [
            {"name": "concept", "valueCoding": _coding_json(candidate.system, candidate.code, candidate.display)},
            {"name": "score", "valueDecimal": round(float(candidate.score), 4)},
        ]})
    return {"name": "termmap-review", "part": parts}


def render(version: FhirVersion, call: TranslateCall, answer: Answer) -> list[dict[str, Any]]:
    """The out-parameters of $translate."""
    out: list[dict[str, Any]] = [{"name": "result", "valueBoolean": answer.result}]
    if answer.message:
        out.append({"name": "message", "valueString": answer.message})
    out.extend(_match(version, f) for f in answer.found)
    if not answer.result:
        out.append(_original(call))
    if answer.translation is not None:
        review = _review(answer.translation)
        if review:
            out.append(review)
    return out


# --- running -----------------------------------------------------------------------------------------------


def _engine_request(call: TranslateCall, coding: SourceCoding | None) -> TranslateRequest:
    return TranslateRequest(source=coding or SourceCoding(), text=call.text, target_system=call.target_system or "",
                            context=call.context, sender=call.sender)


def _choose_coding(engine: Engine, call: TranslateCall) -> SourceCoding | None:
    """The coding to answer: the first the engine maps (tried in rolled-back transactions), else the first."""
    coded = [c for c in call.codings if c.code]
    if len(coded) <= 1:
        return coded[0] if coded else (call.codings[0] if call.codings else None)
    with engine.connect() as probe:
        for coding in coded:
            transaction = probe.begin()
            try:
                answer = translate(probe, _engine_request(call, coding))
            finally:
                transaction.rollback()  # a probe must not count review occurrences
            if answer.status is Status.MAPPED:
                return coding
    return coded[0]


def _inline_maps(call: TranslateCall) -> list[Any]:
    if not call.url:
        return list(call.inline)
    return [m for m in call.inline if m.url and strip_version(m.url) == strip_version(call.url)]


def answer_call(request: Request, call: TranslateCall, connection: Connection | None = None,
                counts: PendingCounts | None = None) -> Answer:
    """Answer one call (runs in a worker thread: it reads and writes the store).

    Review-queue counts are written through `connection` when given (the caller's transaction,
    as for an idempotent request; the translation is then counted in `counts`, once that commits),
    else in a transaction of its own (and counted once it has committed).
    """
    inline = _inline_maps(call)
    if inline:
        return _from_inline(call, inline)
    engine: Engine = request.app.state.engine
    if call.url:
        with engine.connect() as connection:
            selection = select_map(connection, call.url)
            if call.reverse:
                return _backwards_stored(connection, call, list(selection.keys), selection.origin_prefix)
            return _from_stored(connection, call, selection)
    if call.reverse:
        with engine.connect() as connection:
            return _backwards_stored(connection, call, map_keys(connection))
    if not call.target_system:
        raise OutcomeError(422, "required", "name the code system to translate into: targetsystem (R4) / targetSystem "
                           "(R5), or a ConceptMap with url", expression="targetsystem")
    coding = _choose_coding(engine, call)
    with nullcontext(connection) if connection is not None else engine.begin() as writing:
        if call.version and coding and coding.system:
            check_version(writing, coding.system, call.version)
        result = translate(writing, _engine_request(call, coding))
        answer = _from_engine(call, coding, result, writing)
    metrics = counts if counts is not None else getattr(request.app.state, "metrics", None)
    if metrics is not None:
        metrics.count(result, call.context.value, source_system=coding.system if coding else None,
                      sender=call.sender)
    logger.info("FHIR $translate: %s (%d matches, context %s)", result.status.value, len(result.matches),
                call.context.value)
    return answer


def add_translate_routes(router: APIRouter, version: FhirVersion) -> None:
    """$translate (type and instance level) under `version`'s prefix."""
    read = read_r4 if version.is_r4 else read_r5

    async def run(request: Request, url: str | None = None) -> Response:
        params = await read_params(request, version)
        call = read(params)
        if url is not None:
            if call.url and strip_version(call.url) != url:
                raise OutcomeError(422, "business-rule", f"url {call.url!r} is not the ConceptMap {url!r} of the path")
            call = replace(call, url=url)
        key = request.headers.get("idempotency-key") if request.method == "POST" else None
        if key is None:
            answer = await run_in_threadpool(answer_call, request, call)
            return parameters_response(version, render(version, call, answer))

        counts = request.app.state.metrics.pending()

        def work(connection: Connection) -> tuple[int, bytes]:
            response = parameters_response(version, render(version, call,
                                                           answer_call(request, call, connection, counts)))
            return response.status_code, bytes(response.body)

        route = f"/fhir/{version.name}{request.url.path.split(version.name, 1)[-1]}"
        status, payload, replayed = await run_in_threadpool(
            partial(run_once, request.app.state.engine, key, route, await request.body(), work, counts=counts))
        return Response(payload, status_code=status, media_type=FHIR_JSON,
                        headers={"Idempotent-Replayed": "true"} if replayed else None)

    async def conceptmap_translate(request: Request) -> Response:
        return await run(request)

    async def conceptmap_instance_translate(request: Request, id: str) -> Response:  # noqa: A002 - FHIR's name
        return await run(request, CANONICAL_BASE + id)

    summary = f"ConceptMap $translate ({version.name.upper()})"
    query = _R4_QUERY if version.is_r4 else _R5_QUERY
    add_operation(router, "/ConceptMap/$translate", conceptmap_translate, summary=summary,
                  permission=Permission.TRANSLATE,
                  operation_id=f"fhir_{version.name}_conceptmap_translate", query=query)
    add_operation(router, "/ConceptMap/{id}/$translate", conceptmap_instance_translate, summary=summary + ", one map",
                  permission=Permission.TRANSLATE,
                  operation_id=f"fhir_{version.name}_conceptmap_instance_translate", query=query)


#: The in-parameters a query string may carry (the module docstring says what each means).
_COMMON_QUERY = {"url": "the ConceptMap to translate with (uri)", "context": "allergy (default) or medication",
                 "sender": "who sent the entry (counted on its review-queue entry)"}
_R4_QUERY = {"code": "the code to translate (with system)", "system": "its code system (uri)",
             "version": "the version of its code system", "targetsystem": "the system to translate into (uri)",
             "target": "the implicit value set {system}?fhir_vs of the target system",
             "reverse": "true: translate a target code back to its sources", **_COMMON_QUERY}
_R5_QUERY = {"sourceCode": "the code to translate (with system)", "system": "its code system (uri)",
             "version": "the version of its code system", "targetSystem": "the system to translate into (uri)",
             "targetScope": "the implicit value set {system}?fhir_vs of the target system",
             "targetCode": "a target code to translate back (with targetSystem)", **_COMMON_QUERY}
