"""`POST /v1/transform`: a FHIR resource or Bundle back with target codings appended, nothing else changed.

What is added where is `mappings.resource_transform`'s docstring. This module keeps the JSON
faithful on the way in and out: numbers are kept as the sender wrote them (orjson.loads would
turn the FHIR decimal `1.50` into `1.5` and integers past 64 bits into floats), so the body is
read with the standard library and its numbers written back verbatim as `orjson.Fragment`s.
Key order is kept; whitespace is not (the answer is compact JSON).

Errors are OperationOutcomes (`application/fhir+json`):

    400 invalid        the body is not JSON (or not UTF-8, or has NaN/Infinity or a key twice)
    422 structure      not a FHIR resource, or a malformed value where termmap reads or writes
    422 not-supported  a resourceType termmap does not transform
    422 conflict       an Idempotency-Key reused with another body, target_system or sender
    404 not-found      a target_system with no loaded release

Idempotency reuses `translate_routes._idempotent` unchanged. That helper stores one JSON
payload per key, so the payload stored is an envelope, `{"headers":{...},"fhir":<resource>}`,
unwrapped here into the count headers and the FHIR body for the first answer and any replay.
"""
from __future__ import annotations

import json
import re
from typing import Annotated, Any

import orjson
from fastapi import APIRouter, Depends, Header, Query, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.routing import APIRoute
from starlette.concurrency import run_in_threadpool

from mappings.resource_transform import Outcome, check_document, transform
from terminology.errors import InvalidRequest, UnknownTargetSystem

from .auth import Permission, requires
from .idempotency import IdempotencyConflict
from .params import refuse_nul
from .responses import validation_message
from .translate_routes import _idempotent

__all__ = ["router", "parse_fhir_json", "dump_fhir_json", "COUNT_HEADERS"]

FHIR_JSON = "application/fhir+json"


class _TransformRoute(APIRoute):
    """A parameter FastAPI or the router's guards refuse (`target_system` missing, a NUL) is an OperationOutcome too,
    like every other error here."""

    def get_route_handler(self):
        handler = super().get_route_handler()

        async def handle(request: Request) -> Response:
            try:
                return await handler(request)
            except RequestValidationError as exc:
                return _outcome(422, "required", validation_message(exc))
            except InvalidRequest as exc:  # a parameter the router's guards refuse (a NUL in the query)
                return _outcome(422, "invalid", str(exc))

        return handle


router = APIRouter(tags=["transform"], dependencies=[Depends(requires(Permission.TRANSLATE)), Depends(refuse_nul)],
                   route_class=_TransformRoute)
ROUTE = "/v1/transform"
#: Response header -> the outcome it counts (one per CodeableConcept looked at).
COUNT_HEADERS = {
    "X-Termmap-Mapped": Outcome.MAPPED,
    "X-Termmap-Unvalidated": Outcome.UNVALIDATED,
    "X-Termmap-Unmapped": Outcome.UNMAPPED,
    "X-Termmap-Already-Coded": Outcome.ALREADY_CODED,
    "X-Termmap-Skipped": Outcome.SKIPPED,
}
_SPLIT = b',"fhir":'
_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F]")

_REQUEST_BODY = {
    "required": True,
    "content": {FHIR_JSON: {"schema": {"type": "object", "required": ["resourceType"]}},
                "application/json": {"schema": {"type": "object", "required": ["resourceType"]}}},
    "description": "AllergyIntolerance, MedicationStatement, MedicationRequest, MedicationAdministration, "
                   "MedicationDispense, Medication, Immunization, or a Bundle (any type) holding them.",
}
_COUNT_DOCS = {name: {"description": f"CodeableConcepts {outcome.value}", "schema": {"type": "integer"}}
               for name, outcome in COUNT_HEADERS.items()}
_RESPONSES = {
    200: {"description": "the body with target codings appended (and review tags / extensions where needed)",
          "content": {FHIR_JSON: {}}, "headers": _COUNT_DOCS},
    400: {"description": "not JSON", "content": {FHIR_JSON: {}}},
    404: {"description": "unknown target system", "content": {FHIR_JSON: {}}},
    422: {"description": "not a FHIR resource, unsupported resourceType, malformed concept, "
                         "or an Idempotency-Key reused with another request", "content": {FHIR_JSON: {}}},
}


class NotJson(ValueError):
    """The body cannot be read as JSON."""


@router.post(ROUTE, openapi_extra={"requestBody": _REQUEST_BODY}, responses=_RESPONSES,
             response_class=Response)
async def transform_resource(
    request: Request,
    target_system: Annotated[str, Query(description="The system to append codings of, e.g. http://snomed.info/sct")],
    sender: Annotated[str | None, Query(description="Who sent it (default: the X-Termmap-Sender header)")] = None,
    x_termmap_sender: Annotated[str | None, Header(alias="X-Termmap-Sender")] = None,
) -> Response:
    """Append `target_system` codings to every allergy and medication concept in a resource or Bundle.

    Only additions: original codings, text, keys and their order stay as sent. Unmapped and
    unvalidated concepts get a review-entry extension and their resource a `meta.tag`. The
    X-Termmap-* headers count concepts by outcome. Send an `Idempotency-Key` to make retries safe.
    """
    body = await request.body()
    sender = sender if sender is not None else x_termmap_sender
    try:
        document = parse_fhir_json(body)
    except NotJson as exc:
        return _outcome(400, "invalid", f"the body is not JSON: {exc}")
    try:
        check_document(document)
    except InvalidRequest as exc:
        named = isinstance(document, dict) and isinstance(document.get("resourceType"), str) and document["resourceType"]
        code = "not-supported" if named else "structure"
        return _outcome(422, code, str(exc))
    metrics = request.app.state.metrics

    counts = metrics.pending()

    def observe(result, context) -> None:
        system = (result.original.get("source") or {}).get("system")
        counts.count(result, context.value, source_system=system, sender=sender)

    def work(connection) -> tuple[int, orjson.Fragment]:
        report = transform(connection, document, target_system, sender, observe=observe)
        headers = {name: report.counts[outcome] for name, outcome in COUNT_HEADERS.items()}
        return 200, orjson.Fragment(b'{"headers":' + orjson.dumps(headers) + _SPLIT + dump_fhir_json(document) + b"}")

    # The key covers what changes the answer: the options as well as the body.
    keyed = orjson.dumps({"target_system": target_system, "sender": sender}) + b"\n" + body
    try:
        with metrics.latency.labels("transform").time():
            stored = await run_in_threadpool(_idempotent, request, ROUTE, keyed, work, counts)
    except UnknownTargetSystem as exc:
        return _outcome(404, "not-found", str(exc))
    except IdempotencyConflict as exc:
        return _outcome(422, "conflict", str(exc))
    except InvalidRequest as exc:
        return _outcome(422, "structure", str(exc))
    # Any other domain error (the store being down) is answered by the app's handlers.
    return _unwrap(stored)


def parse_fhir_json(body: bytes) -> Any:
    """The body as dicts and lists; numbers other than plain 64-bit integers kept as written (`orjson.Fragment`)."""
    try:
        text = body.decode("utf-8-sig")
        document = json.loads(text, parse_float=_verbatim, parse_int=_integer, parse_constant=_no_constant,
                              object_pairs_hook=_object)
        if _SURROGATE_ESCAPE.search(text):  # pairs became characters; a lone half cannot be written back
            orjson.dumps(document)
        return document
    except orjson.JSONEncodeError:
        raise NotJson("a string holds a lone UTF-16 surrogate escape (\\udXXX), which is not Unicode text") from None
    except UnicodeDecodeError as exc:
        raise NotJson(f"not UTF-8 ({exc.reason} at byte {exc.start})") from None
    except RecursionError:
        raise NotJson("nested too deeply") from None
    except ValueError as exc:
        raise NotJson(str(exc)) from None


def dump_fhir_json(document: Any) -> bytes:
    """Compact JSON of a document read by `parse_fhir_json`; `InvalidRequest` if a string is not valid Unicode."""
    try:
        return orjson.dumps(document)
    except orjson.JSONEncodeError as exc:
        raise InvalidRequest(f"the body cannot be written back as JSON: {exc}") from None


def _verbatim(text: str) -> orjson.Fragment:
    return orjson.Fragment(text.encode())


def _integer(text: str) -> int | orjson.Fragment:
    value = int(text)
    if -(2**63) <= value < 2**64 and str(value) == text:
        return value
    return orjson.Fragment(text.encode())  # beyond what orjson writes, or "-0"


def _no_constant(name: str) -> None:
    raise ValueError(f"{name} is not a JSON number")


def _object(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    obj = dict(pairs)
    if len(obj) != len(pairs):
        keys = [key for key, _ in pairs]
        twice = next(key for key in keys if keys.count(key) > 1)
        raise ValueError(f"the key {twice!r} appears twice in one object (FHIR JSON allows it once)")
    return obj


def _unwrap(stored: Response) -> Response:
    """The stored envelope as the FHIR body plus the count headers (first answer and replays alike)."""
    envelope = bytes(stored.body)
    head, fhir = envelope.split(_SPLIT, 1)
    headers = {name: str(count) for name, count in orjson.loads(head[len(b'{"headers":'):]).items()}
    if stored.headers.get("idempotent-replayed"):
        headers["Idempotent-Replayed"] = "true"
    return Response(fhir[:-1], status_code=stored.status_code, media_type=FHIR_JSON, headers=headers)


def _outcome(status: int, code: str, message: str) -> Response:
    issue = {"severity": "error", "code": code, "diagnostics": message}
    return Response(orjson.dumps({"resourceType": "OperationOutcome", "issue": [issue]}), status_code=status,
                    media_type=FHIR_JSON)

