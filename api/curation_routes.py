"""Curation over HTTP (JSON): the review-queue workflow and curated mappings.

A thin shell over `mappings.review_workflow` (which a web UI calls directly). Reads need
`read-curation`, changes `curate`; the author of every change is the caller's key name.

    GET  /v1/review                     entries (filters, paging) with counts by status
    GET  /v1/review/{id}                one entry: as received, senders, state, decision, candidates
    POST /v1/review/claim               claim the next entry (optional filters); 204 when none
    POST /v1/review/{id}/claim          claim this entry
    POST /v1/review/{id}/decision       decide: mapped (targets) | no-map | deferred
    POST /v1/review/{id}/reopen         a decided entry back to open
    POST /v1/review/{id}/release        give up a claim
    GET  /v1/mappings                   current curated mappings (filters, paging)
    GET  /v1/mappings/{id}              the current version, `ETag: "<version>"`
    GET  /v1/mappings/{id}/history      every version, oldest first
    PUT  /v1/mappings/{id}              a new version; `If-Match: "<version>"` required
    POST /v1/mappings/{id}/retire       a `retired` version; `If-Match` required

Nothing is deleted or updated in place. POSTs honour `Idempotency-Key`. Errors are
`{"error": <type>, "message": ...}`: the workflow's own errors get their status here (see
`STATUS_FOR`, applied by this router's route class); every other `TermmapError` goes on to the
application's handler (401, 403, 404 unknown system, 422 invalid request, ...).
"""
from __future__ import annotations

import re
from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from typing import Any, Literal

import orjson
from fastapi import APIRouter, Depends, Query, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.routing import APIRoute
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from starlette.concurrency import run_in_threadpool

from mappings import review_workflow as workflow
from mappings.curated import CuratedMapping, Relationship, current_mapping, current_mappings, history
from mappings.review_workflow import (
    EntryHeld,
    MappingRetired,
    NotClaimHolder,
    ReviewCandidate,
    ReviewDecision,
    ReviewItem,
    UnknownEntry,
    WrongState,
)
from terminology.errors import InvalidRequest, NotPermitted, StaleMappingVersion, TermmapError, UnknownMapping
from terminology.normalise import normalise_term
from terminology.systems import canonical_system

from .auth import Permission, Principal, Role, requires
from .idempotency import run_once
from .params import MAX_OFFSET, refuse_nul
from .responses import JsonResponse, error_responses, validation_message

__all__ = ["router", "STATUS_FOR", "PreconditionRequired"]


class PreconditionRequired(InvalidRequest):
    """A change to a curated mapping sent without `If-Match` naming the version it edits."""


#: The curation errors' statuses; any other TermmapError is left to the application's handler.
STATUS_FOR: dict[type[TermmapError], int] = {
    UnknownEntry: 404,
    UnknownMapping: 404,
    EntryHeld: 409,
    NotClaimHolder: 409,
    WrongState: 409,
    MappingRetired: 409,
    StaleMappingVersion: 412,
    PreconditionRequired: 428,
}


def _error_body(exc: TermmapError) -> dict[str, Any]:
    body: dict[str, Any] = {"error": type(exc).__name__, "message": str(exc)}
    if isinstance(exc, StaleMappingVersion):
        body |= {"mapping_id": exc.mapping_id, "based_on": exc.based_on, "current_version": exc.current,
                 "changed_by": exc.author, "changed_at": exc.when}
    elif isinstance(exc, (EntryHeld, NotClaimHolder)) and exc.holder:
        body |= {"claimed_by": exc.holder, "claim_expires": exc.until}
    return body


class _CurationRoute(APIRoute):
    """Turns the curation errors into JSON with their status (FastAPI routers have no exception handlers)."""

    def get_route_handler(self) -> Callable:
        handler = super().get_route_handler()

        async def handle(request: Request) -> Response:
            try:
                return await handler(request)
            except RequestValidationError as exc:  # query parameters: same shape as every other error
                return JsonResponse({"error": InvalidRequest.__name__, "message": validation_message(exc)},
                                    status_code=422)
            except TermmapError as exc:
                status = next((s for kind, s in STATUS_FOR.items() if isinstance(exc, kind)), None)
                if status is None:
                    raise
                return JsonResponse(_error_body(exc), status_code=status)

        return handle


router = APIRouter(tags=["curation"], route_class=_CurationRoute,
                   responses=error_responses({422: "an invalid parameter or body (the message names each problem)"}))
_READ = [Depends(requires(Permission.READ_CURATION)), Depends(refuse_nul)]
_WRITE = [Depends(requires(Permission.CURATE)), Depends(refuse_nul)]
_MAX_PAGE = 500

# --- request bodies -----------------------------------------------------------------------------


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ClaimIn(_Body):
    """Optional: how long the claim lasts (default 15 minutes)."""

    lease_minutes: int | None = Field(default=None, ge=1, le=720)


class ClaimNextIn(ClaimIn):
    """Optional filters: only entries from this sender, context, source or target system, or text."""

    sender: str | None = Field(default=None, max_length=255)
    context: Literal["allergy", "medication"] | None = None
    text: str | None = Field(default=None, max_length=10_000)
    source_system: str | None = Field(default=None, max_length=255)
    target_system: str | None = Field(default=None, max_length=255)


class TargetIn(_Body):
    """A target concept; `system` defaults to the entry's (or mapping's) target system."""

    system: str | None = Field(default=None, max_length=255)
    code: str = Field(min_length=1, max_length=128)
    display: str | None = Field(default=None, max_length=10_000)
    relationship: Relationship = Relationship.EQUIVALENT


class DecisionIn(_Body):
    decision: ReviewDecision
    targets: list[TargetIn] = Field(default_factory=list, max_length=50)
    comment: str | None = Field(default=None, max_length=10_000)
    #: The mapping version the reviewer saw, if the entry already had one (stale edits get 412).
    based_on: int | None = Field(default=None, ge=1)
    #: Admins only: decide an entry someone else holds, or nobody claimed.
    override: bool = False


class ReopenIn(_Body):
    comment: str | None = Field(default=None, max_length=10_000)


class ReleaseIn(_Body):
    #: Admins only: release someone else's claim.
    override: bool = False


class MappingIn(_Body):
    decision: Literal["mapped", "no-map"]
    targets: list[TargetIn] = Field(default_factory=list, max_length=50)
    reason: str | None = Field(default=None, max_length=10_000)


class RetireIn(_Body):
    reason: str | None = Field(default=None, max_length=10_000)


def _inline_schema(model: type[BaseModel]) -> dict[str, Any]:
    """The model's JSON schema with its `$defs` inlined (OpenAPI request bodies cannot point into them)."""
    schema = model.model_json_schema()
    defs = schema.pop("$defs", {})

    def resolve(node: Any) -> Any:
        if isinstance(node, dict):
            ref = node.get("$ref", "")
            if ref.startswith("#/$defs/"):
                return resolve(defs[ref.rsplit("/", 1)[1]])
            return {key: resolve(value) for key, value in node.items()}
        if isinstance(node, list):
            return [resolve(value) for value in node]
        return node

    return resolve(schema)


def _body_doc(model: type[BaseModel], required: bool = False) -> dict[str, Any]:
    return {"requestBody": {"content": {"application/json": {"schema": _inline_schema(model)}},
                            "required": required}}


def _parse(model: type[_Body], body: bytes) -> _Body:
    """The request body as `model` (an empty body is `{}`); `InvalidRequest` naming each problem."""
    try:
        parsed = model.model_validate_json(body if body.strip() else b"{}")
    except ValidationError as exc:
        raise InvalidRequest(validation_message(exc)) from None
    _refuse_nul_in(parsed.model_dump())
    return parsed


def _refuse_nul_in(value: Any, where: str = "") -> None:
    """`InvalidRequest` naming the field of a body that holds a NUL character (no stored text may)."""
    if isinstance(value, str) and "\x00" in value:
        raise InvalidRequest(f"invalid request: {where or 'the body'} holds a NUL character (\\u0000), "
                             "which no termmap text may")
    if isinstance(value, dict):
        for key, item in value.items():
            _refuse_nul_in(item, f"{where}.{key}" if where else str(key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            _refuse_nul_in(item, f"{where}[{index}]")


def _principal(request: Request) -> Principal:
    return request.state.principal  # set by the permission dependency


def _check_override(principal: Principal, override: bool) -> None:
    if override and principal.role is not Role.ADMIN:
        raise NotPermitted(f"only an admin may override another reviewer's claim; {principal.name} is "
                           f"{principal.role.value}")


def _lease(request: Request, minutes: int | None) -> timedelta:
    """The claim's lease: as asked, else the app's `review_lease` (a timedelta) if set, else 15 minutes."""
    if minutes is not None:
        return timedelta(minutes=minutes)
    return getattr(request.app.state, "review_lease", None) or workflow.DEFAULT_LEASE


# --- JSON views ---------------------------------------------------------------------------------


def _utc(value: datetime) -> datetime:
    """Times as UTC-aware (SQLite hands them back naive, in UTC)."""
    return value.replace(tzinfo=timezone.utc) if value.tzinfo is None else value.astimezone(timezone.utc)


def _concept_json(concept) -> dict[str, Any]:
    return {"system": concept.system, "code": concept.code, "display": concept.display}


def entry_json(item: ReviewItem) -> dict[str, Any]:
    """A review entry as the API shows it (`original` exactly as the first sender sent it)."""
    return {
        "id": item.id,
        "status": item.status.value,
        "source": {"system": item.source_system or None, "code": item.source_code or None},
        "text_norm": item.text_norm,
        "context": item.context,
        "target_system": item.target_system,
        "original": item.original,
        "reason": item.reason,
        "occurrences": item.occurrences,
        "senders": item.senders,
        "first_seen": item.first_seen,
        "last_seen": item.last_seen,
        "claimed_by": item.claimed_by,
        "claim_expires": item.claim_expires,
        "decision": item.decision.value if item.decision else None,
        "decided_by": item.decided_by,
        "decided_at": item.decided_at,
        "comment": item.comment,
        "mapping_id": item.mapping_id,
        "requeue_reason": item.requeue_reason,
        "suggestion": item.suggestion,
    }


def _candidate_json(candidate: ReviewCandidate) -> dict[str, Any]:
    return _concept_json(candidate.concept) | {
        "active": candidate.concept.active, "kind": candidate.concept.kind, "term": candidate.term,
        "score": candidate.score, "parents": [_concept_json(c) for c in candidate.parents],
        "ingredients": [_concept_json(c) for c in candidate.ingredients],
    }


def mapping_json(mapping: CuratedMapping) -> dict[str, Any]:
    """One version of a curated mapping."""
    return {
        "id": mapping.mapping_id,
        "version": mapping.version,
        "source": {"system": mapping.source_system or None, "code": mapping.source_code or None,
                   "text_norm": mapping.source_text_norm or None},
        "context": mapping.context,
        "target_system": mapping.target_system,
        "decision": mapping.decision.value,
        "targets": [{"system": t.system, "code": t.code, "display": t.display,
                     "relationship": Relationship(t.relationship).value} for t in mapping.targets],
        "author": mapping.author,
        "reason": mapping.reason,
        "origin": mapping.origin,
        "created_at": _utc(mapping.created_at),
    }


def _etag(mapping: CuratedMapping) -> dict[str, str]:
    return {"ETag": f'"{mapping.version}"'}


# --- running --------------------------------------------------------------------------------------


def _read(request: Request, work: Callable) -> Any:
    with request.app.state.engine.connect() as connection:
        return work(connection)


async def _once(request: Request, body: bytes, work: Callable, *, headers: Callable | None = None) -> Response:
    """Run `work(connection) -> (status, payload)` in one transaction, once per `Idempotency-Key`.

    A payload of None answers with no content. `headers(payload)` adds response headers.
    """
    def encoded(connection):
        status, payload = work(connection)
        return status, b"" if payload is None else orjson.dumps(payload)

    key = request.headers.get("idempotency-key")
    status, payload, replayed = await run_in_threadpool(
        run_once, request.app.state.engine, key, request.url.path, body, encoded)
    extra = {"Idempotent-Replayed": "true"} if replayed else {}
    if status == 204:
        return Response(status_code=204, headers=extra)
    if headers is not None:
        extra |= headers(orjson.loads(payload))
    return Response(payload, status_code=status, media_type="application/json", headers=extra)


def _invalidate(request: Request) -> None:
    """This worker forgets its cached answers now; others notice within `cache_check_seconds`."""
    cache = getattr(request.app.state, "cache", None)
    if cache is not None:
        cache.invalidate()


# --- the review queue -----------------------------------------------------------------------------

_ENTRY_RESPONSES = error_responses({
    404: "no such review entry", 409: "claimed by someone else, not held by you, or in the wrong state"})


@router.get("/v1/review", dependencies=_READ)
async def list_review(
    request: Request,
    status: str | None = Query(default=None, description="open | claimed | decided (an expired claim is open)"),
    sender: str | None = None,
    context: str | None = None,
    text: str | None = Query(default=None, description="within the normalised text, or the exact source code"),
    source_system: str | None = None,
    target_system: str | None = None,
    claimed_by: str | None = None,
    limit: int = Query(default=50, ge=0, le=_MAX_PAGE),
    offset: int = Query(default=0, ge=0, le=MAX_OFFSET),
) -> JsonResponse:
    """Review entries, highest priority first (occurrences, then age), with counts by status."""
    def work(connection):
        return workflow.list_entries(connection, status=status, sender=sender, context=context, text=text,
                                     source_system=source_system, target_system=target_system,
                                     claimed_by=claimed_by, limit=limit, offset=offset)

    page = await run_in_threadpool(_read, request, work)
    return JsonResponse({"entries": [entry_json(e) for e in page.entries], "total": page.total,
                         "counts": page.counts_by_status, "limit": limit, "offset": offset})


@router.get("/v1/review/{id}", dependencies=_READ, responses=_ENTRY_RESPONSES)
async def get_review_entry(request: Request, id: str, candidates: int = Query(default=10, ge=0, le=50)) -> JsonResponse:
    """One entry: as received, its senders, state and decision, its current mapping and ranked candidates."""
    def work(connection):
        item = workflow.get_item(connection, id)
        mapping = workflow.mapping_for(connection, item)
        found = workflow.candidates_for(connection, item, limit=candidates) if candidates else []
        return item, mapping, found

    item, mapping, found = await run_in_threadpool(_read, request, work)
    return JsonResponse(entry_json(item) | {
        "mapping": mapping_json(mapping) if mapping else None,
        "candidates": [_candidate_json(c) for c in found],
    })


@router.post("/v1/review/claim", dependencies=_WRITE, openapi_extra=_body_doc(ClaimNextIn),
             responses={204: {"description": "nothing to claim"}})
async def claim_next_entry(request: Request) -> Response:
    """Claim the highest-priority open (or lease-expired) entry matching the filters; 204 when none."""
    body = await request.body()
    asked = _parse(ClaimNextIn, body)
    reviewer, lease = _principal(request).name, _lease(request, asked.lease_minutes)

    def work(connection):
        item = workflow.claim_next(connection, reviewer, sender=asked.sender, context=asked.context,
                                   text=asked.text, source_system=asked.source_system,
                                   target_system=asked.target_system, lease=lease)
        return (204, None) if item is None else (200, entry_json(item))

    return await _once(request, body, work)


@router.post("/v1/review/{id}/claim", dependencies=_WRITE, openapi_extra=_body_doc(ClaimIn),
             responses=_ENTRY_RESPONSES)
async def claim_entry(request: Request, id: str) -> Response:
    """Claim this entry (renews your own claim); 409 naming the holder if someone else has it."""
    body = await request.body()
    asked = _parse(ClaimIn, body)
    reviewer, lease = _principal(request).name, _lease(request, asked.lease_minutes)
    return await _once(request, body, lambda c: (200, entry_json(workflow.claim(c, id, reviewer, lease=lease))))


@router.post("/v1/review/{id}/decision", dependencies=_WRITE, openapi_extra=_body_doc(DecisionIn, True),
             responses=_ENTRY_RESPONSES | error_responses({412: "`based_on` is not the mapping's current version"}))
async def decide_entry(request: Request, id: str) -> Response:
    """Decide an entry you hold: `mapped` (targets), `no-map` or `deferred`.

    `mapped` and `no-map` write a new curated mapping version, which the next translation of the
    entry answers from (validated, rule `curated`).
    """
    body = await request.body()
    asked = _parse(DecisionIn, body)
    principal = _principal(request)
    _check_override(principal, asked.override)

    def work(connection):
        entry = workflow.get_item(connection, id)
        targets = workflow.targets_from([t.model_dump() for t in asked.targets], entry.target_system)
        decided = workflow.decide(connection, id, principal.name, asked.decision, targets=targets,
                                  comment=asked.comment, based_on=asked.based_on, override=asked.override)
        return 200, {"entry": entry_json(decided.entry),
                     "mapping": mapping_json(decided.mapping) if decided.mapping else None}

    response = await _once(request, body, work)
    _invalidate(request)
    return response


@router.post("/v1/review/{id}/reopen", dependencies=_WRITE, openapi_extra=_body_doc(ReopenIn),
             responses=_ENTRY_RESPONSES)
async def reopen_entry(request: Request, id: str) -> Response:
    """Bring a decided entry back to open (its mapping stays in force until the next decision)."""
    body = await request.body()
    asked = _parse(ReopenIn, body)
    reviewer = _principal(request).name
    return await _once(request, body,
                       lambda c: (200, entry_json(workflow.reopen(c, id, reviewer, comment=asked.comment))))


@router.post("/v1/review/{id}/release", dependencies=_WRITE, openapi_extra=_body_doc(ReleaseIn),
             responses=_ENTRY_RESPONSES)
async def release_entry(request: Request, id: str) -> Response:
    """Give up your claim on an entry: it is open again."""
    body = await request.body()
    asked = _parse(ReleaseIn, body)
    principal = _principal(request)
    _check_override(principal, asked.override)
    return await _once(request, body, lambda c: (
        200, entry_json(workflow.release(c, id, principal.name, override=asked.override))))


# --- curated mappings -----------------------------------------------------------------------------

_MAPPING_RESPONSES = error_responses({404: "no such mapping"})
_CHANGE_RESPONSES = _MAPPING_RESPONSES | error_responses({
    409: "already retired",
    412: "If-Match is not the current version: the body names who changed it and when",
    428: "If-Match is missing",
})
_ETAG = re.compile(r'^"(\d+)"$')


def _if_match(request: Request) -> int:
    """The version named by `If-Match: "<version>"`: 428 when missing, 422 when not a single version tag."""
    header = request.headers.get("if-match")
    if header is None or not header.strip():
        raise PreconditionRequired('send If-Match: "<version>" with the ETag of the version you edited '
                                   "(GET the mapping to read it), so no one else's change is overwritten")
    match = _ETAG.match(header.strip())
    if match is None:
        raise InvalidRequest(f'If-Match must be one version ETag such as "3" (weak tags and * are not accepted); '
                             f"got {header.strip()!r}")
    return int(match.group(1))


@router.get("/v1/mappings", dependencies=_READ)
async def list_mappings(
    request: Request,
    source_system: str | None = None,
    target_system: str | None = None,
    context: str | None = None,
    decision: Literal["mapped", "no-map", "retired"] | None = None,
    code: str | None = Query(default=None, description="a source or target code"),
    text: str | None = Query(default=None, description="within the source's normalised text"),
    limit: int = Query(default=50, ge=0, le=_MAX_PAGE),
    offset: int = Query(default=0, ge=0, le=MAX_OFFSET),
) -> JsonResponse:
    """The current version of every curated mapping matching the filters, by source."""
    def work(connection):
        return current_mappings(connection, source_system=canonical_system(source_system) if source_system else None,
                                target_system=canonical_system(target_system) if target_system else None,
                                context=context)

    found = await run_in_threadpool(_read, request, work)
    if decision:
        found = [m for m in found if m.decision.value == decision]
    if code:
        wanted = code.strip()
        found = [m for m in found if m.source_code == wanted or any(t.code == wanted for t in m.targets)]
    if text and normalise_term(text):
        needle = normalise_term(text)
        found = [m for m in found if needle in m.source_text_norm]
    page = found[offset:offset + limit]
    return JsonResponse({"mappings": [mapping_json(m) for m in page], "total": len(found), "limit": limit,
                         "offset": offset})


@router.get("/v1/mappings/{id}", dependencies=_READ, responses=_MAPPING_RESPONSES)
async def get_mapping(request: Request, id: str) -> JsonResponse:
    """The current version of a mapping; its `ETag` is the version to send back in `If-Match`."""
    mapping = await run_in_threadpool(_read, request, lambda c: current_mapping(c, id))
    return JsonResponse(mapping_json(mapping), headers=_etag(mapping))


@router.get("/v1/mappings/{id}/history", dependencies=_READ, responses=_MAPPING_RESPONSES)
async def mapping_history(request: Request, id: str) -> JsonResponse:
    """Every version of a mapping, oldest first, each with its author, time, reason and origin."""
    versions = await run_in_threadpool(_read, request, lambda c: history(c, id))
    return JsonResponse({"id": id, "versions": [mapping_json(v) for v in versions]},
                        headers=_etag(versions[-1]))


@router.put("/v1/mappings/{id}", dependencies=_WRITE, openapi_extra=_body_doc(MappingIn, True),
            responses=_CHANGE_RESPONSES)
async def put_mapping(request: Request, id: str) -> Response:
    """Write the next version of a mapping (`mapped` with targets, or `no-map`); `If-Match` required."""
    based_on = _if_match(request)
    body = await request.body()
    asked = _parse(MappingIn, body)
    author = _principal(request).name

    def work(connection):
        current = current_mapping(connection, id)
        targets = workflow.targets_from([t.model_dump() for t in asked.targets], current.target_system)
        written = workflow.revise_mapping(connection, id, author, based_on=based_on, decision=asked.decision,
                                          targets=targets, reason=asked.reason)
        return 200, mapping_json(written)

    response = await _once(request, body, work, headers=lambda m: {"ETag": f'"{m["version"]}"'})
    _invalidate(request)
    return response


@router.post("/v1/mappings/{id}/retire", dependencies=_WRITE, openapi_extra=_body_doc(RetireIn),
             responses=_CHANGE_RESPONSES)
async def retire_mapping(request: Request, id: str) -> Response:
    """Retire a mapping: a new version saying `retired` (translation then ignores it); `If-Match` required."""
    based_on = _if_match(request)
    body = await request.body()
    asked = _parse(RetireIn, body)
    author = _principal(request).name

    def work(connection):
        return 200, mapping_json(workflow.retire_mapping(connection, id, author, based_on=based_on,
                                                         reason=asked.reason))

    response = await _once(request, body, work, headers=lambda m: {"ETag": f'"{m["version"]}"'})
    _invalidate(request)
    return response
