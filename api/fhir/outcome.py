"""Every failure under /fhir/ becomes an OperationOutcome with the HTTP status that says what went wrong.

    400 invalid / structure   the body is not a readable Parameters (or ConceptMap): not JSON, not an
                              object, another resourceType, a parameter of the wrong type
    404 not-found             unknown code system, target system, concept, ConceptMap or route
    405 not-supported         a known path with a method it does not take
    409 conflict              a curated mapping changed under the edit
    415 not-supported         a body that is not JSON (application/fhir+json or application/json)
    422 invalid / business-rule  readable, but not answerable as asked: code without system, both
                              coding and codeableConcept, a parameter given twice, an unknown context
    503 transient             the store cannot be reached, is read-only or busy (`api.outages` says which)
    507 transient             the store is full
    500 exception             a bug (logged with its traceback); never for malformed input

Routes raise `OutcomeError` (an HTTP answer, like starlette's HTTPException) or let domain errors
(`TermmapError`) through; `FhirRoute` turns either into the OperationOutcome.
"""
from __future__ import annotations

import logging
from collections.abc import Callable, Coroutine
from typing import Any

from fastapi import Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.routing import APIRoute

from terminology.errors import (
    InvalidRequest,
    NotAuthenticated,
    NotPermitted,
    StaleMappingVersion,
    StoreError,
    TermmapError,
    UnknownConcept,
    UnknownMapping,
    UnknownSystem,
    UnknownTargetSystem,
)

from ..outages import classify
from .versions import FHIR_JSON, R4, R5, FhirVersion

__all__ = ["OutcomeError", "ISSUE_FOR", "outcome_response", "FhirRoute", "version_of_path", "FhirJsonResponse",
           "OUTCOME_RESPONSES", "OUTCOME_SCHEMA"]

logger = logging.getLogger(__name__)


class OutcomeError(Exception):
    """An answer that is an OperationOutcome: HTTP status, FHIR issue code and a message for people."""

    def __init__(self, status: int, code: str, message: str, *, expression: str | None = None) -> None:
        super().__init__(message)
        self.status, self.code, self.message, self.expression = status, code, message, expression


#: Domain errors -> (HTTP status, issue code); the first that fits wins, so subclasses come first.
ISSUE_FOR: tuple[tuple[type[TermmapError], int, str], ...] = (
    (NotAuthenticated, 401, "login"),
    (NotPermitted, 403, "forbidden"),
    (UnknownTargetSystem, 404, "not-found"),
    (UnknownSystem, 404, "not-found"),
    (UnknownConcept, 404, "not-found"),
    (UnknownMapping, 404, "not-found"),
    (StaleMappingVersion, 409, "conflict"),
    (InvalidRequest, 422, "invalid"),
    (StoreError, 503, "transient"),
)


class FhirJsonResponse(JSONResponse):
    """FHIR's JSON media type: the routes' documented answer (they build their bodies with the FHIR models)."""

    media_type = FHIR_JSON


#: The OperationOutcome every error under /fhir/ answers with (as `outcome_response` writes it), for the OpenAPI.
OUTCOME_SCHEMA: dict[str, Any] = {
    "type": "object", "required": ["resourceType", "issue"],
    "properties": {
        "resourceType": {"type": "string", "enum": ["OperationOutcome"]},
        "issue": {"type": "array", "minItems": 1, "items": {
            "type": "object", "required": ["severity", "code"],
            "properties": {
                "severity": {"type": "string", "enum": ["fatal", "error", "warning", "information"]},
                "code": {"type": "string"},
                "diagnostics": {"type": "string"},
                "expression": {"type": "array", "items": {"type": "string"}},
            },
        }},
    },
}


def _outcome_doc(description: str) -> dict[str, Any]:
    return {"description": description, "content": {FHIR_JSON: {"schema": OUTCOME_SCHEMA}}}


#: The error answers every FHIR route may give (the module docstring says when); 409 only where mappings change.
OUTCOME_RESPONSES: dict[int | str, dict[str, Any]] = {
    400: _outcome_doc("not a readable Parameters or ConceptMap (not JSON, another resourceType, a wrong type)"),
    401: _outcome_doc("no API key, or an unknown or revoked one"),
    403: _outcome_doc("the key's role may not do this"),
    404: _outcome_doc("unknown code system, target system, concept or ConceptMap"),
    413: _outcome_doc("a body over the service's size limit"),
    415: _outcome_doc("a body that is not JSON"),
    422: _outcome_doc("readable, but not answerable as asked (the diagnostics name the problem)"),
    503: _outcome_doc("the store cannot be reached"),
}


def version_of_path(path: str) -> FhirVersion:
    return R5 if path.startswith(R5.prefix) else R4


def outcome_response(version: FhirVersion, status: int, code: str, message: str, *,
                     severity: str = "error", expression: str | None = None,
                     headers: dict[str, str] | None = None) -> Response:
    """An OperationOutcome with one issue, as the response."""
    issue: dict[str, Any] = {"severity": severity, "code": code, "diagnostics": message}
    if expression:
        issue["expression"] = [expression]
    body = version.model("OperationOutcome").model_validate({"resourceType": "OperationOutcome", "issue": [issue]})
    return Response(body.model_dump_json(), status_code=status, media_type=FHIR_JSON, headers=headers)


def _for_exception(version: FhirVersion, exc: Exception) -> Response:
    if isinstance(exc, OutcomeError):
        return outcome_response(version, exc.status, exc.code, exc.message, expression=exc.expression)
    if isinstance(exc, TermmapError):
        for kind, status, code in ISSUE_FOR:
            if isinstance(exc, kind):
                return outcome_response(version, status, code, str(exc))
        return outcome_response(version, 400, "invalid", str(exc))
    if isinstance(exc, RequestValidationError):  # a declared parameter FastAPI refuses: the caller's, not a bug
        problems = "; ".join(f"{'.'.join(str(p) for p in e.get('loc', ()))}: {e.get('msg')}" for e in exc.errors())
        return outcome_response(version, 400, "invalid", f"invalid request: {problems}")
    problem = classify(exc)  # the store unreachable, read-only, full or busy: api.outages names which
    if problem is not None:
        return outcome_response(version, problem.status, "transient", problem.message)
    logger.exception("unexpected error under %s", version.prefix)
    return outcome_response(version, 500, "exception", f"internal error ({type(exc).__name__}); it has been logged")


class FhirRoute(APIRoute):
    """A route whose every failure is answered with an OperationOutcome (see the module docstring)."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()
        version = version_of_path(self.path)

        async def answer(request: Request) -> Response:
            try:
                return await handler(request)
            except Exception as exc:  # noqa: BLE001 - every failure gets an OperationOutcome
                return _for_exception(version, exc)

        return answer
