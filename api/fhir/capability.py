"""`GET /fhir/{r4|r5}/metadata`: the CapabilityStatement, or (`?mode=terminology`) the TerminologyCapabilities."""
from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

from fastapi import APIRouter, Request, Response
from sqlalchemy import Connection
from starlette.concurrency import run_in_threadpool

from terminology.model import ReleaseStatus
from terminology.releases import list_releases

from .codesystem import PROPERTIES, fhir_version
from .conceptmap import base_url
from .outcome import OutcomeError
from .parameters import resource_response
from .versions import FHIR_JSON, FhirVersion

__all__ = ["add_capability_routes", "capability_statement", "terminology_capabilities", "EXTENSIONS_DOC"]

#: What termmap adds to the standard operations; shown in the CapabilityStatement.
EXTENSIONS_DOC = """termmap's additions to ConceptMap/$translate (see api/fhir/translate.py):

* in `context` (code): allergy | medication, default allergy. An allergy to a product is an allergy to its ingredients.
* in `sender` (string): who sent the entry; counted on the review-queue entry.
* in `tx-resource` / `conceptMap` (ConceptMap): used for this request only, never stored.
* `result` is true only for a validated answer; unvalidated matches come with result false and a message.
* out `match.termmap-provenance` (parts rule: code, release: string, mapping: string id|version,
  validated: boolean, step: string*): which rule, release and curated mapping produced the match.
* out `termmap-original` (CodeableConcept, when result is false): the entry as received.
* out `termmap-review` (parts id: string, status: code, reason: code, termmap-candidate*: parts
  concept: Coding, score: decimal): the review-queue entry the entry was counted on, with ranked
  suggestions for the reviewer (never matches).

ConceptMaps are views of the curated mappings, one per (context, source system, target system), at
https://termmap.dev/fhir/ConceptMap/{context}-{source}-to-{target}; PUT / POST import a ConceptMap as
curated mapping versions (author from the X-Termmap-User header; POST takes ?context=)."""


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def _common(request: Request, version: FhirVersion, kind: str) -> dict[str, Any]:
    app_version = getattr(request.app, "version", "0")
    return {
        "id": f"termmap-{version.name}",
        "url": f"https://termmap.dev/fhir/{kind}/termmap-{version.name}",
        "version": app_version,
        "name": f"Termmap{version.name.upper()}",
        "title": "termmap: allergy and medication terminology mapping",
        "status": "active",
        "experimental": False,
        "date": _now(),
        "publisher": "termmap",
        "kind": "instance",
        "software": {"name": "termmap", "version": app_version},
        "implementation": {"description": "termmap terminology mapping service", "url": base_url(request, version)},
    }


def _operation(name: str, resource: str, documentation: str | None = None) -> dict[str, Any]:
    operation = {"name": name, "definition": f"http://hl7.org/fhir/OperationDefinition/{resource}-{name}"}
    if documentation:
        operation["documentation"] = documentation
    return operation


def capability_statement(request: Request, version: FhirVersion) -> dict[str, Any]:
    """What this server does, for `version`."""
    source, target = ("source-system", "target-system") if version.is_r4 else ("source-group-system",
                                                                               "target-group-system")
    return {
        "resourceType": "CapabilityStatement",
        **_common(request, version, "CapabilityStatement"),
        "description": "Translates allergy and medication codes and text between SNOMED CT, RxNorm and local "
                       "code systems; never drops what it cannot map (it is queued for a pharmacist's review).",
        "instantiates": ["http://hl7.org/fhir/CapabilityStatement/terminology-server"],
        "fhirVersion": version.fhir_version,
        "format": [FHIR_JSON, "json"],
        "rest": [{
            "mode": "server",
            "documentation": EXTENSIONS_DOC,
            "resource": [
                {
                    "type": "ConceptMap",
                    "interaction": [{"code": "read"}, {"code": "search-type"}, {"code": "update"}, {"code": "create"}],
                    "updateCreate": True,
                    "searchParam": [
                        {"name": "url", "type": "uri"},
                        {"name": source, "type": "uri", "documentation": "also accepted: source-system"},
                        {"name": target, "type": "uri", "documentation": "also accepted: target-system"},
                        {"name": "context", "type": "token", "documentation": "termmap: allergy | medication"},
                        {"name": "_id", "type": "token"},
                    ],
                    "operation": [_operation("translate", "ConceptMap", EXTENSIONS_DOC)],
                },
                {
                    "type": "CodeSystem",
                    "operation": [
                        _operation("lookup", "CodeSystem", f"properties: {', '.join(PROPERTIES)}"),
                        _operation("validate-code", "CodeSystem",
                                   "a wrong display is result false (error), or true with a warning when "
                                   "lenient-display-validation=true"),
                    ],
                },
            ],
        }],
    }


def terminology_capabilities(connection: Connection, request: Request, version: FhirVersion) -> dict[str, Any]:
    """The loaded code systems (active releases) and translation support, for `version`."""
    active = [r for r in list_releases(connection) if r.status is ReleaseStatus.ACTIVE]
    systems = []
    for release in sorted(active, key=lambda r: r.system):
        entry: dict[str, Any] = {"uri": release.system, "version": [{
            "code": fhir_version(release), "isDefault": True,
            "property": ["parent", "child", "inactive"],
        }]}
        if not version.is_r4:
            entry["content"] = "complete"
        systems.append(entry)
    return {
        "resourceType": "TerminologyCapabilities",
        **_common(request, version, "TerminologyCapabilities"),
        "description": "Code systems: the active release of each loaded system. Translation: without a map "
                       "(termmap's engine), or through one of its curated ConceptMaps (url).",
        "codeSystem": systems,
        "validateCode": {"translations": False},
        "translation": {"needsMap": False},
    }


def add_capability_routes(router: APIRouter, version: FhirVersion) -> None:
    """GET metadata under `version`'s prefix."""

    @router.get("/metadata", summary=f"CapabilityStatement / TerminologyCapabilities ({version.name.upper()})",
                openapi_extra={"parameters": [{
                    "name": "mode", "in": "query", "required": False,
                    "description": "full (default) or normative: the CapabilityStatement; terminology: the "
                                   "TerminologyCapabilities",
                    "schema": {"type": "string", "enum": ["full", "normative", "terminology"]}}]})
    async def metadata(request: Request) -> Response:
        mode = request.query_params.get("mode", "full")
        if mode == "terminology":
            def work():
                with request.app.state.engine.connect() as connection:
                    return terminology_capabilities(connection, request, version)
            return resource_response(version, await run_in_threadpool(work))
        if mode not in ("full", "normative"):
            raise OutcomeError(400, "invalid", f"mode must be full, normative or terminology, not {mode!r}",
                               expression="mode")
        return resource_response(version, capability_statement(request, version))
