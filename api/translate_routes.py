"""`POST /v1/translate` and `POST /v1/translate/batch`: the interface transformers' path."""
from __future__ import annotations

from collections.abc import Callable

import orjson
from fastapi import APIRouter, Depends, Request, Response
from starlette.concurrency import run_in_threadpool

from mappings.engine import answer_from_cache, translate
from terminology.errors import TermmapError

from .auth import Permission, requires
from .idempotency import run_once
from .wire import (
    BATCH_SCHEMA,
    TRANSLATE_SCHEMA,
    decode_batch,
    decode_translate,
    translation_json,
)

__all__ = ["router", "MAX_BATCH"]

router = APIRouter(tags=["translate"], dependencies=[Depends(requires(Permission.TRANSLATE))])
MAX_BATCH = 10_000

_RESPONSES = {
    200: {"description": "mapped, unvalidated (queued) or unmapped (queued, with candidates): never dropped"},
    404: {"description": "unknown target system"},
    422: {"description": "invalid request, or an Idempotency-Key reused with another body"},
}


def _idempotent(request: Request, route: str, body: bytes, work: Callable) -> Response:
    """Run `work(connection) -> (status, payload)` once per Idempotency-Key, in one transaction."""
    def encoded(connection):
        status, result = work(connection)
        return status, orjson.dumps(result)

    key = request.headers.get("idempotency-key")
    status, payload, replayed = run_once(request.app.state.engine, key, route, body, encoded)
    headers = {"Idempotent-Replayed": "true"} if replayed else None
    return Response(payload, status_code=status, media_type="application/json", headers=headers)


@router.post("/v1/translate", openapi_extra={"requestBody": TRANSLATE_SCHEMA}, responses=_RESPONSES)
async def translate_one(request: Request) -> Response:
    """Translate one allergy or medication code (or text) into `target_system`.

    `source.code` or `text` may be missing, not both. The answer says `mapped` (validated),
    `unvalidated` or `unmapped`; the last two carry a review-queue entry, and `unmapped`
    carries ranked candidates (suggestions, never matches). `original` echoes what was sent.
    Send an `Idempotency-Key` header to make retries safe.
    """
    body = await request.body()
    parsed = decode_translate(body)
    state = request.app.state
    metrics, cache = state.metrics, state.cache
    with metrics.latency.labels("translate").time():
        if "idempotency-key" not in request.headers:
            cache.refresh(state.engine)
            known = answer_from_cache(cache, parsed)
            if known is not None:  # validated and cached: no store access at all
                metrics.count(known, parsed.context.value)
                return Response(orjson.dumps(translation_json(known)), media_type="application/json")

        def work(connection):
            result = translate(connection, parsed, cache=cache)
            metrics.count(result, parsed.context.value)
            return 200, translation_json(result)

        return await _run(request, "/v1/translate", body, work)


@router.post("/v1/translate/batch", openapi_extra={"requestBody": BATCH_SCHEMA}, responses=_RESPONSES)
async def translate_batch(request: Request) -> Response:
    """Translate up to 10,000 items; answers come in the same order.

    An invalid item gets `{"error": {...}}` in its slot and does not fail the others.
    """
    body = await request.body()
    items = decode_batch(body, MAX_BATCH)
    metrics, cache = request.app.state.metrics, request.app.state.cache
    cache.refresh(request.app.state.engine)

    def work(connection):
        answers = []
        for index, raw in enumerate(items):
            try:
                item = decode_translate(bytes(raw))
                result = translate(connection, item, cache=cache)  # raises before writing: a bad item fails alone
                metrics.count(result, item.context.value)
                answers.append(translation_json(result))
            except TermmapError as exc:
                answers.append({"error": {"index": index, "type": type(exc).__name__, "message": str(exc)}})
        return 200, {"items": answers}

    with metrics.latency.labels("translate_batch").time():
        return await _run(request, "/v1/translate/batch", body, work)


async def _run(request: Request, route: str, body: bytes, work: Callable) -> Response:
    return await run_in_threadpool(_idempotent, request, route, body, work)

