"""ConceptMap read, search and upload: curated mappings as FHIR ConceptMaps, and ConceptMaps as curated mappings.

    GET  /fhir/{r4|r5}/ConceptMap/{id}      one map (ids and urls: see `maps`)
    GET  /fhir/{r4|r5}/ConceptMap?...       searchset Bundle; url, source-system (R5 also
                                            source-group-system), target-system (target-group-system),
                                            context (termmap's), _id
    PUT  /fhir/{r4|r5}/ConceptMap/{id}      import a map whose groups all belong at `id`
                                            (201 when it is new, 200 when it adds to an existing map)
    POST /fhir/{r4|r5}/ConceptMap           import any map (201); `?context=allergy|medication`

An import records one curated mapping version per source code, with origin
`import:conceptmap:{url}|{version}`, author = the API key's name (else
"conceptmap-import"); a code whose decision and targets are already current is left as it is. A
target code must be an active concept of its system's loaded release (a typo must not become a
validated answer). R4 equivalences are kept as R5 relationships (wider -> source-is-narrower-than-target,
narrower -> source-is-broader-than-target, unmatched/disjoint without a code -> no-map).
"""
from __future__ import annotations

import logging
import re
from collections import defaultdict
from datetime import datetime, timezone
from typing import Any

from fastapi import APIRouter, Depends, Request, Response
from sqlalchemy import Connection
from starlette.concurrency import run_in_threadpool

from mappings.curated import (
    CuratedMapping,
    Decision,
    Target,
    find_current,
    record_mapping,
)
from mappings.exchange_conceptmap import expressible, fhir_display, left_out_note
from mappings.translation import Context
from terminology import queries
from terminology.releases import active_release_ids
from terminology.systems import canonical_system

from ..auth import Permission, requires
from .maps import (
    CANONICAL_BASE,
    MapElement,
    MapKey,
    elements_of,
    equivalence_of,
    import_origin,
    key_for_id,
    map_history,
    map_keys,
    mappings_of,
    strip_version,
)
from .outcome import OUTCOME_SCHEMA, OutcomeError
from .parameters import read_resource, resource_response
from .versions import FHIR_JSON, FhirVersion

__all__ = ["add_conceptmap_routes", "render_conceptmap", "base_url"]

logger = logging.getLogger(__name__)

DEFAULT_AUTHOR = "conceptmap-import"
_CODE_MAX, _SYSTEM_MAX, _TEXT_MAX = 128, 255, 255  # column sizes of mapping_versions / mapping_targets


def base_url(request: Request, version: FhirVersion) -> str:
    return str(request.base_url).rstrip("/") + version.prefix


def _name(key: MapKey) -> str:
    return "Termmap" + "".join(part[:1].upper() + part[1:] for part in re.split(r"[^A-Za-z0-9]+", key.id) if part)


def _datetime(value: datetime) -> str:
    """A FHIR dateTime: SQLite hands stored UTC times back without their zone."""
    return (value if value.tzinfo else value.replace(tzinfo=timezone.utc)).isoformat(timespec="seconds")


def _comment(mapping: CuratedMapping) -> str:
    return (f"curated mapping {mapping.mapping_id} v{mapping.version} by {mapping.author} "
            f"on {mapping.created_at:%Y-%m-%d} ({mapping.origin})")


def _element(version: FhirVersion, mapping: CuratedMapping) -> dict[str, Any]:
    element: dict[str, Any] = {"code": mapping.source_code} if mapping.source_code else {
        "display": mapping.source_text_norm}  # a text-only mapping: its normalised text, no code
    comment = _comment(mapping)
    if mapping.decision is Decision.NO_MAP:
        if version.is_r4:
            element["target"] = [{"equivalence": "unmatched", "comment": comment}]
        else:
            element["noMap"] = True
        return element
    targets = []
    for target in mapping.targets:
        rendered: dict[str, Any] = {"code": target.code, "comment": comment}
        if fhir_display(target.display):
            rendered["display"] = target.display
        if version.is_r4:
            rendered["equivalence"] = equivalence_of(target.relationship)
        else:
            rendered["relationship"] = target.relationship.value
        targets.append(rendered)
    element["target"] = targets
    return element


def render_conceptmap(connection: Connection, version: FhirVersion, key: MapKey) -> dict[str, Any]:
    """The ConceptMap (as JSON) of the current curated mappings `key` holds."""
    mappings = mappings_of(connection, key)
    left_out = [m for m in mappings if not expressible(m)]
    mappings = [m for m in mappings if expressible(m)]
    count, newest = map_history(connection, key)
    resource: dict[str, Any] = {
        "resourceType": "ConceptMap",
        "id": key.id,
        "url": key.url,
        "version": str(count),
        "name": _name(key)[:255],
        "title": f"termmap curated {key.context} mappings from {key.source} to {key.target}",
        "status": "active",
        "experimental": False,
        "publisher": "termmap",
        "description": (f"Pharmacist-curated {key.context} mappings, newest version of each; retired mappings "
                        "are left out. Each target's comment names the mapping, version, author and origin."
                        + left_out_note(left_out)),
    }
    if newest is not None:
        resource["date"] = _datetime(newest)
    elements = [_element(version, m) for m in mappings]
    if elements:
        resource["group"] = [{"source": key.source, "target": key.target, "element": elements}]
    return resource


def _bundle(request: Request, version: FhirVersion, resources: list[dict[str, Any]]) -> dict[str, Any]:
    base = base_url(request, version)
    return {
        "resourceType": "Bundle",
        "type": "searchset",
        "total": len(resources),
        "link": [{"relation": "self", "url": str(request.url)}],
        "entry": [{"fullUrl": f"{base}/ConceptMap/{r['id']}", "resource": r, "search": {"mode": "match"}}
                  for r in resources],
    }


def _search(connection: Connection, request: Request, version: FhirVersion) -> dict[str, Any]:
    query = request.query_params
    url = query.get("url")
    source = query.get("source-system") or query.get("source-group-system")
    target = query.get("target-system") or query.get("target-group-system")
    context, id_ = query.get("context"), query.get("_id")
    keys = [
        key for key in map_keys(connection)
        if (url is None or key.url == strip_version(url))
        and (source is None or key.source == canonical_system(source))
        and (target is None or key.target == canonical_system(target))
        and (context is None or key.context == context)
        and (id_ is None or key.id == id_)
    ]
    return _bundle(request, version, [render_conceptmap(connection, version, key) for key in keys])


# --- import ------------------------------------------------------------------------------------------------


def _context(request: Request) -> str:
    value = request.query_params.get("context", Context.ALLERGY.value)
    if value not in {c.value for c in Context}:
        raise OutcomeError(422, "invalid", f"context must be one of {', '.join(c.value for c in Context)}, "
                           f"not {value!r}", expression="context")
    return value


def _checked(elements: list[MapElement]) -> None:
    if not elements:
        raise OutcomeError(422, "required", "the ConceptMap has no group elements: nothing to import")
    for element in elements:
        where = f"element {element.source_code!r}"
        if not element.source_system or not element.target_system:
            raise OutcomeError(422, "required", f"{where}: every group needs a source and a target system")
        if not element.source_code:
            raise OutcomeError(422, "required", f"{where}: every element needs a code")
        if not element.targets and not element.no_map:
            raise OutcomeError(422, "required", f"{where}: has no target (give targets, or noMap / unmatched)")
        codes = [element.source_code, *(t.code or "" for t in element.targets)]
        if any(len(code) > _CODE_MAX for code in codes):
            raise OutcomeError(422, "too-long", f"{where}: codes are at most {_CODE_MAX} characters")
        if max(len(element.source_system), len(element.target_system)) > _SYSTEM_MAX:
            raise OutcomeError(422, "too-long", f"{where}: system URIs are at most {_SYSTEM_MAX} characters")


def _merged(elements: list[MapElement], context: str) -> dict[tuple[MapKey, str], tuple[list[Target], bool]]:
    """(map, source code) -> (targets, no-map), joining the same code given in several groups."""
    merged: dict[tuple[MapKey, str], tuple[list[Target], bool]] = {}
    for element in elements:
        slot = (MapKey(element.source_system, element.target_system or "", context), element.source_code or "")
        targets, no_map = merged.get(slot, ([], True))
        for t in element.targets:
            if all(t.code != known.code for known in targets):
                targets.append(Target(element.target_system or "", t.code or "", t.display, t.relationship))
        merged[slot] = (targets, no_map and element.no_map and not targets)
    return merged


def _with_release_displays(connection: Connection, merged) -> None:
    """Fill missing target displays from the loaded release; refuse codes it does not hold as active."""
    loaded = active_release_ids(connection)
    bad = []
    for (key, code), (targets, _no_map) in merged.items():
        if key.target not in loaded:
            continue
        for index, target in enumerate(targets):
            concept = queries.concept(connection, key.target, target.code)
            if concept is None or not concept.active:
                bad.append(f"{code} -> {target.code} ({'inactive' if concept else 'not in the release'})")
            elif not target.display:
                targets[index] = Target(target.system, target.code, concept.display, target.relationship)
    if bad:
        more = f" and {len(bad) - 10} more" if len(bad) > 10 else ""
        raise OutcomeError(422, "code-invalid", "target codes must be active concepts of the loaded release of "
                           f"their system: {'; '.join(bad[:10])}{more}")


def _same(current: CuratedMapping | None, decision: Decision, targets: list[Target]) -> bool:
    if current is None or current.decision is not decision:
        return False
    as_set = lambda ts: {(t.system, t.code, t.relationship.value) for t in ts}  # noqa: E731
    return as_set(current.targets) == as_set(targets)


def _import(connection: Connection, model: Any, merged, *, url: str, author: str) -> dict[str, int]:
    _with_release_displays(connection, merged)
    origin = import_origin(url, model.version)
    counts = defaultdict(int)
    for (key, code), (targets, no_map) in merged.items():
        decision = Decision.NO_MAP if no_map else Decision.MAPPED
        current = find_current(connection, key.source, code, None, key.context, key.target)
        if _same(current, decision, targets):
            counts["unchanged"] += 1
            continue
        record_mapping(
            connection, source_system=key.source, source_code=code, source_text=None, context=key.context,
            target_system=key.target, decision=decision, targets=[] if no_map else targets, author=author,
            reason=f"imported ConceptMap {model.name or model.id or url} ({url}|{model.version or ''})",
            origin=origin,
        )
        counts["recorded"] += 1
    logger.info("ConceptMap import: %d recorded, %d unchanged", counts["recorded"], counts["unchanged"])
    return counts


async def _upload(request: Request, version: FhirVersion, id_: str | None) -> Response:
    model, data = read_resource(await request.body(), request.headers.get("content-type"), version, "ConceptMap")
    if id_ is not None and data.get("id") not in (None, id_):
        raise OutcomeError(400, "invalid", f"the ConceptMap's id {data.get('id')!r} is not the id in the URL {id_!r}")
    context = _context(request)
    elements = elements_of(model)
    _checked(elements)
    merged = _merged(elements, context)
    keys = sorted({key for key, _code in merged})
    if id_ is not None and [key.id for key in keys] != [id_]:
        expected = ", ".join(key.id for key in keys)
        raise OutcomeError(422, "business-rule", f"termmap keeps curated mappings per (context, source system, target "
                           f"system) and serves them at ConceptMap/{{id}}; this map's {context} mappings belong at "
                           f"{expected}: PUT there (context from ?context=, default allergy), or POST the map")
    url = strip_version(model.url) if model.url else CANONICAL_BASE + (id_ or keys[0].id)
    origin = import_origin(url, model.version)
    principal = getattr(request.state, "principal", None)  # set by the CURATE permission check
    author = principal.name if principal is not None else DEFAULT_AUTHOR
    if len(origin) > _TEXT_MAX or len(author) > _TEXT_MAX:
        raise OutcomeError(422, "too-long", f"the ConceptMap url|version and the author's key name must fit in "
                           f"{_TEXT_MAX - len(import_origin('', ''))} and {_TEXT_MAX} characters")

    def work() -> tuple[bool, dict[str, int], list[dict[str, Any]]]:
        with request.app.state.engine.begin() as connection:
            known = set(map_keys(connection))
            existed = any(key in known for key in keys)
            counts = _import(connection, model, merged, url=url, author=author)
            return existed, counts, [render_conceptmap(connection, version, key) for key in keys]

    existed, counts, rendered = await run_in_threadpool(work)
    cache = getattr(request.app.state, "cache", None)
    if cache is not None and hasattr(cache, "invalidate"):
        cache.invalidate()  # this worker sees its own import at once; others within the cache's check interval
    headers = {"X-Termmap-Mappings-Recorded": str(counts["recorded"]),
               "X-Termmap-Mappings-Unchanged": str(counts["unchanged"])}
    status = 200 if id_ is not None and existed else 201
    if len(rendered) == 1:
        headers["Location"] = f"{base_url(request, version)}/ConceptMap/{rendered[0]['id']}"
        return resource_response(version, rendered[0], status=status, headers=headers)
    bundle = {"resourceType": "Bundle", "type": "collection", "entry": [
        {"fullUrl": f"{base_url(request, version)}/ConceptMap/{r['id']}", "resource": r} for r in rendered]}
    return resource_response(version, bundle, status=status, headers=headers)


def _query_doc(params: dict[str, str]) -> list[dict[str, Any]]:
    return [{"name": name, "in": "query", "required": False, "description": description, "schema": {"type": "string"}}
            for name, description in params.items()]


_SEARCH_DOC = {"parameters": _query_doc({
    "url": "the map's canonical url", "source-system": "its source code system (also source-group-system)",
    "target-system": "its target code system (also target-group-system)", "context": "allergy or medication",
    "_id": "the map's id"})}
_CONCEPTMAP_BODY = {
    "schema": {"type": "object", "required": ["resourceType"],
               "properties": {"resourceType": {"type": "string", "enum": ["ConceptMap"]}}},
    "example": {"resourceType": "ConceptMap", "status": "active", "group": [{
        "source": "https://hospital.example.org/fhir/CodeSystem/allergens", "target": "http://snomed.info/sct",
        "element": [{"code": "PCN", "target": [{"code": "373270004", "equivalence": "equivalent"}]}]}]},
}
_UPLOAD_DOC = {
    "parameters": _query_doc({"context": "allergy (default) or medication: the context of the map's mappings"}),
    "requestBody": {"required": True, "description": "an R4 or R5 ConceptMap",
                    "content": {FHIR_JSON: _CONCEPTMAP_BODY, "application/json": _CONCEPTMAP_BODY}},
    "responses": {
        "200": {"description": "the map as stored now, at an id that held mappings already"},
        "201": {"description": "stored: the ConceptMap as served from now on (a collection Bundle of them when "
                               "the map's groups belong at several ids); `Location` names it",
                "content": {FHIR_JSON: {"schema": {}}}},
        "409": {"description": "a curated mapping changed under the import",
                "content": {FHIR_JSON: {"schema": OUTCOME_SCHEMA}}},
    },
}


def add_conceptmap_routes(router: APIRouter, version: FhirVersion) -> None:
    """ConceptMap read, search, update and create under `version`'s prefix (after $translate's routes)."""

    @router.get("/ConceptMap", summary=f"Search ConceptMaps ({version.name.upper()})",
                dependencies=[Depends(requires(Permission.LOOKUP))], openapi_extra=_SEARCH_DOC)
    async def search_conceptmaps(request: Request) -> Response:
        def work():
            with request.app.state.engine.connect() as connection:
                return _search(connection, request, version)
        return resource_response(version, await run_in_threadpool(work))

    @router.get("/ConceptMap/{id}", summary=f"Read a ConceptMap ({version.name.upper()})",
                dependencies=[Depends(requires(Permission.LOOKUP))])
    async def read_conceptmap(request: Request, id: str) -> Response:  # noqa: A002 - FHIR's name
        def work():
            with request.app.state.engine.connect() as connection:
                key = key_for_id(connection, id)
                if key is None:
                    raise OutcomeError(404, "not-found", f"no ConceptMap {id!r} (search GET ConceptMap to list them)")
                return render_conceptmap(connection, version, key)
        return resource_response(version, await run_in_threadpool(work))

    @router.put("/ConceptMap/{id}", summary=f"Import a ConceptMap at its id ({version.name.upper()})",
                dependencies=[Depends(requires(Permission.CURATE))], openapi_extra=_UPLOAD_DOC)
    async def update_conceptmap(request: Request, id: str) -> Response:  # noqa: A002
        return await _upload(request, version, id)

    @router.post("/ConceptMap", summary=f"Import a ConceptMap ({version.name.upper()})",
                 dependencies=[Depends(requires(Permission.CURATE))], openapi_extra=_UPLOAD_DOC)
    async def create_conceptmap(request: Request) -> Response:
        return await _upload(request, version, None)
