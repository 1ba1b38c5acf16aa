"""`POST /v1/translate` and `POST /v1/translate/batch`: the interface transformers' path."""
from __future__ import annotations

from collections.abc import Callable
from time import perf_counter

import orjson
from fastapi import APIRouter, Depends, Request, Response
from starlette.concurrency import run_in_threadpool

from mappings.engine import answer_from_cache, queue_order, translate
from mappings.translation import TranslateRequest
from terminology.errors import TermmapError

from .auth import Permission, bearer_key, requires
from .idempotency import run_once
from .metrics import PendingCounts
from .responses import JsonResponse
from .wire import (
    BATCH_SCHEMA,
    TRANSLATE_SCHEMA,
    BatchTooLarge,
    decode_batch,
    decode_translate,
    translation_json,
)

__all__ = ["router", "CachedTranslateLane", "cached_answer"]

router = APIRouter(tags=["translate"], dependencies=[Depends(requires(Permission.TRANSLATE))])

_RESPONSES = {
    200: {"description": "mapped, unvalidated (queued) or unmapped (queued, with candidates): never dropped"},
    404: {"description": "unknown target system"},
    413: {"description": "a body larger than TERMMAP_MAX_BODY_BYTES (16 MiB unless set), or a batch of more "
                          "items than TERMMAP_MAX_BATCH_ITEMS (10,000 unless set)"},
    422: {"description": "invalid request (not JSON, not UTF-8, nested too deeply, a field missing or too long), "
                         "or an Idempotency-Key reused with another body"},
}


def _idempotent(request: Request, route: str, body: bytes, work: Callable,
                counts: PendingCounts | None = None) -> Response:
    """Run `work(connection) -> (status, payload)` once per Idempotency-Key, in one transaction; what it
    put in `counts` is counted once that transaction has committed (`run_once`)."""
    def encoded(connection):
        status, result = work(connection)
        return status, orjson.dumps(result)

    key = request.headers.get("idempotency-key")
    status, payload, replayed = run_once(request.app.state.engine, key, route, body, encoded, counts=counts)
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
    with metrics.time("translate"):
        if "idempotency-key" not in request.headers:
            answer = cached_answer(state, parsed)
            if answer is not None:  # validated and cached: no store access, no hop to a worker thread
                return Response(answer, media_type="application/json")

        counts = metrics.pending()

        def work(connection):
            result = translate(connection, parsed, cache=cache)
            counts.count(result, parsed.context.value, source_system=parsed.source.system, sender=parsed.sender)
            return 200, translation_json(result)

        return await _run(request, "/v1/translate", body, work, counts)


@router.post("/v1/translate/batch", openapi_extra={"requestBody": BATCH_SCHEMA}, responses=_RESPONSES)
async def translate_batch(request: Request) -> Response:
    """Translate up to `TERMMAP_MAX_BATCH_ITEMS` items (10,000 unless set); answers come in the same order.

    An invalid item gets `{"error": {...}}` in its slot and does not fail the others. A larger
    batch is refused with 413 (nothing translated or queued): split it.
    """
    body = await request.body()
    limit = request.app.state.settings.max_batch_items
    try:
        items = decode_batch(body, limit)
    except BatchTooLarge as exc:
        return JsonResponse({"error": "PayloadTooLarge", "message": str(exc), "limit_items": exc.limit,
                             "setting": "TERMMAP_MAX_BATCH_ITEMS"}, status_code=413)
    metrics, cache = request.app.state.metrics, request.app.state.cache
    cache.refresh(request.app.state.engine)

    counts = metrics.pending()

    def failed(index: int, exc: TermmapError) -> dict:
        return {"error": {"index": index, "type": type(exc).__name__, "message": str(exc)}}

    def work(connection):
        answers: list[dict | None] = [None] * len(items)
        decoded = []
        for index, raw in enumerate(items):
            try:
                decoded.append((index, decode_translate(bytes(raw))))
            except TermmapError as exc:
                answers[index] = failed(index, exc)
        # In the review queue's lock order, so that concurrent batches sharing entries never deadlock;
        # the answers go back in the items' order.
        decoded.sort(key=lambda pair: queue_order(pair[1]))
        for index, item in decoded:
            try:
                result = translate(connection, item, cache=cache)  # raises before writing: a bad item fails alone
            except TermmapError as exc:
                answers[index] = failed(index, exc)
                continue
            counts.count(result, item.context.value, source_system=item.source.system, sender=item.sender)
            answers[index] = translation_json(result)
        return 200, {"items": answers}

    with metrics.latency.labels("translate_batch").time():
        return await _run(request, "/v1/translate/batch", body, work, counts)


def cached_answer(state, parsed: TranslateRequest) -> bytes | None:
    """The JSON answer to `parsed` if the cache holds a validated one (counted in the metrics), else None."""
    state.cache.refresh(state.engine)
    known = answer_from_cache(state.cache, parsed)
    if known is None:
        return None
    state.metrics.count(known, parsed.context.value, source_system=parsed.source.system, sender=parsed.sender)
    return orjson.dumps(translation_json(known))


class CachedTranslateLane:
    """ASGI middleware: answers `POST /v1/translate` from the translation cache, before routing.

    FastAPI's routing and dependency solving cost more than a cached answer itself, so the requests
    the route would answer from the cache anyway (a remembered key that may translate, no
    `Idempotency-Key`, a valid body whose validated answer is cached) are answered here, with the
    route's bytes, headers and metrics (`cached_answer`). Anything else, and any error, goes on to
    the route with the body replayed, and the route answers it as it always does. Body size limits
    are applied before this lane, by `api.limits.BodyLimit` (a header check when there is a Content-Length).
    """

    def __init__(self, app) -> None:
        self.app = app

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http" or scope["method"] != "POST" or scope["path"] != "/v1/translate":
            await self.app(scope, receive, send)
            return
        received, chunks = [], []
        while True:
            message = await receive()
            received.append(message)
            if message["type"] != "http.request":
                break
            chunks.append(message.get("body", b""))
            if not message.get("more_body", False):
                break
        started = perf_counter()
        answer = self._answer(scope, b"".join(chunks))
        if answer is None:
            pending = iter(received)

            async def replay():
                return next(pending, None) or await receive()

            await self.app(scope, replay, send)
            return
        await send({"type": "http.response.start", "status": 200, "headers": [
            (b"content-length", str(len(answer)).encode()), (b"content-type", b"application/json")]})
        await send({"type": "http.response.body", "body": answer})
        scope["app"].state.metrics.observe("translate", perf_counter() - started)

    @staticmethod
    def _answer(scope, body: bytes) -> bytes | None:
        authorization = None
        for name, value in scope["headers"]:
            if name == b"idempotency-key":
                return None
            if name == b"authorization" and authorization is None:
                authorization = value.decode("latin-1")
        key = bearer_key(authorization or "")
        state = scope["app"].state
        if key is None:
            return None
        known, principal = state.keys.remembered(key)
        if not known or principal is None or not principal.may(Permission.TRANSLATE):
            return None
        try:
            return cached_answer(state, decode_translate(body))
        except Exception:  # noqa: BLE001 - the route meets the same error and answers it properly
            return None


async def _run(request: Request, route: str, body: bytes, work: Callable,
               counts: PendingCounts | None = None) -> Response:
    return await run_in_threadpool(_idempotent, request, route, body, work, counts)

