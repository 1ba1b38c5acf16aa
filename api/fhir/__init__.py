"""termmap's FHIR terminology endpoints, R4 at /fhir/r4 and R5 at /fhir/r5 (application/fhir+json).

    GET|POST  ConceptMap/$translate, ConceptMap/{id}/$translate   translate   (translate.py)
    GET       ConceptMap/{id}, ConceptMap?url=&source-system=...  read/search (conceptmap.py)
    PUT       ConceptMap/{id};  POST ConceptMap                   import as curated mappings
    GET|POST  CodeSystem/$lookup, CodeSystem/$validate-code                   (codesystem.py)
    GET       metadata (CapabilityStatement), metadata?mode=terminology
              (TerminologyCapabilities)                                       (capability.py)

termmap's extension parameters (documented in translate.py and in the CapabilityStatement):
in `context`, `sender`, `tx-resource`; out `termmap-original`, `termmap-review` (with
`termmap-candidate` parts) and, on each match, `termmap-provenance`. ConceptMap ids and urls:
maps.py. Errors are OperationOutcomes (outcome.py); malformed input is never a 500.

Module layout: versions (R4/R5 models), outcome (errors -> OperationOutcome), parameters (in and
out Parameters), maps (ConceptMap identity and reading), translate, conceptmap, codesystem, capability.
"""
from __future__ import annotations

from fastapi import APIRouter, FastAPI, Request, Response
from starlette.routing import Match

from .capability import add_capability_routes
from .codesystem import add_codesystem_routes
from .conceptmap import add_conceptmap_routes
from .outcome import OUTCOME_RESPONSES, FhirJsonResponse, FhirRoute, OutcomeError
from .translate import add_translate_routes
from .versions import R4, R5, VERSIONS, FhirVersion

__all__ = ["add_fhir_routes", "fhir_router"]

_METHODS = ["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"]


def fhir_router(version: FhirVersion) -> APIRouter:
    """Every FHIR route of `version`, with OperationOutcome errors (404/405 for anything else under its prefix)."""
    router = APIRouter(prefix=version.prefix, route_class=FhirRoute, tags=[f"FHIR {version.name.upper()}"],
                       default_response_class=FhirJsonResponse, responses=OUTCOME_RESPONSES)
    add_translate_routes(router, version)  # before ConceptMap/{id}: "$translate" is not an id
    add_codesystem_routes(router, version)
    add_conceptmap_routes(router, version)
    add_capability_routes(router, version)
    known = list(router.routes)

    @router.api_route("/{path:path}", methods=_METHODS, include_in_schema=False)
    async def not_here(request: Request, path: str) -> Response:
        if any(route.matches(request.scope)[0] is not Match.NONE for route in known):
            raise OutcomeError(405, "not-supported", f"{request.method} is not supported on {request.url.path}")
        raise OutcomeError(404, "not-found", f"no FHIR {version.name.upper()} interaction at {request.url.path}")

    return router


def add_fhir_routes(app: FastAPI) -> None:
    """Mount the R4 and R5 routers on `app`."""
    for version in VERSIONS:
        app.include_router(fhir_router(version))
    outside = APIRouter(route_class=FhirRoute)

    @outside.api_route("/fhir/{path:path}", methods=_METHODS, include_in_schema=False)
    async def unknown_version(path: str) -> Response:
        raise OutcomeError(404, "not-found", f"termmap speaks FHIR R4 at {R4.prefix} and R5 at {R5.prefix}, "
                           f"not at /fhir/{path}")

    app.include_router(outside)
