"""When the store fails under a request: a clear 503 (or 507) that names the problem, never a 500.

    store unreachable   PostgreSQL down or restarting, a connection cut mid-query
                                                                     503  StoreUnavailable
    store read-only     a SQLite file opened read-only, a read-only filesystem, PostgreSQL in
                        recovery / a read-only transaction           503  StoreReadOnly
    store full          SQLite "database or disk is full", PostgreSQL disk_full (53100)
                                                                     507  StoreFull
    store busy          SQLite "database is locked" past its busy timeout, a PostgreSQL deadlock or
                        serialization failure still there after `run_once`'s retries, no
                        pooled connection free within the pool's timeout
                                                                     503  StoreBusy

Each answer is `{"error": ..., "message": ...}` and carries `Retry-After` (seconds). The request's
work and its Idempotency-Key record commit together (`api.idempotency.run_once`), so a client that
retries with the same key is answered once and counts everything once, whether or not the failed
attempt's commit reached the store. `register_outage_answers(app)` installs the handlers and
`RetryAfter`, a middleware that gives every other 503 or 507 a `Retry-After` too (`/ready`, the FHIR
OperationOutcomes, which `api.fhir.outcome` writes).
"""
from __future__ import annotations

import logging

from fastapi import FastAPI, Request
from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout

from terminology.errors import StoreUnavailable

from .responses import JsonResponse

__all__ = ["RETRY_AFTER_SECONDS", "RetryAfter", "StoreProblem", "classify", "register_outage_answers",
           "store_problem_response"]

logger = logging.getLogger(__name__)

#: What a client is told to wait before retrying (a restarting PostgreSQL is usually back within seconds).
RETRY_AFTER_SECONDS = 5

#: SQLSTATEs (PostgreSQL) and message fragments (SQLite) that say which problem it is.
_FULL_STATES = frozenset({"53100"})  # disk_full
_READ_ONLY_STATES = frozenset({"25006"})  # read_only_sql_transaction
_BUSY_STATES = frozenset({"40P01", "40001", "55P03"})  # deadlock, serialization failure, lock not available
_FULL_WORDS = ("database or disk is full", "disk full", "no space left on device")
_READ_ONLY_WORDS = ("readonly database", "read-only", "read only file system")
_BUSY_WORDS = ("database is locked", "database table is locked")


class StoreProblem:
    """What went wrong with the store, as the client is told it."""

    def __init__(self, error: str, status: int, message: str) -> None:
        self.error, self.status, self.message = error, status, message


def _first_line(exc: BaseException) -> str:
    orig = getattr(exc, "orig", None)
    text = str(orig if orig is not None else exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def classify(exc: BaseException) -> StoreProblem | None:
    """The store problem `exc` reports, or None when it is not one (a bug stays a 500)."""
    if isinstance(exc, PoolTimeout):
        return StoreProblem("StoreBusy", 503, "the store is busy: no connection to it became free within the "
                            f"pool's timeout ({_first_line(exc)}); retry with the same Idempotency-Key")
    if not isinstance(exc, DBAPIError):
        return None
    detail = _first_line(exc)
    lowered = detail.lower()
    state = getattr(getattr(exc, "orig", None), "sqlstate", None)
    if state in _FULL_STATES or any(words in lowered for words in _FULL_WORDS):
        return StoreProblem("StoreFull", 507,
                            f"the store is full ({detail}): this request was not saved; retry once there is room")
    if state in _READ_ONLY_STATES or any(words in lowered for words in _READ_ONLY_WORDS):
        return StoreProblem("StoreReadOnly", 503,
                            f"the store is read-only ({detail}): this request needs a write and was not saved; "
                            "answers that need no write still work")
    if state in _BUSY_STATES or any(words in lowered for words in _BUSY_WORDS):
        return StoreProblem("StoreBusy", 503,
                            f"the store is busy ({detail}): retry with the same Idempotency-Key")
    if isinstance(exc, (OperationalError, InterfaceError)) or exc.connection_invalidated:
        return StoreProblem(StoreUnavailable.__name__, 503,
                            f"the store is unreachable ({detail}): retry later with the same Idempotency-Key")
    return None


def store_problem_response(problem: StoreProblem) -> JsonResponse:
    return JsonResponse({"error": problem.error, "message": problem.message}, status_code=problem.status,
                        headers={"Retry-After": str(RETRY_AFTER_SECONDS)})


async def _store_failed(request: Request, exc: Exception) -> JsonResponse:
    problem = classify(exc)
    if problem is None:  # not a store outage: the bug it is, logged with its traceback
        logger.error("unexpected store error on %s %s", request.method, request.url.path, exc_info=exc)
        return JsonResponse({"error": "InternalError", "message": f"internal error ({type(exc).__name__}); "
                             "it has been logged"}, status_code=500)
    logger.warning("%s %s: %s", request.method, request.url.path, problem.message)
    return store_problem_response(problem)


class RetryAfter:
    """ASGI middleware: a 503 or 507 without `Retry-After` gets one (`RETRY_AFTER_SECONDS`)."""

    def __init__(self, app) -> None:
        self.app = app

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def sending(message):
            if message["type"] == "http.response.start" and message["status"] in (503, 507):
                headers = list(message.get("headers", []))
                if not any(name.lower() == b"retry-after" for name, _ in headers):
                    headers.append((b"retry-after", str(RETRY_AFTER_SECONDS).encode()))
                    message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, sending)


def register_outage_answers(app: FastAPI) -> None:
    """Answer store failures as `classify` says, and add `Retry-After` to every 503."""
    for kind in (OperationalError, InterfaceError, PoolTimeout):
        app.add_exception_handler(kind, _store_failed)
    app.add_middleware(RetryAfter)
